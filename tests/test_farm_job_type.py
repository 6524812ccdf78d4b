"""The Flamenco job type (``deforum_blender/farm/deforum_blender.js``) compiled under Node.

A small implementation of Flamenco's documented job-compiler API stands in for the
Manager (``tests/flamenco_harness.js``); acorn checks that the file is a plain ES2015
script that reaches for nothing but Flamenco's globals.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from deforum_blender.core.farm_plan import variants, variants_json
from deforum_blender.farm import JOB_TYPE_FILE
from tests.farm_helpers import compile_job, free_names, job_type, run_harness

# What a job type may use: Flamenco's globals and ECMAScript's own built-ins.
FLAMENCO_GLOBALS = {"author", "path", "print", "frameChunker"}
BUILT_INS = {"Array", "Boolean", "JSON", "Math", "Number", "Object", "String", "Error"}

BLENDER_SETTINGS: dict[str, Any] = {
    "render_output_root": "/shared/renders",
    "output_root": "/shared/renders/shot",
    "render_script": "{deforum_script}",
    "segments": "1-4,5-8",
    "variants": variants_json(variants([1, 2, 3])),
    "scene": "Scene",
    "fps": 24.0,
    "make_video": True,
    "blendfile": "/shared/jobs/shot.flamenco.blend",
    "job_file": "",
}


def test_job_type_is_plain_es2015_using_only_flamenco_globals() -> None:
    assert set(free_names(JOB_TYPE_FILE)) <= FLAMENCO_GLOBALS | BUILT_INS


def test_the_check_refuses_newer_syntax_and_node_globals(tmp_path: Path) -> None:
    newer = tmp_path / "newer.js"
    newer.write_text("async function f() { await 1; }\n", encoding="utf-8")
    assert run_harness("globals", str(newer), "node_modules/acorn").returncode != 0
    node = tmp_path / "node.js"
    node.write_text("const fs = require('fs');\nprocess.exit(0);\n", encoding="utf-8")
    assert {"require", "process"} <= set(free_names(node))


def test_settings_are_evaluated_from_the_scene() -> None:
    settings = {s["key"]: s for s in job_type()["settings"]}
    assert settings["segments"]["eval"] == "C.scene.deforum.farm_segments"
    assert settings["variants"]["eval"] == "C.scene.deforum.farm_variants"
    assert settings["render_output_root"]["required"] is True
    for spec in settings.values():
        assert spec["type"] in ("string", "int32", "float", "bool"), spec


def test_two_cuts_three_seeds_make_six_renders_and_three_videos(tmp_path: Path) -> None:
    tasks = compile_job(BLENDER_SETTINGS, tmp_path)
    renders = [t for t in tasks if t["type"] == "deforum"]
    videos = [t for t in tasks if t["type"] == "ffmpeg"]
    assert (len(renders), len(videos), len(tasks)) == (6, 3, 9)
    for seed in (1, 2, 3):
        mine = [t for t in renders if t["name"].startswith(f"render-seed_{seed}-")]
        for task, frames in zip(mine, ("1-4", "5-8"), strict=True):
            (command,) = task["commands"]
            assert command["name"] == "blender-render"
            parameters = command["parameters"]
            assert parameters["exe"] == "{blender}" and parameters["exeArgs"] == "{blenderArgs}"
            assert parameters["blendfile"] == BLENDER_SETTINGS["blendfile"]
            first, last = (int(n) for n in frames.split("-"))
            out = f"/shared/renders/shot/seed_{seed}/part_{first:05d}-{last:05d}"
            assert parameters["args"] == [
                "-P", "{deforum_script}", "--", "--scene", "Scene",
                "--frames", frames, "--out", out, "--resume", "--set", f"seed={seed}",
            ]  # fmt: skip
        (video,) = [t for t in videos if t["name"] == f"video-seed_{seed}"]
        assert sorted(video["dependencies"]) == sorted(t["name"] for t in mine)
        (command,) = video["commands"]
        assert command["name"] == "frames-to-video"
        assert command["parameters"]["inputGlob"] == (
            f"/shared/renders/shot/seed_{seed}/*/frames/frame_*.png"
        )
        assert command["parameters"]["fps"] == 24.0


def test_a_standalone_job_runs_the_engine_in_the_worker_python(tmp_path: Path) -> None:
    settings = {**BLENDER_SETTINGS, "job_file": "/shared/renders/shot/job.json"}
    settings["blendfile"] = settings["segments"] = ""
    tasks = compile_job({**settings, "make_video": False}, tmp_path)
    assert [t["name"] for t in tasks] == ["render-seed_1", "render-seed_2", "render-seed_3"]
    (command,) = tasks[1]["commands"]
    assert command["name"] == "exec"
    assert command["parameters"]["exe"] == "{deforum_python}"
    job_file, out = "/shared/renders/shot/job.json", "/shared/renders/shot/seed_2/render"
    assert command["parameters"]["args"] == [
        "-m", "deforum_blender", "render", job_file, "--out", out, "--resume", "--set", "seed=2",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"variants": json.dumps({"error": "Farm Seeds: 'x' is not a seed"})}, "'x' is not a seed"),
        ({"variants": "[]"}, "variants: none"),
        ({"segments": "1-4,8-5"}, "not a list of frame ranges"),
        ({"blendfile": ""}, "blendfile: empty"),
        ({"render_output_root": "", "output_root": ""}, "render_output_root: empty"),
    ],
)
def test_a_wrong_setting_refuses_the_job_naming_it(
    tmp_path: Path, change: dict[str, str], message: str
) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({**BLENDER_SETTINGS, **change}), encoding="utf-8")
    result = run_harness("compile", str(JOB_TYPE_FILE), str(path))
    assert result.returncode == 1 and message in result.stderr
