"""RIFE v4.6 (engine/rife.py): the published layer names, the loader's refusals, and the
warp and blend checked on a known translation with the flow set by hand (no training)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from deforum_blender.core.errors import DeforumInputError
from deforum_blender.core.job import Finish
from deforum_blender.engine.frame_interpolation import choose_interpolator
from deforum_blender.engine.rife import IFNet, build_tiny_rife, load_rife, save_weights

SHIFT = 16  # pixels the texture moves right from one frame to the next


def _published_keys() -> list[str]:
    """flownet.pkl's keys as Practical-RIFE 4.6 publishes them (saved from DataParallel)."""
    keys = []
    for block in range(4):
        prefix = f"module.block{block}"
        for conv in range(2):
            keys += [f"{prefix}.conv0.{conv}.0.weight", f"{prefix}.conv0.{conv}.0.bias"]
        for res in range(8):
            keys += [
                f"{prefix}.convblock.{res}.{name}" for name in ("beta", "conv.weight", "conv.bias")
            ]
        keys += [f"{prefix}.lastconv.0.weight", f"{prefix}.lastconv.0.bias"]
    return keys


def test_the_network_has_the_published_layer_names_and_shapes(tmp_path: Path) -> None:
    network = IFNet()
    saved = save_weights(network, tmp_path / "flownet.safetensors")
    from safetensors.torch import load_file

    state = load_file(str(saved))
    assert sorted(state) == sorted(_published_keys())
    assert state["module.block0.conv0.0.0.weight"].shape == (96, 7, 3, 3)
    assert state["module.block1.conv0.0.0.weight"].shape == (64, 12, 3, 3)
    assert state["module.block3.convblock.7.beta"].shape == (1, 64, 1, 1)
    assert state["module.block3.lastconv.0.weight"].shape == (64, 24, 4, 4)


def _pair(height: int = 70, width: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two frames of a texture moving ``SHIFT`` pixels right, and the true half-way frame."""
    # Unblurred noise: a sampling position off by a twentieth of a pixel shows.
    texture = np.random.default_rng(3).integers(0, 256, (height, width + 2 * SHIFT, 3), np.uint8)
    earlier, halfway, later = (
        np.ascontiguousarray(texture[:, SHIFT - s : SHIFT - s + width])
        for s in (0, SHIFT // 2, SHIFT)
    )
    return earlier, halfway, later


def _hand_set(path: Path, flow: tuple[float, float, float, float], mask: float) -> Path:
    """A RIFE whose only non-zero weights are the last block's output biases: its flow
    (to the earlier frame x, y, to the later frame x, y) and mask logit, everywhere."""
    network = IFNet(widths=(8, 8, 8, 8))
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.zero_()
        bias = network.state_dict()["block3.lastconv.0.bias"]  # shares the parameter's memory
        # PixelShuffle(2) makes output channel k from the four input channels 4k … 4k + 3.
        for channel, value in enumerate((*flow, mask)):
            bias[4 * channel : 4 * channel + 4] = value
    return save_weights(network, path)


INNER = (slice(SHIFT, -SHIFT), slice(SHIFT, -SHIFT))


@pytest.mark.parametrize("mask", [0.0, 30.0, -30.0], ids=["blend", "earlier", "later"])
def test_the_warp_along_a_hand_set_flow_gives_the_true_half_way_frame(
    mask: float, tmp_path: Path
) -> None:
    earlier, halfway, later = _pair()
    half = SHIFT / 2
    weights = _hand_set(tmp_path / "hand.safetensors", (-half, 0.0, half, 0.0), mask)
    made = load_rife(str(weights))(earlier, later, 0.5)
    assert made.shape == earlier.shape and made.dtype == np.uint8
    difference = np.abs(made[INNER].astype(int) - halfway[INNER].astype(int))
    assert difference.max() <= 1


def test_the_mask_weighs_the_earlier_frame_where_it_is_high(tmp_path: Path) -> None:
    earlier, halfway, later = _pair()
    # Only the earlier frame's flow is right; the later one is not moved at all.
    right_early = (-SHIFT / 2, 0.0, 0.0, 0.0)
    earlier_wins = load_rife(str(_hand_set(tmp_path / "a.safetensors", right_early, 30.0)))
    later_wins = load_rife(str(_hand_set(tmp_path / "b.safetensors", right_early, -30.0)))
    assert np.abs(earlier_wins(earlier, later, 0.5)[INNER].astype(int) - halfway[INNER]).max() <= 1
    assert np.array_equal(later_wins(earlier, later, 0.5)[INNER], later[INNER])


def test_a_vertical_flow_moves_rows(tmp_path: Path) -> None:
    earlier, _, _ = _pair()
    earlier = np.ascontiguousarray(earlier.transpose(1, 0, 2))  # 100 × 70: rows move now
    up = load_rife(str(_hand_set(tmp_path / "v.safetensors", (0.0, 5.0, 0.0, 5.0), 0.0)))
    made = up(earlier, earlier, 0.5)
    assert np.abs(made[10:-10].astype(int) - earlier[15:-5].astype(int)).max() <= 1


def test_a_pickle_is_refused_unless_allowed_and_then_loads_the_same(tmp_path: Path) -> None:
    tiny = build_tiny_rife(tmp_path / "flownet.safetensors", seed=5)
    from safetensors.torch import load_file

    pickle = tmp_path / "flownet.pkl"
    torch.save(load_file(str(tiny)), pickle)  # as Practical-RIFE publishes its weights
    with pytest.raises(DeforumInputError, match="allow_pickle=true"):
        load_rife(str(pickle))
    earlier, _, later = _pair(40, 48)
    from_pickle = load_rife(str(pickle), allow_pickle=True)(earlier, later, 0.25)
    assert np.array_equal(from_pickle, load_rife(str(tiny))(earlier, later, 0.25))


@pytest.mark.parametrize(
    ("name", "message"),
    [("weights.onnx", "not a weights file"), ("missing.safetensors", "not a file")],
)
def test_other_files_are_refused_naming_the_field(name: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / name
    if name.endswith(".onnx"):
        path.write_bytes(b"onnx")
    with pytest.raises(DeforumInputError, match=f"interpolation_model: .*{message}"):
        load_rife(str(path))


def test_another_rife_versions_weights_are_refused_by_name(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    state = load_file(str(build_tiny_rife(tmp_path / "tiny.safetensors", seed=5)))
    state["module.encode.0.weight"] = torch.zeros(4, 3, 3, 3)  # v4.7+'s feature encoder
    save_file(state, str(tmp_path / "v47.safetensors"))
    with pytest.raises(DeforumInputError, match=r"encode\.0\.weight.*v4\.6"):
        load_rife(str(tmp_path / "v47.safetensors"))


def test_film_weights_are_refused_with_the_fix(tmp_path: Path) -> None:
    finish = dataclasses.replace(
        Finish(), frame_interpolation_engine="FILM", interpolation_model=str(tmp_path / "x.pt")
    )
    with pytest.raises(DeforumInputError, match=r"RIFE v4\.6 weights"):
        choose_interpolator(finish, lambda text: None)
