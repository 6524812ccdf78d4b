"""The compile setting: where it is on, compiled frames equal eager ones, failures fall back.

There is no GPU here: the compiled path runs with a backend that needs no compiler, through
``compiled._BACKEND``: ``aot_eager`` (graph capture and AOT tracing, no code generation), or
dynamo's ``eager`` for the full VAE, whose decoder's attention hands ``native_group_norm``
a non-contiguous tensor that aot_eager refuses on the CPU (a fall-back case of its own).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deforum_blender.core.deforum_settings import export_settings, import_settings
from deforum_blender.core.errors import DeforumInputError
from deforum_blender.core.job import Job
from deforum_blender.core.overrides import apply_overrides
from deforum_blender.engine import compiled
from deforum_blender.engine.depth import load_depth_estimator
from deforum_blender.engine.diffusion import ModelOptions, clear_model_cache, load_diffuser
from deforum_blender.engine.render import render
from deforum_blender.engine.tiny_models import tiny_job
from tests.helpers import frame_bytes, run_json

pytestmark = pytest.mark.heavy


@pytest.mark.parametrize(
    ("mode", "device", "offload", "expected"),
    [
        ("auto", "cuda", False, True),
        ("auto", "cuda:1", False, True),
        ("auto", "cpu", False, False),
        ("auto", "mps", False, False),
        ("on", "cpu", False, True),
        ("off", "cuda", False, False),
        ("on", "cuda", True, False),  # CPU offload's hooks move the weights between calls
    ],
)
def test_compile_setting_resolves_per_device(
    mode: str, device: str, offload: bool, expected: bool
) -> None:
    assert compiled.enabled(mode, device, offload) is expected


def test_unknown_compile_mode_names_the_choices() -> None:
    with pytest.raises(DeforumInputError, match=r"compile: 'yes'.*auto, on, off"):
        compiled.enabled("yes", "cpu")


def test_compile_is_a_model_setting_defaulting_to_auto_and_set_takes_off() -> None:
    assert Job().model.compile == "auto"
    assert apply_overrides(Job(), {"compile": "off"}).model.compile == "off"
    assert Job.from_dict(Job().to_dict()).model.compile == "auto"
    exported = export_settings(apply_overrides(Job(), {"compile": "off"}))
    assert import_settings(exported)[0].model.compile == "off"  # kept in our private key


def _broken_backend(graph: Any, inputs: Any) -> Any:
    raise RuntimeError("no compiler on this machine")


def _img2img(diffuser: Any) -> np.ndarray:
    start = diffuser.txt2img("a red hill", "", 1, 2, 7.0, 64, 64, "Euler a")
    return diffuser.img2img(start, "a red hill", "", 2, 4, 7.0, 0.6, "Euler a")


def _counting(backend: str) -> tuple[Any, list[Any]]:
    """``backend`` as a torch.compile backend that lists every graph it compiles."""
    import torch

    graphs: list[Any] = []

    def compile_graph(graph: Any, inputs: Any) -> Any:
        graphs.append(graph)
        return torch._dynamo.lookup_backend(backend)(graph, inputs)

    return compile_graph, graphs


@pytest.mark.parametrize(("vae", "backend"), [("full", "eager"), ("tiny", "aot_eager")])
def test_compiled_img2img_equals_eager_within_one_grey_level(
    tiny_models: Path, monkeypatch: pytest.MonkeyPatch, vae: str, backend: str
) -> None:
    tiny = str(tiny_models / "taesd") if vae == "tiny" else None
    eager = load_diffuser(str(tiny_models / "sd"), ModelOptions(device="cpu", tiny_vae=tiny))
    counting, graphs = _counting(backend)
    monkeypatch.setattr(compiled, "_BACKEND", counting)
    mark = len(compiled.compiling_calls())
    options = ModelOptions(device="cpu", tiny_vae=tiny, compile="on")
    fast = load_diffuser(str(tiny_models / "sd"), options)
    warnings: list[str] = []
    fast.on_warning(warnings.append)

    # An img2img frame compiles the UNet and decoder as a txt2img frame needs them: the
    # encoder's latents reach the UNet in txt2img's memory layout (strides are guarded).
    fast.img2img(
        eager.txt2img("a hill", "", 2, 2, 7.0, 64, 64, "Euler a"),
        "a hill",
        "",
        3,
        4,
        7.0,
        0.6,
        "Euler a",
    )
    compiled_graphs = len(graphs)
    frame, expected = _img2img(fast), _img2img(eager)
    assert compiled_graphs > 0 and len(graphs) == compiled_graphs

    assert [guard.part for guard in fast.compiled] == ["unet", "VAE encoder", "VAE decoder"]
    assert all(guard.compiled is not None and guard.calls > 0 for guard in fast.compiled)
    assert warnings == []
    assert np.abs(frame.astype(int) - expected.astype(int)).max() <= 1
    assert set(compiled.spent_since(mark)) == {"unet", "VAE encoder", "VAE decoder"}
    # Tiling set after compiling reaches the compiled parts (their guards recompile them).
    try:
        for diffuser in (fast, eager):
            diffuser.set_tiling(True)
        tiled, tiled_expected = _img2img(fast), _img2img(eager)
    finally:
        for diffuser in (fast, eager):
            diffuser.set_tiling(False)
    assert not np.array_equal(tiled_expected, expected)
    assert np.abs(tiled.astype(int) - tiled_expected.astype(int)).max() <= 1


def test_past_dynamos_recompile_limit_a_part_compiles_afresh_and_each_compile_is_timed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    counting, graphs = _counting("eager")
    monkeypatch.setattr(compiled, "_BACKEND", counting)
    torch.manual_seed(0)
    layer = torch.nn.Conv2d(3, 4, 3)
    eager = layer.forward
    guard = compiled.compile_module(layer, "test part", "cpu")
    warnings: list[str] = []
    guard.warn = warnings.append
    # Dynamo's limit is 8 variants per function, shared by every model in the process (a warm
    # worker's jobs at other sizes); with a limit of 1 each new size is past it.
    with torch._dynamo.config.patch(recompile_limit=1):
        for size, new_size in ((8, True), (10, True), (12, True), (12, False)):
            before, mark = len(graphs), len(compiled.compiling_calls())
            pixels = torch.rand(1, 3, size, size)
            torch.testing.assert_close(layer(pixels), eager(pixels))
            assert len(graphs) == before + new_size, f"{size}×{size}: ran eager"
            assert list(compiled.spent_since(mark)) == (["test part"] if new_size else [])
    assert warnings == []


def test_a_keyword_at_its_none_default_or_left_out_runs_one_graph(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # ControlNet's txt2img pipeline gives the UNet timestep_cond=None, its img2img none; the
    # UNet's forward is wrapped in a (*args, **kwargs) decorator, whose keywords dynamo counts.
    import functools

    import torch

    counting, graphs = _counting("eager")
    monkeypatch.setattr(compiled, "_BACKEND", counting)

    def passing_keywords(forward: Any) -> Any:
        @functools.wraps(forward)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            return forward(self, *args, **kwargs)

        return wrapper

    class Scaled(torch.nn.Module):
        @passing_keywords
        def forward(self, x: Any, offset: Any = None, scale: Any = 2.0) -> Any:
            x = x if scale is None else x * scale
            return x if offset is None else x + offset

    layer = Scaled()
    compiled.compile_module(layer, "test part", "cpu")
    ones = torch.ones(2)
    assert layer(ones, offset=None).tolist() == layer(ones).tolist() == [2.0, 2.0]
    assert len(graphs) == 1
    assert layer(ones, scale=None).tolist() == [1.0, 1.0]  # not None's default: kept


def test_a_part_that_fails_to_compile_runs_eager_with_one_warning(
    tiny_models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    eager = load_diffuser(str(tiny_models / "sd"), ModelOptions(device="cpu"))
    monkeypatch.setattr(compiled, "_BACKEND", _broken_backend)
    broken = load_diffuser(
        str(tiny_models / "sd"), ModelOptions(device="cpu", dtype="float32", compile="on")
    )
    warnings: list[str] = []
    broken.on_warning(warnings.append)

    frame = _img2img(broken)

    assert np.array_equal(frame, _img2img(eager))
    assert all(guard.compiled is None for guard in broken.compiled)
    assert len(warnings) == 3  # one per part, once: later frames run eager without a word
    assert all("runs eager" in message and "compile=off" in message for message in warnings)
    assert "the unet did not compile" in warnings[0]


def test_loras_turn_the_unet_eager_with_one_warning_and_the_frame_keeps_them(
    tiny_models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clear_model_cache()  # LoRAs stay in a loaded model: these two are this test's own
    prompt = [("a red hill <lora:tiny:1>", "", 1.0)]
    eager = load_diffuser(str(tiny_models / "sd"), ModelOptions(device="cpu"))
    eager.lora_dir = str(tiny_models / "lora")
    eager.use_loras(prompt)
    monkeypatch.setattr(compiled, "_BACKEND", "eager")
    fast = load_diffuser(str(tiny_models / "sd"), ModelOptions(device="cpu", compile="on"))
    fast.lora_dir = str(tiny_models / "lora")
    warnings: list[str] = []
    fast.on_warning(warnings.append)

    fast.use_loras(prompt)
    fast.use_loras(prompt)

    assert warnings == [
        "compile: the unet runs eager: LoRA weights would recompile it on every frame"
    ]
    assert [guard.compiled is None for guard in fast.compiled] == [True, False, False]
    assert _max_difference({1: _png(_img2img(fast))}, {1: _png(_img2img(eager))}) <= 1
    clear_model_cache()


def test_compiled_depth_model_predicts_as_eager(
    tiny_models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = np.random.default_rng(3).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    eager = load_depth_estimator(str(tiny_models / "depth"), "cpu")
    monkeypatch.setattr(compiled, "_BACKEND", "aot_eager")
    fast = load_depth_estimator(str(tiny_models / "depth"), "cpu", compile="on")

    assert fast is not eager and fast.model is not eager.model
    np.testing.assert_allclose(fast.predict(frame), eager.predict(frame), rtol=1e-5, atol=1e-5)
    assert fast.compiled[0].compiled is not None and fast.compiled[0].calls == 1
    assert load_depth_estimator(str(tiny_models / "depth"), "cpu", compile="auto") is eager


def test_a_render_with_compile_on_reports_compile_time_and_warns_on_fall_back(
    tiny_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    eager = tmp_path / "eager"
    render(tiny_job(tiny_models, max_frames="3"), eager)
    assert run_json(eager)["compile_s"] == {}  # auto on the CPU: eager, nothing compiled

    clear_model_cache()  # the compiled model is cached by its options, not by the backend
    monkeypatch.setattr(compiled, "_BACKEND", "eager")
    fast = tmp_path / "fast"
    render(tiny_job(tiny_models, max_frames="3", compile="on"), fast)
    assert set(run_json(fast)["compile_s"]) == {"unet", "VAE encoder", "VAE decoder"}
    assert _max_difference(frame_bytes(fast), frame_bytes(eager)) <= 1

    clear_model_cache()
    monkeypatch.setattr(compiled, "_BACKEND", _broken_backend)
    events: list[tuple[str, dict[str, Any]]] = []
    broken = tmp_path / "broken"
    render(
        tiny_job(tiny_models, max_frames="3", compile="on"),
        broken,
        emit=lambda kind, **fields: events.append((kind, fields)),
    )
    warnings = [fields["message"] for kind, fields in events if kind == "warning"]
    assert len([message for message in warnings if message.startswith("compile:")]) == 3
    assert run_json(broken)["compile_s"] == {}
    assert frame_bytes(broken) == frame_bytes(eager)
    clear_model_cache()


def _png(frame: np.ndarray) -> bytes:
    import cv2

    return bytes(cv2.imencode(".png", frame)[1])


def _max_difference(first: dict[int, bytes], second: dict[int, bytes]) -> int:
    """The largest difference in grey levels between two runs' frames (same frame numbers)."""
    import cv2

    def pixels(data: bytes) -> np.ndarray:
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).astype(int)

    assert list(first) == list(second)
    return max(int(np.abs(pixels(first[n]) - pixels(second[n])).max()) for n in first)


def test_a_cuda_graph_call_hands_out_copies_the_next_replay_cannot_overwrite() -> None:
    import torch

    graph_memory = torch.zeros(4)
    replay = compiled.Guarded("unet", eager=torch.ones_like, compiled=lambda x: (graph_memory,))
    replay.graphs = True

    (output,) = replay(torch.zeros(4))
    graph_memory.fill_(7.0)  # the next replay writes the graph's output buffer

    assert output.tolist() == [0.0, 0.0, 0.0, 0.0]
    assert output.data_ptr() != graph_memory.data_ptr()
