"""Deforum's sampler_schedule and checkpoint_schedule: switched between frames (tiny model)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from deforum_blender.core.errors import DeforumInputError
from deforum_blender.engine import diffusion
from deforum_blender.engine.render import render
from deforum_blender.engine.tiny_models import tiny_job
from tests.helpers import frame_bytes, run_json


def test_a_sampler_switch_at_frame_3_changes_frames_3_on_only(
    tiny_models: Path, tmp_path: Path
) -> None:
    every = {"diffusion_cadence": "1"}  # every frame diffused: no tween mixes in frame 3
    render(tiny_job(tiny_models, **every), tmp_path / "euler_a")
    switched = tiny_job(tiny_models, sampler_schedule='0: ("Euler a"), 2: ("DDIM")', **every)
    render(switched, tmp_path / "switched")
    plain, mixed = frame_bytes(tmp_path / "euler_a"), frame_bytes(tmp_path / "switched")
    assert [mixed[f] == plain[f] for f in range(1, 6)] == [True, True, False, False, False]
    samplers = run_json(tmp_path / "switched")["samplers"]
    assert samplers == {"1": "Euler a", "2": "Euler a", "3": "DDIM", "4": "DDIM", "5": "DDIM"}
    assert "samplers" not in run_json(tmp_path / "euler_a")


def test_a_checkpoint_schedule_loads_each_model_once(
    tiny_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tiny_models / "sd", tmp_path / "sd_copy"
    shutil.copytree(first, second)
    loads: list[str] = []
    real_load = diffusion._load

    def counted(source: Any, *args: Any, **kwargs: Any) -> Any:
        loads.append(Path(source.location).name)
        return real_load(source, *args, **kwargs)

    monkeypatch.setattr(diffusion, "_load", counted)
    diffusion.clear_model_cache()
    schedule = f'0: ("{first}"), 1: ("{second}"), 3: ("{first}"), 4: ("{second}")'
    job = tiny_job(tiny_models, checkpoint_schedule=schedule, diffusion_cadence="1")
    render(job, tmp_path / "out")
    assert loads == ["sd", "sd_copy"]
    checkpoints = run_json(tmp_path / "out")["checkpoints"]
    assert [Path(checkpoints[str(f)]).name for f in range(1, 6)] == [
        "sd",
        "sd_copy",
        "sd_copy",
        "sd",
        "sd_copy",
    ]


def test_a_webui_checkpoint_name_is_refused_before_any_model_loads(
    tiny_models: Path, tmp_path: Path
) -> None:
    schedule = '0: ("model1.ckpt"), 3: ("model2.safetensors")'
    with pytest.raises(DeforumInputError, match=r"checkpoint_schedule: 'model1\.ckpt'.*path"):
        render(tiny_job(tiny_models, checkpoint_schedule=schedule), tmp_path / "out")
    assert not (tmp_path / "out" / "frames").exists()
