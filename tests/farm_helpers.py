"""The Flamenco job type under Node: ``tests/flamenco_harness.js`` stands in for the Manager.

The harness implements the documented job-compiler API (``author``, ``path``, ``print``,
``frameChunker``) and nothing more; acorn (installed by ``make venv`` from package.json)
parses the script as ECMAScript 2015.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from deforum_blender.farm import JOB_TYPE_FILE
from tests.helpers import ROOT

HARNESS = ROOT / "tests" / "flamenco_harness.js"
ACORN = ROOT / "node_modules" / "acorn"


def node() -> str:
    """The ``node`` executable; a clear failure without one."""
    found = shutil.which("node")
    assert found, "node is not on PATH: install Node.js (the job type is tested under it)"
    return found


def run_harness(*args: str) -> subprocess.CompletedProcess[str]:
    """``node flamenco_harness.js ARGS`` (its JSON answer on stdout)."""
    return subprocess.run(
        [node(), str(HARNESS), *args], capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def _answer(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def job_type(script: Path = JOB_TYPE_FILE) -> dict[str, Any]:
    """The script's ``JOB_TYPE``."""
    answer: dict[str, Any] = _answer(run_harness("describe", str(script)))
    return answer


def compile_job(settings: dict[str, Any], folder: Path) -> list[dict[str, Any]]:
    """The tasks ``compileJob`` authors for ``settings`` (name, type, commands, dependencies)."""
    path = folder / "settings.json"
    path.write_text(json.dumps(settings), encoding="utf-8")
    tasks: list[dict[str, Any]] = _answer(run_harness("compile", str(JOB_TYPE_FILE), str(path)))[
        "tasks"
    ]
    return tasks


def free_names(script: Path) -> list[str]:
    """Names ``script`` uses without binding them, after acorn parsed it at ES2015."""
    assert (ACORN / "package.json").is_file(), "acorn is missing: run `make venv` (npm install)"
    names: list[str] = _answer(run_harness("globals", str(script), str(ACORN)))
    return names
