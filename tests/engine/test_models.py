"""``models list|pull|remove|suggested``: the real huggingface_hub client against a hub
served on localhost, with a fresh HF_HOME per test."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from deforum_blender.core.errors import DeforumInputError
from deforum_blender.core.model_cache import human_size
from tests.fake_hub import ServingHub, serving_hub
from tests.helpers import ROOT

CONTROLNET = "fakeorg/tiny-controlnet"


def safetensors_bytes(keys: list[str]) -> bytes:
    """A valid .safetensors file holding one float32 zero per key."""
    header = {
        key: {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]}
        for i, key in enumerate(keys)
    }
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + b"\0" * (4 * len(keys))


def controlnet_files() -> dict[str, bytes]:
    weights = safetensors_bytes([f"down_blocks.{i}.weight" for i in range(2000)])
    return {
        "config.json": json.dumps({"_class_name": "ControlNetModel"}).encode(),
        "diffusion_pytorch_model.safetensors": weights,
        "diffusion_pytorch_model.bin": b"pickle weights we never fetch",
        "flax_model.msgpack": b"flax weights we never fetch",
    }


@pytest.fixture
def hub() -> Iterator[ServingHub]:
    with serving_hub() as server:
        server.add_repo(CONTROLNET, controlnet_files())
        yield server


def models_cli(
    hub: ServingHub, home: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``models ARGS`` in a fresh process whose hub is ``hub`` and whose HF_HOME is ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(PYTHONPATH=str(ROOT), HF_ENDPOINT=hub.url, HF_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "deforum_blender", "models", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=ROOT,
    )


def repo_folder(home: Path, repo_id: str) -> Path:
    return home / "hub" / f"models--{repo_id.replace('/', '--')}"


def fetched_bytes() -> int:
    """What a pull of CONTROLNET fetches: the config and the safetensors weights."""
    files = controlnet_files()
    return len(files["config.json"]) + len(files["diffusion_pytorch_model.safetensors"])


def file_downloads(hub: ServingHub) -> list[str]:
    return [r for r in hub.requests if r.startswith("GET") and "/resolve/" in r]


def test_pull_then_list_then_remove_a_hub_model(hub: ServingHub, tmp_path: Path) -> None:
    home = tmp_path / "hf_home"
    pulled = models_cli(hub, home, "pull", CONTROLNET, "--kind", "controlnet")
    assert pulled.returncode == 0, pulled.stderr
    assert f"{CONTROLNET}: " in pulled.stderr and "(100%)" in pulled.stderr  # progress lines
    assert "/s, done" in pulled.stderr
    assert pulled.stdout.split()[:2] == ["controlnet", CONTROLNET]
    fetched = sorted(r.rsplit("/", 1)[-1] for r in file_downloads(hub))
    assert fetched == ["config.json", "diffusion_pytorch_model.safetensors"]  # no pickle, flax
    snapshot = repo_folder(home, CONTROLNET) / "snapshots" / hub.commit(CONTROLNET)
    weights = snapshot / "diffusion_pytorch_model.safetensors"
    assert weights.read_bytes() == controlnet_files()["diffusion_pytorch_model.safetensors"]

    listed = models_cli(hub, home, "list")
    assert listed.returncode == 0, listed.stderr
    (line,) = listed.stdout.splitlines()
    assert line.split()[0] == "controlnet" and CONTROLNET in line and "[hf-cache]" in line
    assert f" {human_size(fetched_bytes())} " in line  # the weights and the config
    assert "incomplete" not in line
    assert models_cli(hub, home, "list", "--kind", "sd").stdout == ""

    removed = models_cli(hub, home, "remove", CONTROLNET)
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.startswith(f"removed {CONTROLNET} (")
    assert not repo_folder(home, CONTROLNET).exists()
    assert models_cli(hub, home, "list").stdout == ""


def test_removing_an_unknown_model_names_the_closest(hub: ServingHub, tmp_path: Path) -> None:
    home = tmp_path / "hf_home"
    assert models_cli(hub, home, "pull", CONTROLNET).returncode == 0
    result = models_cli(hub, home, "remove", "fakeorg/tiny-controlnett")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "'fakeorg/tiny-controlnett'" in line and f"did you mean {CONTROLNET}?" in line
    assert repo_folder(home, CONTROLNET).exists()


def test_a_pickle_only_repo_is_refused_without_allow_pickle(
    hub: ServingHub, tmp_path: Path
) -> None:
    hub.add_repo("fakeorg/old-sd", {"model.ckpt": b"pickled", "README.md": b"# old"})
    home = tmp_path / "hf_home"
    refused = models_cli(hub, home, "pull", "fakeorg/old-sd")
    assert refused.returncode == 2
    assert "model.ckpt" in refused.stderr and "--allow-pickle" in refused.stderr
    assert file_downloads(hub) == []
    allowed = models_cli(hub, home, "pull", "fakeorg/old-sd", "--allow-pickle")
    assert allowed.returncode == 0, allowed.stderr
    assert any(r.endswith("/model.ckpt") for r in file_downloads(hub))


def _one_file_repo(hub: ServingHub) -> tuple[str, str]:
    data = safetensors_bytes(["model.diffusion_model.out.0.weight"])
    hub.add_repo("fakeorg/one-file", {"model.safetensors": data})
    return "fakeorg/one-file", hashlib.sha256(data).hexdigest()


def test_a_wrong_sha256_is_refused_and_leaves_no_model(hub: ServingHub, tmp_path: Path) -> None:
    repo_id, sha = _one_file_repo(hub)
    home = tmp_path / "hf_home"
    wrong = models_cli(hub, home, "pull", repo_id, "--sha256", "0" * 64)
    assert wrong.returncode == 2
    assert sha in wrong.stderr and "removed" in wrong.stderr
    assert not repo_folder(home, repo_id).exists()
    assert models_cli(hub, home, "list").stdout == ""
    right = models_cli(hub, home, "pull", repo_id, "--sha256", sha.upper())
    assert right.returncode == 0, right.stderr
    assert models_cli(hub, home, "list").stdout.split()[0] == "sd"


def test_a_hash_the_hub_contradicts_is_refused_before_downloading(
    hub: ServingHub, tmp_path: Path
) -> None:
    hub.lfs = True
    repo_id, sha = _one_file_repo(hub)
    result = models_cli(hub, tmp_path / "hf_home", "pull", repo_id, "--sha256", "a" * 64)
    assert result.returncode == 2
    assert sha in result.stderr and "the hub says" in result.stderr
    assert file_downloads(hub) == []


def test_a_hash_needs_a_one_file_model(hub: ServingHub, tmp_path: Path) -> None:
    hub.add_repo(
        "fakeorg/two-files",
        {"a.safetensors": safetensors_bytes(["x"]), "b.safetensors": safetensors_bytes(["y"])},
    )
    result = models_cli(
        hub, tmp_path / "hf_home", "pull", "fakeorg/two-files", "--sha256", "1" * 64
    )
    assert result.returncode == 2
    assert "a.safetensors, b.safetensors" in result.stderr
    assert file_downloads(hub) == []


def test_too_little_free_space_refuses_before_downloading(
    hub: ServingHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from deforum_blender.engine.models import pull_model

    monkeypatch.setattr(shutil, "disk_usage", lambda path: SimpleNamespace(free=1000))
    needs = rf"needs {human_size(fetched_bytes())} but .* has only 1\.0 kB free"
    with pytest.raises(DeforumInputError, match=needs):
        pull_model(CONTROLNET, cache_dir=tmp_path / "cache", endpoint=hub.url)
    assert file_downloads(hub) == []


def test_an_interrupted_pull_is_marked_incomplete_and_finished_by_pulling_again(
    hub: ServingHub, tmp_path: Path
) -> None:
    home = tmp_path / "hf_home"
    assert models_cli(hub, home, "pull", CONTROLNET).returncode == 0
    # What a pull killed in the weights leaves: the config, a partial file, no weights.
    repo = repo_folder(home, CONTROLNET)
    weights = repo / "snapshots" / hub.commit(CONTROLNET) / "diffusion_pytorch_model.safetensors"
    blob = weights.resolve()
    data = blob.read_bytes()
    weights.unlink()
    blob.unlink()
    partial = blob.with_name(f"{blob.name}.0123abcd.incomplete")
    partial.write_bytes(data[:3000])
    os.utime(partial, (1, 1))  # written by a pull long gone

    listed = models_cli(hub, home, "list").stdout
    assert "incomplete (missing weights, unfinished downloads)" in listed, listed
    assert f"models pull {CONTROLNET}" in listed
    hub.requests.clear()
    again = models_cli(hub, home, "pull", CONTROLNET)
    assert again.returncode == 0, again.stderr
    assert weights.read_bytes() == data
    assert [r.rsplit("/", 1)[-1] for r in file_downloads(hub)] == [weights.name]  # not the config
    assert not partial.exists()
    assert "incomplete" not in models_cli(hub, home, "list").stdout


def test_a_server_error_is_one_line(hub: ServingHub, tmp_path: Path) -> None:
    hub.fail_with = 403
    result = models_cli(hub, tmp_path / "hf_home", "pull", CONTROLNET)
    assert result.returncode in (1, 2)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert CONTROLNET in result.stderr


def test_list_finds_models_in_folders_by_kind(tmp_path: Path) -> None:
    from deforum_blender.engine.models import list_models

    sd = tmp_path / "models" / "my-sd"
    (sd / "unet").mkdir(parents=True)
    (sd / "model_index.json").write_text(
        json.dumps({"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet"]})
    )
    (sd / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(safetensors_bytes(["w"]))
    depth = tmp_path / "models" / "depth"
    depth.mkdir()
    (depth / "config.json").write_text(json.dumps({"architectures": ["DepthAnythingForDepth"]}))
    lora = tmp_path / "models" / "loras" / "style.safetensors"
    lora.parent.mkdir()
    lora.write_bytes(safetensors_bytes(["unet.down.lora_A.weight"]))
    (tmp_path / "models" / "old.ckpt").write_bytes(b"pickle: never listed")
    upscaler = tmp_path / "models" / "4x-UltraSharp-ESRGAN.safetensors"
    upscaler.write_bytes(safetensors_bytes(["body.0.weight"]))

    found = list_models([tmp_path / "models"], cache_dir=tmp_path / "empty")
    kinds = {Path(model.name).name: model.kind for model in found}
    assert kinds == {
        "my-sd": "sd",
        "depth": "depth",
        "style.safetensors": "lora",
        "4x-UltraSharp-ESRGAN.safetensors": "upscaler",
    }
    assert [m.name for m in list_models([tmp_path / "models"], "lora", tmp_path / "e")] == [
        str(lora)
    ]


def test_a_folder_that_does_not_exist_is_bad_input(tmp_path: Path) -> None:
    with ServingHub() as hub:
        result = models_cli(hub, tmp_path, "list", "--folder", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert "--folder" in result.stderr and "nope" in result.stderr


def test_suggested_models_name_their_licences() -> None:
    from deforum_blender.core.model_catalog import KINDS, SUGGESTED

    assert {m.kind for m in SUGGESTED} == {"sd", "controlnet", "depth", "tiny-vae"}
    assert all(m.licence and m.kind in KINDS for m in SUGGESTED)
    assert "madebyollin/taesd" in {m.id for m in SUGGESTED}


def test_a_missing_hub_model_names_the_command_that_fetches_it() -> None:
    from deforum_blender.engine.diffusion import require_cached

    with pytest.raises(DeforumInputError) as caught:
        require_cached("depth_model", "nobody-here/no-such-depth", "config.json")
    assert "`python -m deforum_blender models pull nobody-here/no-such-depth`" in str(caught.value)


def test_a_pipeline_pull_skips_single_file_copies_and_variants_it_does_not_load() -> None:
    from deforum_blender.engine.models import _plan

    files = [
        "model_index.json",
        "v1-5-pruned.safetensors",
        "v1-5-pruned.ckpt",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "unet/diffusion_pytorch_model.bin",
        "vae/diffusion_pytorch_model.fp16.safetensors",  # only a variant: kept
        "text_encoder/model.onnx",
    ]
    plan, pickles = _plan(files, allow_pickle=False)
    assert plan == [
        "model_index.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "vae/diffusion_pytorch_model.fp16.safetensors",
    ]
    assert pickles == []
