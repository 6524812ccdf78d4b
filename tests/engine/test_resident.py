"""Key frames resident on the torch device (CPU torch here) against the numpy loop."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deforum_blender.core.output_layout import frame_files, frame_path
from deforum_blender.engine import render as render_module
from deforum_blender.engine.frames import read_frame
from deforum_blender.engine.motion import FrameWarper
from deforum_blender.engine.resident import ResidentChain
from deforum_blender.engine.tiny_models import tiny_job
from tests.helpers import frame_bytes, run_json

pytest.importorskip("torch")


@pytest.fixture
def counted_keys(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The key frames the resident chain made (proof that it ran)."""
    made: list[int] = []
    original = ResidentChain.key_frame

    def key_frame(self: ResidentChain, key: int, previous: int) -> Any:
        made.append(key)
        return original(self, key, previous)

    monkeypatch.setattr(ResidentChain, "key_frame", key_frame)
    return made


@pytest.fixture
def torch_warps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The numpy loop warps with grid_sample on the CPU, as it does on a GPU (not cv2.remap)."""

    def warper(job: Any, track: Any, out: Path, device: str) -> FrameWarper:
        return FrameWarper(job, track, out, "cpu:0")

    monkeypatch.setattr(render_module, "FrameWarper", warper)


@pytest.mark.parametrize(
    "settings",
    [
        {},  # Deforum's 3D warp, flat depth, LAB, Perlin noise
        {"animation_mode": "2D", "angle": "0: (2)", "zoom": "0: (1.02)"},
        {"diffusion_cadence": "2", "max_frames": "5"},
        {
            "color_coherence": "HSV",
            "legacy_colormatch": "false",
            "contrast_schedule": "0: (1.1)",
            "amount_schedule": "0: (0.5)",
            "threshold_schedule": "0: (3)",
            "noise_type": "uniform",
            "padding_mode": "zeros",
        },
    ],
    ids=["3d", "2d", "cadence2", "hsv-antiblur"],
)
def test_resident_loop_gives_the_numpy_loops_frames_bit_for_bit(
    tiny_models: Path,
    tmp_path: Path,
    torch_warps: None,
    counted_keys: list[int],
    settings: dict[str, str],
) -> None:
    # Both loops sample the warp with grid_sample; every other stage is exact by design.
    job = tiny_job(tiny_models, **{"max_frames": "4", **settings})
    render_module.render(job, tmp_path / "numpy", resident=False)
    assert counted_keys == []
    render_module.render(job, tmp_path / "resident", resident=True)
    assert counted_keys  # the chain made the key frames after the first
    assert frame_bytes(tmp_path / "resident") == frame_bytes(tmp_path / "numpy")
    assert run_json(tmp_path / "resident")["resident_key_frames"] is True
    assert run_json(tmp_path / "numpy")["resident_key_frames"] is False


def test_resident_loop_against_opencvs_warp_differs_only_through_the_warp(
    tiny_models: Path, tmp_path: Path
) -> None:
    # cv2.remap and grid_sample differ by up to a grey level per warp; colour matching and
    # the random-weight model amplify that (see docs/performance.md), so only the first
    # warped key frame is held to it, before diffusion (preview).
    job = tiny_job(tiny_models, max_frames="2", color_coherence="None", noise_schedule="0: (0)")
    render_module.render(job, tmp_path / "numpy", resident=False, preview=True)
    render_module.render(job, tmp_path / "resident", resident=True, preview=True)
    first = job.first_frame + 1
    numpy_frame = read_frame(frame_path(tmp_path / "numpy", first)).astype(np.int16)
    resident_frame = read_frame(frame_path(tmp_path / "resident", first)).astype(np.int16)
    assert int(np.abs(numpy_frame - resident_frame).max()) <= 1


@pytest.mark.parametrize("start", ["txt2img", "init", "estimated-depth"])
def test_resume_after_cancel_is_bitwise_identical_on_the_resident_path(
    tiny_models: Path, tmp_path: Path, counted_keys: list[int], start: str
) -> None:
    settings = {"max_frames": "6", "diffusion_cadence": "2"}
    if start == "estimated-depth":  # depth estimated on the device from the kept frame
        settings |= {"depth_source": "estimated", "diffusion_cadence": "1"}
    if start == "init":  # Deforum's colour sample is then the first warped key, never written
        from deforum_blender.engine.frames import write_png_atomic

        init = tmp_path / "init.png"
        rng = np.random.default_rng(5)
        write_png_atomic(init, rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
        settings |= {"use_init": "true", "init_image": str(init)}
    job = tiny_job(tiny_models, **settings)
    render_module.render(job, tmp_path / "whole", resident=True)
    cancel = threading.Event()

    def emit(kind: str, **fields: Any) -> None:
        if kind == "frame" and fields["index"] >= 2:
            cancel.set()

    assert render_module.render(
        job, tmp_path / "resumed", emit=emit, cancel=cancel, resident=True
    ).cancelled
    assert 0 < len(frame_files(tmp_path / "resumed")) < 6
    render_module.render(job, tmp_path / "resumed", resume=True, resident=True)
    assert counted_keys
    assert frame_bytes(tmp_path / "resumed") == frame_bytes(tmp_path / "whole")


def test_a_job_the_chain_cannot_render_keeps_the_numpy_path_and_says_why(
    tiny_models: Path, tmp_path: Path, counted_keys: list[int]
) -> None:
    warnings: list[str] = []

    def emit(kind: str, **fields: Any) -> None:
        if kind == "warning":
            warnings.append(fields["message"])

    job = tiny_job(tiny_models, max_frames="2", color_force_grayscale="true")
    render_module.render(job, tmp_path, resident=True, emit=emit, preview=True)
    assert counted_keys == []
    assert any("color_force_grayscale" in w and "numpy path" in w for w in warnings)


def test_the_chain_is_off_by_default_on_the_cpu(
    tiny_models: Path, tmp_path: Path, counted_keys: list[int]
) -> None:
    render_module.render(tiny_job(tiny_models, max_frames="2"), tmp_path, preview=True)
    assert counted_keys == []


def test_resident_frames_are_encoded_in_parallel_but_emitted_in_order(
    tiny_models: Path, tmp_path: Path, counted_keys: list[int]
) -> None:
    emitted: list[int] = []

    def emit(kind: str, **fields: Any) -> None:
        if kind == "frame":
            emitted.append(fields["index"])

    job = tiny_job(tiny_models, max_frames="7", diffusion_cadence="2")
    render_module.render(job, tmp_path, resident=True, emit=emit, preview=True)
    assert counted_keys == [2, 4, 6]
    # Each span's tweens come before its key, as the numpy path writes them.
    assert emitted == [0, 1, 2, 3, 4, 5, 6]


def test_estimated_depth_is_predicted_from_the_frame_on_the_device(
    tiny_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deforum_blender.engine import depth, depth_tensor

    on_device: list[tuple[int, ...]] = []
    original = depth_tensor.predict

    def predict(estimator: Any, frame: Any) -> Any:
        on_device.append(tuple(frame.shape))
        return original(estimator, frame)

    def on_host(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the resident chain sent a frame to the host for its depth")

    monkeypatch.setattr(depth_tensor, "predict", predict)
    monkeypatch.setattr(depth, "predict_depth", on_host)
    job = tiny_job(tiny_models, max_frames="3", depth_source="estimated", diffusion_cadence="1")
    render_module.render(job, tmp_path, resident=True, preview=True)
    assert on_device == [(64, 64, 3), (64, 64, 3)]  # keys 0 and 1 are warped from


# aten ops that make the host wait for a CUDA stream: a value read back (item, bool, int,
# float), or an output whose size depends on the data (nonzero, boolean-mask indexing, unique).
SYNCING_OPS = {
    "_local_scalar_dense",
    "nonzero",
    "masked_select",
    "_unique2",
    "unique_dim",
    "unique_consecutive",
    "is_nonzero",
    "equal",
}


def test_resident_key_frames_run_no_op_that_waits_for_the_device(
    tiny_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The ops of every key frame after the first (warp, estimated depth, LAB match, Perlin
    # noise, img2img, the match after it), seen on the CPU as they would run on CUDA. Not seen
    # here: copies and events, which gpu_check --realtime counts on a GPU.
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    waits: list[str] = []
    keys: list[int] = []

    class Watch(TorchDispatchMode):
        def __torch_dispatch__(
            self, func: Any, types: Any, args: Any = (), kwargs: Any = None
        ) -> Any:
            name = func.__name__.split(".")[0]
            masks = [i for i in args[1] if isinstance(i, torch.Tensor)] if name == "index" else []
            if name in SYNCING_OPS or any(mask.dtype == torch.bool for mask in masks):
                waits.append(name)
            return func(*args, **(kwargs or {}))

    original = ResidentChain.key_frame

    def key_frame(self: ResidentChain, key: int, previous: int) -> Any:
        keys.append(key)
        with Watch():
            return original(self, key, previous)

    monkeypatch.setattr(ResidentChain, "key_frame", key_frame)
    settings = {"depth_source": "estimated", "color_coherence": "LAB", "noise_type": "perlin"}
    job = tiny_job(tiny_models, max_frames="4", diffusion_cadence="1", **settings)
    render_module.render(job, tmp_path, resident=True)
    assert keys == [1, 2, 3]
    assert waits == []
