"""``finish --interpolation-model`` end to end with make-tiny-models' RIFE, in real
subprocesses: frame counts, names, sizes, the video's frame rate, resume after a kill."""

from __future__ import annotations

import dataclasses
import re
import signal
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from deforum_blender.core import output_layout as layout
from deforum_blender.core.job import Finish
from deforum_blender.engine.finish import finish
from deforum_blender.engine.rife import build_tiny_rife
from deforum_blender.engine.video import ffmpeg_executable
from tests.engine.test_finish_resume import SIZE, _files, _frames, _video_frames
from tests.helpers import cli_command, run_cli_ok, stop_half_way

FRAMES = 6
FPS = 10.0


def _command(out: Path, models: Path, amount: int) -> list[str]:
    weights = models / "interpolator" / "flownet.safetensors"
    return cli_command(
        *("finish", str(out), "--interpolate", str(amount)),
        *("--interpolation-model", str(weights), "--device", "cpu"),
    )


def _run(out: Path, models: Path, amount: int) -> subprocess.CompletedProcess[str]:
    return run_cli_ok(_command(out, models, amount))


def _video_fps(video: Path) -> float:
    """The frame rate ffmpeg reads from the video's stream header."""
    probe = subprocess.run([ffmpeg_executable(), "-i", str(video)], capture_output=True, text=True)
    found = re.search(r"Video:.*?, ([\d.]+) fps", probe.stderr)
    assert found, probe.stderr
    return float(found.group(1))


@pytest.mark.parametrize("amount", [2, 4])
def test_rife_interpolation_through_finish_writes_every_inbetween_and_the_video_rate(
    amount: int, tiny_models: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    _frames(out, count=FRAMES)
    result = _run(out, tiny_models, amount)
    assert "optical flow" not in result.stderr  # the network ran, not the fallback
    folder = out / layout.INTERPOLATED_DIR
    written = _files(folder)
    total = (FRAMES - 1) * amount + 1
    assert list(written) == [f"frame_{i:05d}.png" for i in range(total)]
    for name, data in written.items():
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (SIZE, SIZE, 3), name
    originals = _files(layout.frames_dir(out))
    for index, source in enumerate(originals.values()):  # every amount-th frame: a render's
        assert written[f"frame_{index * amount:05d}.png"] == source
    inbetween = written[f"frame_{1:05d}.png"]
    assert inbetween not in originals.values()
    video = layout.video_path(out)
    assert f"({FPS * amount:g} fps)" in result.stdout
    assert _video_fps(video) == FPS * amount
    assert len(_video_frames(video)) == total


@pytest.mark.slow
def test_rife_interpolation_killed_half_way_and_run_again_equals_a_whole_run(
    tiny_models: Path, tmp_path: Path
) -> None:
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    _frames(whole, count=FRAMES), _frames(killed, count=FRAMES)
    _run(whole, tiny_models, 4)
    expected = _files(whole / layout.INTERPOLATED_DIR)
    folder = killed / layout.INTERPOLATED_DIR
    stop_half_way(_command(killed, tiny_models, 4), folder, 8, signal.SIGKILL)
    written = _files(folder)
    assert 8 <= len(written) < len(expected)
    assert all(expected[name] == data for name, data in written.items())
    assert not layout.video_path(killed).exists()
    _run(killed, tiny_models, 4)
    assert _files(folder) == expected
    assert _video_frames(layout.video_path(killed)) == _video_frames(layout.video_path(whole))
    assert not [p.name for p in killed.rglob(".*.tmp*")]


def test_new_weights_at_the_same_path_start_the_folder_over(tmp_path: Path) -> None:
    weights = tmp_path / "flownet.safetensors"
    job = _frames(tmp_path / "out", count=3)
    settings = dataclasses.replace(
        Finish(),
        frame_interpolation_engine="RIFE v4.6",
        frame_interpolation_keep_imgs=True,
        interpolation_model=str(weights),
    )
    job = dataclasses.replace(job, finish=settings)
    build_tiny_rife(weights, seed=1)
    finish(job, tmp_path / "out", device="cpu")
    old = _files(tmp_path / "out" / layout.INTERPOLATED_DIR)
    weights.unlink()
    build_tiny_rife(weights, seed=2)
    finish(job, tmp_path / "out", device="cpu")
    _frames(tmp_path / "fresh", count=3)
    finish(job, tmp_path / "fresh", device="cpu")
    new = _files(tmp_path / "out" / layout.INTERPOLATED_DIR)
    assert new == _files(tmp_path / "fresh" / layout.INTERPOLATED_DIR) and new != old


def test_a_job_file_cannot_allow_pickle_weights_only_the_command_line_can(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from safetensors.torch import load_file

    from deforum_blender.cli import main
    from deforum_blender.core.job import save_job

    out = tmp_path / "out"
    job = _frames(out, count=2)
    save_job(
        dataclasses.replace(job, model=dataclasses.replace(job.model, allow_pickle=True)),
        layout.job_path(out),
    )
    pickle = tmp_path / "flownet.pkl"
    torch.save(load_file(str(build_tiny_rife(tmp_path / "w.safetensors", seed=1))), pickle)
    asked = ["finish", str(out), "--interpolate", "2", "--interpolation-model", str(pickle)]
    assert main([*asked, "--device", "cpu"]) == 2
    assert "allow_pickle=true" in capsys.readouterr().err
    assert main([*asked, "--device", "cpu", "--set", "allow_pickle=true"]) == 0
    assert len(list((out / layout.INTERPOLATED_DIR).glob("frame_*.png"))) == 3
