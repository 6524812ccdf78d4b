"""The loop's image stages on uint8 RGB frames: colour coherence, contrast, anti-blur, noise."""

from __future__ import annotations

import numpy as np
import pytest

from deforum_blender.core.errors import DeforumInputError
from deforum_blender.engine.adjust import adjust_contrast, unsharp_mask
from deforum_blender.engine.coherence import ColorMatcher, coherence_mode, match_colors
from deforum_blender.engine.noise import add_noise, frame_rng, perlin_envelope


def _scene(height: int = 64, width: int = 80, seed: int = 0) -> np.ndarray:
    """A smooth colourful test frame (gradients plus soft blobs)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    rng = np.random.default_rng(seed)
    blobs = sum(
        np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s**2))
        for cx, cy, s in zip(
            rng.uniform(0, width, 5), rng.uniform(0, height, 5), rng.uniform(5, 15, 5), strict=True
        )
    )
    red = 200 * x / width + 40 * blobs
    green = 150 * y / height + 60 * blobs
    blue = 80 + 60 * np.sin(x / 7) + 30 * blobs
    return np.clip(np.stack([red, green, blue], axis=-1), 0, 255).round().astype(np.uint8)


def _lab(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(image, cv2.COLOR_RGB2LAB)


# --- colour coherence ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["RGB", "LAB", "HSV"])
def test_matching_a_frame_to_itself_changes_nothing_much(mode: str) -> None:
    frame = _scene()
    matched = match_colors(frame, frame, mode)
    difference = np.abs(matched.astype(int) - frame.astype(int))
    if mode == "RGB":
        np.testing.assert_array_equal(matched, frame)  # rounded identity, not truncated
    else:
        assert difference.mean() < 1.0  # only the colour conversions' own round trip


def test_rgb_matching_moves_each_channel_histogram_onto_the_reference() -> None:
    reference = _scene(seed=1)
    # A colour drift without clipping, so no two levels merge into one.
    drifted = (reference.astype(float) * [0.7, 0.8, 0.6] + [10, 30, 60]).round().astype(np.uint8)
    matched = match_colors(drifted, reference, "RGB")
    for channel in range(3):
        # Nearly the same sorted values (quantiles), where before they were far apart; not
        # exact, because the drifted frame has fewer distinct levels than the reference.
        target = np.sort(reference[..., channel], None).astype(int)
        before = np.abs(np.sort(drifted[..., channel], None) - target)
        after = np.abs(np.sort(matched[..., channel], None) - target)
        assert before.mean() > 10
        assert after.mean() < 1.5
        assert abs(matched[..., channel].mean() - reference[..., channel].mean()) < 1.0


def test_lab_matching_reads_the_frames_as_rgb() -> None:
    # Only the lightness (true L of the RGB frame) drifted: matching in LAB read the right
    # way round undoes it almost exactly. Deforum's mix-up (BGR read as RGB) matches in a
    # different space where a, b changed too, and lands about twice as far away.
    import cv2

    reference = _scene(seed=2)
    lab = _lab(reference).astype(int)
    lab[..., 0] -= 15
    darker = cv2.cvtColor(lab.clip(0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)
    matched = match_colors(darker, reference, "LAB")
    assert np.abs(darker.astype(int) - reference).mean() > 10
    assert np.abs(matched.astype(int) - reference).mean() < 1.2
    lightness_error = np.abs(_lab(matched)[..., 0].astype(int) - _lab(reference)[..., 0])
    assert lightness_error.mean() < 0.35


def test_a_color_matcher_reuses_its_reference_and_none_is_a_copy() -> None:
    reference, frame = _scene(seed=3), _scene(seed=4)
    matcher = ColorMatcher(reference, "hsv")
    assert matcher.mode == "HSV"
    np.testing.assert_array_equal(matcher.apply(frame), match_colors(frame, reference, "HSV"))
    unchanged = match_colors(frame, reference, "None")
    np.testing.assert_array_equal(unchanged, frame)
    assert unchanged is not frame


def test_unknown_coherence_mode_lists_the_known_ones() -> None:
    assert coherence_mode("lab") == "LAB"
    with pytest.raises(DeforumInputError, match=r"color_coherence: unknown.*'XYZ'.*LAB, HSV, RGB"):
        coherence_mode("XYZ")


# --- contrast -----------------------------------------------------------------------------


def test_contrast_clips_bright_pixels_instead_of_wrapping_them_to_black() -> None:
    frame = np.array([[[200, 100, 0], [250, 2, 255]]], dtype=np.uint8)
    brighter = adjust_contrast(frame, 1.5)
    np.testing.assert_array_equal(brighter, [[[255, 150, 0], [255, 3, 255]]])
    np.testing.assert_array_equal(adjust_contrast(frame, 0.5), [[[100, 50, 0], [125, 1, 128]]])
    np.testing.assert_array_equal(adjust_contrast(frame, 1.0), frame)


def test_contrast_follows_deforums_multiply_on_every_grey_level() -> None:
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    for contrast in (0.9, 1.03, 1.1):
        expected = np.clip(np.round(levels * contrast), 0, 255).astype(np.uint8)
        np.testing.assert_array_equal(adjust_contrast(levels, contrast), expected)


def test_negative_contrast_names_the_schedule() -> None:
    with pytest.raises(DeforumInputError, match="contrast_schedule"):
        adjust_contrast(_scene(), -0.5)


# --- anti-blur ----------------------------------------------------------------------------


def _soft_edge() -> np.ndarray:
    import cv2

    step = np.zeros((32, 32, 3), dtype=np.uint8)
    step[:, 16:] = 200
    return np.asarray(cv2.GaussianBlur(step, (7, 7), 2.0))


def test_anti_blur_steepens_a_soft_edge() -> None:
    edge = _soft_edge()
    sharp = unsharp_mask(edge, amount=1.0, kernel=5, sigma=1.0)
    row_before, row_after = edge[16, :, 0].astype(int), sharp[16, :, 0].astype(int)
    assert np.abs(np.diff(row_after)).max() > np.abs(np.diff(row_before)).max()
    assert row_after[13] < row_before[13] and row_after[18] > row_before[18]  # overshoot both sides
    assert row_after[0] == row_before[0] and row_after[-1] == row_before[-1]  # flat areas stay


def test_anti_blur_matches_deforums_formula_without_wrapping() -> None:
    import cv2

    frame = _scene(seed=5)
    blurred = cv2.GaussianBlur(frame, (5, 5), 1.0).astype(np.float64)
    expected = np.clip(np.round(1.3 * frame - 0.3 * blurred), 0, 255)
    got = unsharp_mask(frame, amount=0.3, kernel=5, sigma=1.0)
    assert np.abs(got.astype(int) - expected).max() <= 1  # OpenCV's rounding of exact halves


def test_anti_blur_off_threshold_mask_and_even_kernels() -> None:
    edge = _soft_edge()
    np.testing.assert_array_equal(unsharp_mask(edge, amount=0.0), edge)
    np.testing.assert_array_equal(unsharp_mask(edge, amount=1.0, threshold=256), edge)
    np.testing.assert_array_equal(
        unsharp_mask(edge, amount=1.0, mask=np.zeros(edge.shape[:2], np.uint8)), edge
    )
    even = unsharp_mask(edge, amount=1.0, kernel=4)  # Deforum crashes on even kernels
    np.testing.assert_array_equal(even, unsharp_mask(edge, amount=1.0, kernel=5))
    half = np.zeros(edge.shape[:2], np.uint8)
    half[:, 16:] = 255
    masked = unsharp_mask(edge, amount=1.0, mask=half)
    np.testing.assert_array_equal(masked[:, :16], edge[:, :16])
    assert not np.array_equal(masked[:, 16:], edge[:, 16:])


# --- noise --------------------------------------------------------------------------------


@pytest.mark.parametrize("noise_type", ["perlin", "uniform"])
def test_noise_is_the_same_for_the_same_seed_and_frame(noise_type: str) -> None:
    frame = _scene()
    first = add_noise(frame, 0.3, seed=7, frame=3, noise_type=noise_type)
    again = add_noise(frame, 0.3, seed=7, frame=3, noise_type=noise_type)
    np.testing.assert_array_equal(first, again)
    for other in (
        add_noise(frame, 0.3, seed=7, frame=4, noise_type=noise_type),
        add_noise(frame, 0.3, seed=8, frame=3, noise_type=noise_type),
        add_noise(frame, 0.3, seed=7, frame=3, noise_type=noise_type, purpose="cadence"),
    ):
        assert not np.array_equal(first, other)


def test_zero_noise_leaves_the_frame_unchanged() -> None:
    frame = _scene()
    for noise_type in ("perlin", "uniform"):
        out = add_noise(frame, 0.0, seed=1, frame=1, noise_type=noise_type)
        np.testing.assert_array_equal(out, frame)


def test_noise_amount_is_the_blend_weight_towards_mid_grey_noise() -> None:
    frame = _scene()
    small = add_noise(frame, 0.05, seed=1, frame=1, noise_type="uniform")
    large = add_noise(frame, 0.5, seed=1, frame=1, noise_type="uniform")
    full = add_noise(frame, 1.0, seed=1, frame=1, noise_type="uniform")
    change = [np.abs(out.astype(int) - frame).mean() for out in (small, large, full)]
    assert change[0] < change[1] < change[2]
    assert abs(full.mean() - 127.5) < 2  # pure noise: centred on grey
    assert full.std() > 40  # white noise clipped at ±1σ covers the whole range


def test_perlin_noise_is_shaped_by_a_smooth_envelope() -> None:
    frame = np.full((64, 96, 3), 127, np.uint8)
    perlin = add_noise(frame, 1.0, seed=2, frame=0, noise_type="perlin").astype(float)
    uniform = add_noise(frame, 1.0, seed=2, frame=0, noise_type="uniform").astype(float)
    assert np.abs(perlin - 127.5).mean() < np.abs(uniform - 127.5).mean()  # envelope ≤ 1
    envelope = perlin_envelope(64, 96, frame_rng(2, 0, "noise"), cells=(8, 8), octaves=4)
    assert envelope.shape == (64, 96)
    assert 0.3 < envelope.mean() < 0.7 and envelope.std() > 0.05
    assert np.abs(np.diff(envelope, axis=1)).mean() < 0.1  # smooth, not white


def test_noise_works_at_sizes_deforums_perlin_cannot_divide() -> None:
    frame = _scene(40, 72)
    out = add_noise(frame, 0.2, seed=3, frame=9, noise_type="perlin", perlin_cells=(5.5, 3))
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert perlin_envelope(8, 8, frame_rng(1, 1, "x"), octaves=6).shape == (8, 8)


def test_bad_noise_settings_name_their_field() -> None:
    with pytest.raises(DeforumInputError, match="noise_type"):
        add_noise(_scene(), 0.1, seed=1, frame=1, noise_type="pink")
    with pytest.raises(DeforumInputError, match="noise_schedule"):
        add_noise(_scene(), 1.5, seed=1, frame=1)
