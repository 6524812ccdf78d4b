"""The command line: sub-commands exist only when built, and errors map to exit statuses."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


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
