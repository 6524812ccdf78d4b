"""The command line: sub-commands exist only when built, and errors map to exit statuses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from deforum_blender.core.output_layout import frame_files
from tests.helpers import ROOT


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deforum_blender", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_help_lists_the_built_sub_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert "make-tiny-models" in result.stdout


def test_unknown_sub_command_is_bad_input() -> None:
    result = run_cli("no-such-command")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


# -- input at fault: exit 2 and one sentence (issue 21) -------------------------------------

SETTINGS = ROOT / "tests" / "core" / "data" / "deforum_simple_settings.txt"


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    return result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[1, 2]", "holds a JSON list"),
        ("null", "holds a JSON null"),
        ('"/etc/hostname"', "holds a JSON string"),  # a value, never opened as a path
        ('{"W": ' + "9" * 5000 + "}", "4300 digits"),
        ('{"W": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ],
)
def test_a_settings_file_that_is_not_an_object_is_bad_input(
    tmp_path: Path, text: str, said: str
) -> None:
    settings = tmp_path / "settings.txt"
    settings.write_text(text)
    result = run_cli("render", str(settings), "--preview", "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    line = _last_line(result)
    assert line.startswith("error: ") and said in line and "settings.txt" in line, line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        ("fps=1e308", "fps: 1e+308 is above 32767"),  # refused before rendering, not at video time
        ("max_frames=2.5", "max_frames=2.5: write a whole number of frames"),  # not 2 frames
    ],
)
def test_a_bad_set_value_is_refused_before_rendering(
    tmp_path: Path, setting: str, said: str
) -> None:
    out = tmp_path / "out"
    result = run_cli("render", str(SETTINGS), "--preview", "--set", setting, "--out", str(out))
    assert result.returncode == 2
    assert said in _last_line(result)
    assert not (out / "frames").exists()


def test_a_job_file_cannot_allow_pickle_by_itself(tmp_path: Path) -> None:
    checkpoint = tmp_path / "model.ckpt"
    checkpoint.write_bytes(b"not really a pickle")
    data = json.loads(run_cli("import-settings", str(SETTINGS)).stdout)
    data["model"] = {**data["model"], "id": str(checkpoint), "allow_pickle": True}
    job = tmp_path / "job.json"
    job.write_text(json.dumps(data))
    out = tmp_path / "out"
    result = run_cli("render", str(job), "--out", str(out), "--device", "cpu")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "allow_pickle: ignored" in result.stderr and "--set allow_pickle=true" in result.stderr
    assert "allow_pickle" in _last_line(result) and "model.ckpt" in _last_line(result)
    assert not frame_files(out)
