"""``torch.compile`` for the fixed-shape model parts, behind the ``compile`` setting.

A part (the UNet, a ControlNet, the VAE's encoder and decoder, the depth model) keeps its
module; only its ``forward`` is replaced by a :class:`Guarded` call that runs the compiled
forward and, should compiling or running it raise, says so once and runs eager from then
on: compile never fails a render. Shapes stay fixed within a job (one W×H, one prompt
length, one batch per guidance), so a part compiles once per shape, not per frame; on CUDA
the mode is ``reduce-overhead`` (CUDA graphs), which replays a frame's kernels in one launch.

A call that compiles (each part's first, and the first at a new size or variant, as a warm
worker's next job may be) is timed apart: :func:`compiling_calls` lists those times, and
``run.json`` reports them as ``compile_s``, apart from the frame timings.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import DeforumInputError
from ..core.job_fields import COMPILE_MODES

LOG = logging.getLogger(__name__)

Warn = Callable[[str], None]

# The compile setting per device kind ("auto" only; "on"/"off" are what they say).
_AUTO = {"cuda": True, "cpu": False, "mps": False}
# Tests set a backend that runs anywhere ("aot_eager", or one that raises); None: inductor.
_BACKEND: Any = None

_LEDGER_LOCK = threading.Lock()
_COMPILING_CALLS: list[tuple[str, float]] = []


def enabled(mode: str, device: str, cpu_offload: bool = False) -> bool:
    """Whether ``mode`` (auto | on | off) compiles on ``device``; never with CPU offload,
    whose hooks move the weights between calls."""
    if mode not in COMPILE_MODES:
        raise DeforumInputError(
            f"compile: {mode!r} is not one of {', '.join(COMPILE_MODES)}; use auto (on for "
            "CUDA), on or off"
        )
    if cpu_offload and device.startswith("cuda"):
        return False
    if mode == "auto":
        return _AUTO.get(device.split(":")[0], False)
    return mode == "on"


def compiling_calls() -> list[tuple[str, float]]:
    """(part, seconds) of every call in this process that compiled, its compile included."""
    with _LEDGER_LOCK:
        return list(_COMPILING_CALLS)


def spent_since(mark: int) -> dict[str, float]:
    """Seconds of the compiling calls after the first ``mark`` of :func:`compiling_calls`,
    by part."""
    spent: dict[str, float] = {}
    for part, seconds in compiling_calls()[mark:]:
        spent[part] = round(spent.get(part, 0.0) + seconds, 3)
    return spent


def _log_warning(message: str) -> None:
    LOG.warning("%s", message)


@dataclass
class Guarded:
    """A part's forward: compiled, or eager once compiling or running it has raised."""

    part: str
    eager: Callable[..., Any]
    compiled: Callable[..., Any] | None
    warn: Warn = _log_warning
    calls: int = 0
    graphs: bool = False
    """CUDA graphs: each call starts a new graph step, and its outputs are copied out of the
    graph's memory, which the next replay overwrites (a scheduler may keep an output)."""
    none_defaults: frozenset[str] = field(init=False)
    """The forward's keyword inputs whose default is None."""

    def __post_init__(self) -> None:
        try:
            parameters = inspect.signature(self.eager).parameters.values()
        except (TypeError, ValueError):  # a builtin: no signature to read
            parameters = inspect.Signature().parameters.values()
        self.none_defaults = frozenset(p.name for p in parameters if p.default is None)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        compiled = self.compiled
        if compiled is None:
            return self.eager(*args, **kwargs)
        # Pipelines pass optional inputs differently (ControlNet's txt2img gives the UNet
        # timestep_cond=None, its img2img leaves it out) and dynamo guards on the keywords'
        # names: an input that is None by default is left out, so one graph serves both.
        kwargs = {k: v for k, v in kwargs.items() if v is not None or k not in self.none_defaults}
        compiled_before = _graphs_compiled()
        start = time.perf_counter()
        try:
            result = self._compiled_call(compiled, args, kwargs)
        except Exception as error:  # any compiler or CUDA-graph failure: eager from now on
            self.compiled = None
            self.warn(
                f"compile: the {self.part} did not compile ({type(error).__name__}: "
                f"{_first_line(error)}); it runs eager (set compile=off to skip compiling)"
            )
            return self.eager(*args, **kwargs)
        self.calls += 1
        if self.calls == 1 or _graphs_compiled() != compiled_before:
            with _LEDGER_LOCK:
                _COMPILING_CALLS.append((self.part, time.perf_counter() - start))
        return result

    def _compiled_call(self, compiled: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        import torch

        def call() -> Any:
            return _replayed(compiled, args, kwargs) if self.graphs else compiled(*args, **kwargs)

        try:
            return call()
        except torch._dynamo.exc.FailOnRecompileLimitHit:
            # Every model's parts share dynamo's cache per function, 8 variants deep (sizes,
            # tiling, ControlNets, models over a warm worker's jobs); past it dynamo would run
            # them eager without a word. Start its caches afresh instead (all parts recompile).
            LOG.info("compile: the %s reached dynamo's recompile limit; caches cleared", self.part)
            torch._dynamo.reset()
            return call()

    def give_up(self, reason: str) -> None:
        """Run eager from now on, saying ``reason`` once (a change that would recompile it
        on every frame)."""
        if self.compiled is not None:
            self.compiled = None
            self.warn(f"compile: the {self.part} runs eager: {reason}")


def _replayed(compiled: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    import torch
    from torch.utils._pytree import tree_map_only

    torch.compiler.cudagraph_mark_step_begin()  # type: ignore[no-untyped-call]
    return tree_map_only(torch.Tensor, torch.Tensor.clone, compiled(*args, **kwargs))


def _graphs_compiled() -> int:
    """How many graphs dynamo has compiled in this process (its own statistics counter)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else "no message"


def _compiler(device: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """torch.compile with the backend and mode for ``device`` (fixed shapes: dynamic off)."""
    import torch

    # Past the recompile limit: an error that Guarded answers by clearing the caches.
    torch._dynamo.config.fail_on_recompile_limit_hit = True
    if _BACKEND is not None:
        return lambda function: torch.compile(function, backend=_BACKEND, dynamic=False)
    # CUDA graphs need CUDA; on the CPU inductor's default mode.
    mode = "reduce-overhead" if device.startswith("cuda") else "default"
    return lambda function: torch.compile(function, mode=mode, dynamic=False)


def compile_module(module: Any, part: str, device: str, warn: Warn | None = None) -> Guarded:
    """Replace ``module.forward`` with a :class:`Guarded` compiled forward (once per module:
    a module already compiled keeps its guard)."""
    current = getattr(module, "forward", None)
    if isinstance(current, Guarded):
        return current
    eager = module.forward
    try:
        compiled: Callable[..., Any] | None = _compiler(device)(eager)
    except Exception as error:  # torch.compile itself refused (no compiler, old torch)
        compiled = None
        (warn or _log_warning)(
            f"compile: the {part} cannot be compiled ({type(error).__name__}: "
            f"{_first_line(error)}); it runs eager"
        )
    graphs = _BACKEND is None and device.startswith("cuda")  # reduce-overhead's CUDA graphs
    guard = Guarded(part, eager, compiled, warn or _log_warning, graphs=graphs)
    module.forward = guard
    return guard


def compile_pipe(pipe: Any, device: str, warn: Warn | None = None) -> list[Guarded]:
    """Compile a diffusers pipeline's UNet and its VAE's encoder and decoder (tiny or full);
    the pipelines made from it share these modules."""
    parts = [("unet", getattr(pipe, "unet", None))]
    vae = getattr(pipe, "vae", None)
    parts += [("VAE encoder", getattr(vae, "encoder", None))]
    parts += [("VAE decoder", getattr(vae, "decoder", None))]
    return [compile_module(m, part, device, warn) for part, m in parts if m is not None]


def set_warn(guards: list[Guarded], warn: Warn) -> None:
    """Send the guards' fall-back warnings to ``warn`` (a render's warning events)."""
    for guard in guards:
        guard.warn = warn
