"""Depth sources (scene files, the tiny DPT model, flat) and 16-bit depth PNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deforum_blender.core.errors import DeforumInputError
from deforum_blender.engine import depth as depth_module
from deforum_blender.engine.depth import (
    BACKGROUND_DEPTH,
    DEFAULT_DEPTH_MODEL,
    decode_depth16,
    encode_depth16,
    estimate_depth,
    fit_to_reference,
    flat_depth,
    load_depth_estimator,
    load_depth_png,
    load_scene_depth,
    relative_to_depth,
    resolve_depth_model,
    save_depth_png,
    scene_depth_path,
)


def _ramp(height: int = 24, width: int = 32) -> np.ndarray:
    rows = np.arange(height, dtype=np.float32)[:, None]
    return np.repeat(2.0 + rows * 0.25, width, axis=1).astype(np.float32)


def test_scene_depth_npy_round_trips_and_reads_inf_as_background(tmp_path: Path) -> None:
    depth = _ramp()
    depth[0, :4] = np.inf
    path = scene_depth_path(tmp_path, 7)
    assert path.name == "depth_00007.npy"
    np.save(path, depth)
    loaded = load_scene_depth(path, (24, 32))
    assert loaded.dtype == np.float32
    assert np.all(loaded[0, :4] == np.float32(BACKGROUND_DEPTH))
    np.testing.assert_array_equal(loaded[1:], depth[1:])


def test_missing_scene_depth_file_suggests_the_other_sources(tmp_path: Path) -> None:
    with pytest.raises(DeforumInputError, match=r"not found.*'estimated' or 'flat'"):
        load_scene_depth(tmp_path / "depth_00001.npy")


@pytest.mark.parametrize("bad", [np.nan, 0.0, -2.0])
def test_scene_depth_with_bad_values_is_refused(tmp_path: Path, bad: float) -> None:
    depth = _ramp()
    depth[3, 4] = bad
    np.save(tmp_path / "d.npy", depth)
    with pytest.raises(DeforumInputError, match=r"d\.npy.*\(3, 4\)"):
        load_scene_depth(tmp_path / "d.npy")


def test_scene_depth_of_the_wrong_size_names_both_sizes(tmp_path: Path) -> None:
    np.save(tmp_path / "d.npy", _ramp())
    with pytest.raises(DeforumInputError, match=r"\(24, 32\).*\(48, 64\)"):
        load_scene_depth(tmp_path / "d.npy", (48, 64))


def test_a_non_depth_file_is_refused_clearly(tmp_path: Path) -> None:
    (tmp_path / "d.npy").write_bytes(b"not numpy")
    with pytest.raises(DeforumInputError, match="not a readable"):
        load_scene_depth(tmp_path / "d.npy")
    np.save(tmp_path / "e.npy", np.zeros((2, 3, 4), np.uint8))
    with pytest.raises(DeforumInputError, match="2-D float"):
        load_scene_depth(tmp_path / "e.npy")


def test_flat_depth_is_constant_and_positive() -> None:
    plane = flat_depth((5, 6), 3.5)
    assert plane.shape == (5, 6) and np.all(plane == 3.5)
    with pytest.raises(DeforumInputError, match="positive"):
        flat_depth((5, 6), 0.0)


def test_depth_png_round_trips_within_16_bit_precision(tmp_path: Path) -> None:
    depth = _ramp()
    depth[0, 0] = BACKGROUND_DEPTH
    path = save_depth_png(tmp_path / "depth" / "depth_00003.png", depth)
    loaded = load_depth_png(path, (24, 32))
    surfaces = depth < 1e9
    np.testing.assert_allclose(loaded[surfaces], depth[surfaces], rtol=2e-3)
    assert loaded[0, 0] == pytest.approx(float(depth[surfaces].max()), rel=1e-4)  # far
    code = encode_depth16(depth)
    assert code.code.dtype == np.uint16 and code.code.max() == 65535  # nearest = brightest
    np.testing.assert_allclose(decode_depth16(code.code, code.near, code.far), loaded, rtol=1e-6)


def test_a_png_without_near_far_is_not_taken_for_depth(tmp_path: Path) -> None:
    from PIL import Image

    Image.fromarray(np.zeros((4, 4), np.uint16)).save(tmp_path / "plain.png")
    with pytest.raises(DeforumInputError, match="near/far are unknown"):
        load_depth_png(tmp_path / "plain.png")


def test_relative_depth_spans_near_to_far_in_inverse_depth() -> None:
    inverse = np.array([[0.0, 0.5, 1.0]], np.float32)
    depth = relative_to_depth(inverse, near=2.0, far=10.0)
    np.testing.assert_allclose(depth[0], [10.0, 1 / (0.5 / 2 + 0.5 / 10), 2.0], rtol=1e-6)
    flat = relative_to_depth(np.full((2, 2), 3.0, np.float32), near=2.0, far=10.0)
    assert np.ptp(flat) == 0 and 2.0 < flat[0, 0] < 10.0
    with pytest.raises(DeforumInputError, match="near < far"):
        relative_to_depth(inverse, near=5.0, far=1.0)


def test_fit_to_reference_recovers_scale_and_offset_of_inverse_depth() -> None:
    reference = _ramp()
    prediction = (3.0 / reference + 0.7).astype(np.float32)  # affine in inverse depth
    np.testing.assert_allclose(fit_to_reference(prediction, reference), reference, rtol=1e-4)
    metric = fit_to_reference(reference * 0.5, reference, metric=True)
    np.testing.assert_allclose(metric, reference, rtol=1e-5)


def test_deforum_depth_algorithm_names_map_to_checkpoints(tmp_path: Path) -> None:
    assert resolve_depth_model(None) == DEFAULT_DEPTH_MODEL
    assert resolve_depth_model("Midas-3-Hybrid") == "Intel/dpt-hybrid-midas"
    assert resolve_depth_model("zoe") == "Intel/zoedepth-nyu-kitti"
    assert resolve_depth_model("owner/model") == "owner/model"
    with pytest.raises(DeforumInputError, match="not a model folder"):
        resolve_depth_model(str(tmp_path / "missing"))
    with pytest.raises(DeforumInputError, match="depth_algorithm"):
        resolve_depth_model("Midas 4 Ultra")


def test_tiny_dpt_model_estimates_positive_depth_at_frame_size(tiny_models: Path) -> None:
    frame = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    folder = str(tiny_models / "depth")
    depth = estimate_depth(frame, model=folder, device="cpu", near=1.5, far=30.0)
    assert depth.shape == (40, 56) and depth.dtype == np.float32
    assert np.all(np.isfinite(depth)) and depth.min() >= 1.5 - 1e-4 and depth.max() <= 30.0001
    fitted = estimate_depth(frame, model=folder, device="cpu", reference_depth=_ramp(40, 56))
    assert np.all(fitted > 0) and np.all(np.isfinite(fitted))


def test_depth_model_is_loaded_once_per_process(tiny_models: Path) -> None:
    folder = str(tiny_models / "depth")
    first = load_depth_estimator(folder, "cpu")
    assert load_depth_estimator(folder, "cpu") is first
    assert (folder, "cpu") in depth_module._ESTIMATORS
    assert not first.metric


def test_depth_estimation_refuses_a_grey_frame(tiny_models: Path) -> None:
    with pytest.raises(DeforumInputError, match="H×W×3"):
        estimate_depth(np.zeros((8, 8), np.uint8), model=str(tiny_models / "depth"), device="cpu")
