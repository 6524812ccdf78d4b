"""Upscaling after the frames: spandrel loading the tiny Real-ESRGAN weights that
``make-tiny-models`` writes, the tiles, and ``finish --upscale`` end to end (sizes, names,
the video, a kill half-way, a Deforum settings file)."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
import torch
from safetensors import safe_open

from deforum_blender.core import output_layout as layout
from deforum_blender.core.deforum_settings import import_settings
from deforum_blender.core.job import Finish, Job, save_job
from deforum_blender.engine.finish import finish
from deforum_blender.engine.tiny_models import TINY_UPSCALERS
from deforum_blender.engine.upscale import build_tiny_esrgan, load_upscaler, upscale_image
from tests.helpers import cli_command, run_cli_ok, run_python, stop_half_way

pytestmark = pytest.mark.heavy

#: Not square, so a width/height mix-up shows.
WIDTH, HEIGHT = 48, 40


def _upscaler(models: Path, scale: int) -> Path:
    return models / "upscaler" / TINY_UPSCALERS[scale]


def _frames(out: Path, count: int, size: tuple[int, int] = (WIDTH, HEIGHT)) -> None:
    """``count`` textured frames and the job.json a render leaves (video on, 10 fps)."""
    rng = np.random.default_rng(count)
    layout.frames_dir(out).mkdir(parents=True)
    for i in range(count):
        image = rng.integers(0, 256, (size[1], size[0], 3), np.uint8)
        cv2.imwrite(str(layout.frame_path(out, 1 + i)), cv2.GaussianBlur(image, (5, 5), 2))
    job = Job(W=size[0], H=size[1], first_frame=1, last_frame=count, fps=10.0)
    save_job(job, layout.job_path(out))


def _finish_command(out: Path, scale: int, model: Path) -> list[str]:
    return cli_command("finish", str(out), "--upscale", str(scale), "--upscale-model", str(model))


def _pngs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("frame_*.png"))}


def _video(path: Path) -> dict[str, Any]:
    """The video's size, frame rate and frame count, as the bundled ffmpeg reads them."""
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    reader.close()
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    return {"size": tuple(meta["size"]), "fps": meta["fps"], "frames": frames}


# -- tiles, with a network whose result is known ------------------------------------------


class _Nearest(torch.nn.Module):
    """An upscaler that repeats each pixel ``scale`` times, shaped like spandrel's."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale
        self.weight = torch.nn.Parameter(torch.ones(1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.interpolate(image, scale_factor=self.scale, mode="nearest")


class _Descriptor(SimpleNamespace):
    """spandrel's descriptor as ``upscale_image`` uses it: ``scale``, ``model``, a call."""

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image)  # type: ignore[no-any-return]


def test_tiles_stitch_into_the_upscale_of_the_whole_image() -> None:
    image = np.random.default_rng(1).integers(0, 256, (45, 70, 3), np.uint8)
    descriptor = _Descriptor(scale=3, model=_Nearest(3))
    upscaled = upscale_image(descriptor, image, 3, tile=16)
    assert np.array_equal(upscaled, image.repeat(3, axis=0).repeat(3, axis=1))


def test_a_x4_network_asked_for_x2_gives_exactly_twice_the_size() -> None:
    image = np.random.default_rng(2).integers(0, 256, (20, 30, 3), np.uint8)
    upscaled = upscale_image(_Descriptor(scale=4, model=_Nearest(4)), image, 2, tile=8)
    assert np.array_equal(upscaled, image.repeat(2, axis=0).repeat(2, axis=1))


# -- spandrel without torchvision ---------------------------------------------------------


def test_spandrel_imports_without_torchvision_and_leaves_no_stand_in_behind() -> None:
    done = run_python(
        "import importlib.util, sys\n"
        "from deforum_blender.engine.upscale import _import_spandrel\n"
        "real = importlib.util.find_spec('torchvision') is not None\n"
        "spandrel = _import_spandrel()\n"
        "from spandrel.architectures.LaMa.__arch import LaMa\n"
        "try:\n"
        "    LaMa.rotate(None, None, None)\n"
        "except NotImplementedError as error:\n"
        "    print('missing:', error)\n"
        "print('real' if real else 'stand-in', 'torchvision' in sys.modules)\n"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    if "real" in done.stdout.split():
        pytest.skip("torchvision is installed here: the stand-in is not used")
    assert "missing: this spandrel architecture needs torchvision" in done.stdout
    assert done.stdout.splitlines()[-1] == "stand-in False"


def test_a_torchvision_built_for_another_torch_is_stood_in_for(tmp_path: Path) -> None:
    broken = tmp_path / "torchvision"
    broken.mkdir()
    message = "operator torchvision::nms does not exist"
    (broken / "__init__.py").write_text(f"raise RuntimeError({message!r})\n", encoding="utf-8")
    done = run_python(
        "import sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "from deforum_blender.engine.upscale import _import_spandrel\n"
        "print(_import_spandrel().__name__, 'torchvision' in sys.modules)\n"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[-1] == "spandrel False"


# -- the tiny upscalers, loaded as published weights are ----------------------------------


@pytest.mark.parametrize("scale", [2, 4])
def test_make_tiny_models_writes_real_esrgan_weights_spandrel_detects(
    scale: int, tiny_models: Path
) -> None:
    path = _upscaler(tiny_models, scale)
    with safe_open(str(path), framework="pt") as weights:
        keys = set(weights.keys())
    assert {"conv_first.weight", "body.0.rdb1.conv1.weight", "conv_body.weight"} <= keys
    assert {"conv_up1.weight", "conv_up2.weight", "conv_hr.weight", "conv_last.weight"} <= keys
    descriptor = load_upscaler(str(path))
    assert (descriptor.architecture.id, descriptor.scale) == ("ESRGAN", scale)


@pytest.mark.parametrize("scale", [2, 4])
def test_finish_upscales_every_frame_and_makes_the_video_at_its_frame_rate(
    scale: int, tiny_models: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    _frames(out, 4)
    done = run_cli_ok(_finish_command(out, scale, _upscaler(tiny_models, scale)))
    assert "warning" not in done.stderr
    folder = out / layout.UPSCALED_DIR
    names = [f"frame_{n:05d}.png" for n in (1, 2, 3, 4)]
    assert sorted(_pngs(folder)) == names
    for name in names:
        assert cv2.imread(str(folder / name)).shape == (HEIGHT * scale, WIDTH * scale, 3)
    video = _video(layout.video_path(out))
    assert video == {"size": (WIDTH * scale, HEIGHT * scale), "fps": 10.0, "frames": 4}
    assert sorted(p.name for p in layout.frames_dir(out).iterdir()) == names


@pytest.mark.parametrize("kill", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_an_upscale_killed_half_way_and_run_again_ends_with_the_same_frames(
    kill: signal.Signals, tiny_models: Path, tmp_path: Path
) -> None:
    model = _upscaler(tiny_models, 4)
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    count, size = 24, (96, 96)
    for out in (whole, killed):
        _frames(out, count, size)
    run_cli_ok(_finish_command(whole, 4, model))
    expected = _pngs(whole / layout.UPSCALED_DIR)
    assert len(expected) == count
    folder = killed / layout.UPSCALED_DIR
    status, stderr = stop_half_way(_finish_command(killed, 4, model), folder, 3, kill)
    if kill == signal.SIGTERM:
        assert status == 1 and "terminated (SIGTERM)" in stderr, stderr
    else:
        assert status == -signal.SIGKILL
    written = _pngs(folder)
    assert 3 <= len(written) < count
    assert all(expected[name] == data for name, data in written.items())
    assert not layout.video_path(killed).exists()
    run_cli_ok(_finish_command(killed, 4, model))
    assert _pngs(folder) == expected
    assert _video(layout.video_path(killed)) == _video(layout.video_path(whole))
    assert not [p.name for p in killed.rglob(".*.tmp*")]


def test_new_weights_at_the_same_path_upscale_the_frames_anew(tmp_path: Path) -> None:
    model = tmp_path / "models" / TINY_UPSCALERS[2]
    job = dataclasses.replace(
        Job(W=WIDTH, H=HEIGHT, first_frame=1, last_frame=2, fps=10.0),
        finish=Finish(r_upscale_video=True, r_upscale_model=str(model), r_upscale_keep_imgs=True),
    )
    job = dataclasses.replace(job, output=dataclasses.replace(job.output, make_video=False))
    for out in ("out", "fresh"):
        _frames(tmp_path / out, 2)
    build_tiny_esrgan(model, 2, seed=1)
    finish(job, tmp_path / "out")
    old = _pngs(tmp_path / "out" / layout.UPSCALED_DIR)
    model.unlink()
    build_tiny_esrgan(model, 2, seed=2)
    finish(job, tmp_path / "out")
    finish(job, tmp_path / "fresh")
    new = _pngs(tmp_path / "out" / layout.UPSCALED_DIR)
    assert new == _pngs(tmp_path / "fresh" / layout.UPSCALED_DIR) and new != old


def _upscaling_settings(models: Path) -> dict[str, Any]:
    """A Deforum settings file's keys: 3 frames of 2D motion at 64², upscaled ×2 into the video."""
    return {
        "animation_mode": "2D",
        "W": 64,
        "H": 64,
        "max_frames": 3,
        "fps": 12,
        "translation_x": "0: (2)",
        "prompts": {"0": "a valley"},
        "skip_video_creation": False,
        "r_upscale_video": True,
        "r_upscale_factor": "x2",
        "r_upscale_model": str(_upscaler(models, 2)),
        "r_upscale_keep_imgs": False,
    }


def _render_settings_file(deforum: dict[str, Any], out: Path) -> subprocess.CompletedProcess[str]:
    """A motion preview of ``deforum`` written as a settings file beside ``out``."""
    settings = out.parent / f"{out.name}_settings.txt"
    settings.write_text(json.dumps(deforum), encoding="utf-8")
    return run_cli_ok(cli_command("render", str(settings), "--preview", "--out", str(out)))


def test_a_deforum_settings_file_with_upscaling_renders_the_upscaled_video(
    tiny_models: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    done = _render_settings_file(_upscaling_settings(tiny_models), out)
    assert not [line for line in done.stderr.splitlines() if "r_upscale" in line]
    assert _video(layout.video_path(out)) == {"size": (128, 128), "fps": 12.0, "frames": 3}
    assert not (out / layout.UPSCALED_DIR).exists()  # r_upscale_keep_imgs off
    assert sorted(layout.frame_files(out)) == [1, 2, 3]  # the frames themselves stay


def test_a_deforum_file_with_the_whole_output_tab_makes_one_video_with_its_sound(
    tiny_models: Path, tmp_path: Path
) -> None:
    import wave

    sound = tmp_path / "tone.wav"
    with wave.open(str(sound), "wb") as tone:  # a second of 440 Hz
        tone.setnchannels(1)
        tone.setsampwidth(2)
        tone.setframerate(16000)
        samples = 8000 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
        tone.writeframes(samples.astype("<i2").tobytes())
    deforum = {
        **_upscaling_settings(tiny_models),
        "frame_interpolation_engine": "RIFE v4.6",
        "frame_interpolation_x_amount": 2,
        "frame_interpolation_use_upscaled": True,
        "add_soundtrack": "File",
        "soundtrack_path": str(sound),
    }
    out = tmp_path / "out"
    done = _render_settings_file(deforum, out)
    keys = ("r_upscale", "frame_interpolation", "add_soundtrack", "soundtrack_path")
    _, imported = import_settings(deforum)
    assert not [w for w in imported if any(k in w for k in keys)]  # read as Deforum reads them
    said = [line for line in done.stderr.splitlines() if any(k in line for k in keys)]
    # The render says the one thing that differs: no RIFE weights here, so optical flow.
    assert len(said) == 1 and "interpolation_model is empty" in said[0], said
    # Upscaled ×2, then interpolated ×2 (3 frames → 5) at twice the frame rate.
    assert _video(layout.video_path(out)) == {"size": (128, 128), "fps": 24.0, "frames": 5}
    probe = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(layout.video_path(out))],
        capture_output=True,
        text=True,
    )
    assert "Audio: aac" in probe.stderr
