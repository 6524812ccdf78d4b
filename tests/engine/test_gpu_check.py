"""scripts/gpu_check.py runs on the CPU (--quick): CI exercises what the GPU run uses."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.heavy


@pytest.mark.slow  # builds and runs the tiny models in a subprocess
def test_gpu_check_quick_runs_on_the_cpu_and_reports_every_figure(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gpu_check.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text(encoding="utf-8"))
    assert report["device"] == "cpu"
    # On the CPU both sides of every comparison are the same code path: they agree exactly.
    assert all(row["max_abs"] == 0 for row in report["warp"].values())
    assert report["tiny_job"]["img2img_fp32_max_abs"] == 0
    for cadence, calls in (("cadence_1", 6), ("cadence_2", 3)):
        row = report["timing"][cadence]
        assert row["diffusion_calls"] == calls
        assert 0 < row["unet_share"] <= 1
        assert row["engine_ms_per_frame"] > 0
    markdown = (tmp_path / "gpu_check.md").read_text(encoding="utf-8")
    assert "| cadence_2 |" in markdown
    # The ControlNet row: none, one and two units, each acting on every diffused frame.
    rows = list(report["controlnet"].values())
    assert [row["units"] for row in rows] == [0, 1, 2]
    assert [row["units_in_run_json"] for row in rows] == [0, 1, 2]
    assert all(row["diffusion_calls"] == row["frames"] and row["s_per_frame"] > 0 for row in rows)
    assert "## ControlNet" in markdown and "\n| 2 | " in markdown
    # The Output tab's row: a ×4 upscale and a ×2 RIFE interpolation of the same frames.
    finished = report["finish"]
    for step in ("upscale_x4", "rife_x2"):
        assert finished[step]["s_per_frame"] > 0 and f"| {step} | " in markdown
    frames, side = finished["upscale_x4"]["frames"], finished["size"]
    assert finished["upscale_x4"]["outputs"] == frames
    assert finished["upscale_x4"]["output_side"] == 4 * side
    assert finished["rife_x2"]["outputs"] == 2 * frames - 1
    assert finished["rife_x2"]["output_side"] == side


REALTIME_CONFIGS = ("turbo_tiny_vae", "turbo_full_vae", "sd15_25x065", "turbo_tiny_vae_eager")


@pytest.mark.slow  # builds and runs the tiny models in a subprocess
def test_gpu_check_realtime_quick_reports_every_configuration(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "gpu_check.py"),
            "--quick",
            "--realtime",
            "--no-controlnet",  # the plain --quick test covers it
            "--no-finish",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    check = json.loads((tmp_path / "gpu_check.json").read_text(encoding="utf-8"))
    assert check["realtime_json"] == "gpu_realtime_cpu.json"
    assert "timing" not in check  # --realtime replaces the old timing
    report = json.loads((tmp_path / "gpu_realtime_cpu.json").read_text(encoding="utf-8"))
    assert report["device"] and report["card"] == "cpu" and report["quick"] is True
    sync_frames = load_realtime_script().QUICK_SYNC_FRAMES
    for name in REALTIME_CONFIGS:
        row = report[name]
        assert "error" not in row, row.get("traceback")
        assert row["frames"] == row["frames_asked"] == row["diffusion_calls"]
        for key in ("fps", "p50_ms", "p99_ms", "first_frame_s", "engine_ms_per_frame"):
            assert math.isfinite(row[key]) and row[key] > 0, (name, key, row[key])
        assert row["p50_ms"] <= row["p99_ms"]
        assert math.isfinite(row["syncs_per_frame"]) and row["syncs_per_frame"] >= 0
        assert row["sync_frames"] == sync_frames  # counted after the warm-up
        assert math.isfinite(row["warmup_syncs_per_frame"])
        assert row["stage_clock"] == "perf_counter"
        assert row["stage_ms_per_frame"]["diffusion"] > 0
        assert row["settings"]["depth_source"] == "estimated"
        assert row["compile_s"] == {}  # compile: auto stays eager on the CPU
    # One sampler step per turbo frame after the first (two steps of text-to-image there).
    turbo = report["turbo_tiny_vae"]
    assert turbo["models"]["vae"].startswith("AutoencoderTiny ")
    assert report["turbo_full_vae"]["models"]["vae"].startswith("AutoencoderKL ")
    summary = (tmp_path / "gpu_check.md").read_text(encoding="utf-8")
    assert (
        "## Video rate" in summary
        and f"| sd15_25x065 | {report['sd15_25x065']['fps']} |" in summary
    )
    assert turbo["unet_calls_per_frame"] == round((2 + turbo["frames"] - 1) / turbo["frames"], 3)


def load_realtime_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gpu_realtime", ROOT / "scripts" / "gpu_realtime.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while defined
    spec.loader.exec_module(module)
    return module


def test_a_failing_configuration_is_recorded_and_the_others_still_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    realtime = load_realtime_script()
    limits: dict[str, float] = {}
    written: list[set[str]] = []

    def measure(config: Any, models: Any, work: Any, device: Any, quick: Any, limit: float) -> Any:
        limits[config.name] = limit
        report_path = tmp_path / "gpu_realtime_cpu.json"
        written.append(set(json.loads(report_path.read_text(encoding="utf-8"))))
        if config.name == "turbo_full_vae":
            raise RuntimeError("out of memory")
        return {"fps": 1.0}

    monkeypatch.setattr(realtime, "build_models", lambda *args: {})
    monkeypatch.setattr(realtime, "measure", measure)
    path = realtime.run_realtime(tmp_path, quick=False, budget_s=300.0)
    report = json.loads(path.read_text(encoding="utf-8"))
    assert report["turbo_tiny_vae"] == {"fps": 1.0} == report["sd15_25x065"]
    assert report["turbo_full_vae"]["error"] == "RuntimeError: out of memory"
    assert "out of memory" in report["turbo_full_vae"]["traceback"]
    # The JSON is written after each configuration, before the next one runs.
    assert written[1] >= {"turbo_tiny_vae"} and written[2] >= {"turbo_full_vae"}
    # Each timed render gets its share of the budget, at most its own limit.
    assert limits["turbo_tiny_vae"] == pytest.approx(300 / 4 - 20, abs=1)
    assert limits["sd15_25x065"] <= 60.0


def test_card_names_are_short_file_name_tags() -> None:
    card_name = load_realtime_script().card_name
    assert card_name("NVIDIA H100 80GB HBM3") == "h100"
    assert card_name("NVIDIA H200") == "h200"
    assert card_name("NVIDIA A100-SXM4-80GB") == "a100"
    assert card_name("NVIDIA GeForce RTX 4090") == "rtx4090"
    assert card_name("Some Accelerator") == "some_accelerator"


#: Parameter counts of the released models (diffusers/transformers checkpoints; the text
#: encoders' counted from their configs with CLIP's vocabulary).
RELEASED_PARAMETERS = {
    "sd21_unet": 865_910_724,  # stabilityai/sd-turbo, stable-diffusion-2-1
    "sd15_unet": 859_520_964,
    "openclip_h_text": 340_387_840,  # SD 2.x's text_encoder (23 layers), vocabulary 49408
    "clip_l_text": 123_060_480,  # openai/clip-vit-large-patch14's text model
    "kl_vae": 83_653_863,
    "taesd": 2_445_063,  # diffusers' AutoencoderTiny defaults, TAESD's config (about 2.4 M)
    "depth_anything_v2_small": 24_785_089,  # depth-anything/Depth-Anything-V2-Small-hf
}
CLIP_VOCABULARY = 49408


def test_the_random_models_have_the_released_models_sizes() -> None:
    import torch

    spec = importlib.util.spec_from_file_location(
        "random_models", ROOT / "scripts" / "random_models.py"
    )
    assert spec is not None and spec.loader is not None
    random_models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(random_models)
    with torch.device("meta"):  # shapes only: no memory, no time
        built = random_models.networks()
    counts = {name: sum(p.numel() for p in net.parameters()) for name, net in built.items()}
    # The text encoders use the tiny models' byte-level vocabulary: only the token
    # embedding's rows differ from the released ones.
    for name, width in (("openclip_h_text", 1024), ("clip_l_text", 768)):
        rows = built[name].get_input_embeddings().num_embeddings
        counts[name] += (CLIP_VOCABULARY - rows) * width
    assert counts == RELEASED_PARAMETERS


def test_host_syncs_are_counted_from_every_thread_each_time_and_only_syncs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading
    import warnings

    import torch

    realtime = load_realtime_script()
    modes: list[str] = []
    monkeypatch.setattr(torch.cuda, "set_sync_debug_mode", modes.append)
    sync = "called a synchronizing CUDA operation"
    with realtime.SyncCounter(cuda=True) as counter:
        for _ in range(3):  # the same call site: every time, not once
            warnings.warn(sync, UserWarning, stacklevel=1)
        notice = "Synchronization debug mode is a prototype feature"  # not a sync
        warnings.warn(notice, UserWarning, stacklevel=1)
        writer = threading.Thread(target=lambda: warnings.warn(sync, UserWarning, stacklevel=1))
        writer.start()
        writer.join()
        assert counter.count() == 4
    assert modes == ["warn", "default"]
    # Frame 0 (text-to-image) and what follows the last span's start are left out.
    assert realtime.loop_syncs_per_frame([0, 50, 52, 54, 56]) == 2.0
    assert realtime.loop_syncs_per_frame([0, 50]) == 0.0


def test_only_runs_the_named_configurations_and_builds_only_their_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    realtime = load_realtime_script()
    built: list[tuple[str, ...]] = []
    ran: list[str] = []

    def build_models(work: Any, device: Any, quick: Any, report: Any, configs: Any) -> Any:
        built.append(tuple(config.name for config in configs))
        return {}

    def measure(config: Any, *args: Any) -> Any:
        ran.append(config.name)
        return {"fps": 1.0}

    monkeypatch.setattr(realtime, "build_models", build_models)
    monkeypatch.setattr(realtime, "measure", measure)
    path = realtime.run_realtime(tmp_path, quick=False, only=("sd15_25x065",))
    assert built == [("sd15_25x065",)] and ran == ["sd15_25x065"]
    assert "turbo_tiny_vae" not in json.loads(path.read_text(encoding="utf-8"))
    monkeypatch.setattr(sys, "argv", ["gpu_realtime.py", "--out", str(tmp_path), "--only", "sd21"])
    with pytest.raises(SystemExit) as exit_info:
        realtime.main()
    assert exit_info.value.code == 2
    assert "--only: unknown sd21; use one of turbo_tiny_vae" in capsys.readouterr().err
