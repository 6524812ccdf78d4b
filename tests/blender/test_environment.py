"""The worker environment setup: the exact commands, the log, and a real venv."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deforum_blender.blender.environment import (
    CUDA_CHOICES,
    NO_DEPS_REQUIREMENTS,
    REQUIREMENTS,
    EnvironmentSetup,
    run_commands,
    setup_commands,
    venv_python,
)
from deforum_blender.core.errors import DeforumInputError
from tests.helpers import ROOT


def test_setup_creates_a_venv_then_installs_the_pinned_requirements_from_the_cuda_index(
    tmp_path: Path,
) -> None:
    venv_dir = tmp_path / "worker_venv"
    python = str(venv_python(venv_dir))
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    index = ["--extra-index-url", "https://download.pytorch.org/whl/cu128"]
    assert setup_commands("/blender/python3.11", venv_dir, "cu128") == [
        ["/blender/python3.11", "-m", "venv", str(venv_dir)],
        [*pip, "--upgrade", "pip"],
        [*pip, "-r", str(REQUIREMENTS), *index],
        [*pip, "--no-deps", "-r", str(NO_DEPS_REQUIREMENTS)],
    ]


def test_the_default_build_comes_from_pypi_and_cpu_from_the_cpu_index(tmp_path: Path) -> None:
    default = setup_commands("python", tmp_path, "default")[2]
    assert "--extra-index-url" not in default and "--index-url" not in default
    cpu = setup_commands("python", tmp_path, "cpu")[2]
    assert cpu[-2:] == ["--extra-index-url", "https://download.pytorch.org/whl/cpu"]
    assert all(url is None or url.startswith("https://") for _, url in CUDA_CHOICES.values())


def test_an_unknown_cuda_choice_lists_the_choices(tmp_path: Path) -> None:
    with pytest.raises(DeforumInputError, match="cu128"):
        setup_commands("python", tmp_path, "cuda12")


def test_the_requirements_are_the_shipped_exact_pins_of_the_worker_packages() -> None:
    assert REQUIREMENTS == ROOT / "deforum_blender" / "worker_requirements.txt"
    pins = dict(
        line.split("==")
        for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )
    assert {"torch", "diffusers", "transformers", "safetensors", "numpy"} <= set(pins)
    assert "opencv-python-headless" in pins and "opencv-python" not in pins
    assert "bpy" not in pins


def test_spandrel_is_pinned_and_installed_without_its_torchvision_requirement() -> None:
    assert NO_DEPS_REQUIREMENTS == ROOT / "deforum_blender" / "worker_requirements_no_deps.txt"
    pins = dict(
        line.split("==")
        for line in NO_DEPS_REQUIREMENTS.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )
    assert set(pins) == {"spandrel", "einops"}  # no torchvision: it could replace torch


def test_commands_stream_their_output_to_the_log_and_stop_at_the_first_failure(
    tmp_path: Path,
) -> None:
    lines: list[str] = []
    log = tmp_path / "logs" / "setup.log"
    status = run_commands(
        [
            [sys.executable, "-c", "print('Collecting torch==2.13.0')"],
            [sys.executable, "-c", "import sys; sys.exit('ERROR: no matching distribution')"],
            [sys.executable, "-c", "print('never runs')"],
        ],
        log,
        lines.append,
    )
    assert status == 1
    text = log.read_text(encoding="utf-8")
    assert text.splitlines() == lines
    assert "Collecting torch==2.13.0" in lines and "ERROR: no matching distribution" in lines
    assert lines[-1] == "error: the command above failed with exit status 1"
    assert "never runs" not in text
    assert run_commands([[str(tmp_path / "no-python"), "-V"]], log) == 127


def test_the_first_command_makes_a_real_venv_from_this_python(tmp_path: Path) -> None:
    venv_dir = tmp_path / "worker_venv"
    create = setup_commands(sys.executable, venv_dir)[:1]
    assert run_commands(create, tmp_path / "setup.log") == 0
    version = subprocess.run(
        [str(venv_python(venv_dir)), "-c", "import sys; print(sys.prefix)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(version.stdout.strip()) == venv_dir


@pytest.mark.skipif(
    os.environ.get("DEFORUM_TEST_NETWORK") != "1",
    reason="installs torch from the network; set DEFORUM_TEST_NETWORK=1 where a registry is",
)
def test_the_full_setup_installs_a_worker_python_that_imports_torch_and_diffusers(
    tmp_path: Path,
) -> None:
    setup = EnvironmentSetup(tmp_path / "worker_venv", "cpu", python=sys.executable).start()
    setup.thread.join(timeout=3600)
    assert setup.status == 0, "\n".join(setup.lines)
    check = [str(venv_python(tmp_path / "worker_venv")), "-c", "import torch, diffusers, einops"]
    assert subprocess.run(check).returncode == 0
