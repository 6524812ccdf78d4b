"""``deforum.setup_environment`` in real Blender (the ``bpy`` module): refusal, a real venv, the UI.

The setup runs for real — a venv made from this Python, then pip — but offline: the
requirements files are an empty one and ``PIP_NO_INDEX`` keeps pip from any index, so pip
installs nothing and reaches for no network. Installing the real pins is
``test_environment.py``'s network test.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

bpy = pytest.importorskip("bpy")

import deforum_blender  # noqa: E402
from deforum_blender.blender import environment, environment_ops, panels  # noqa: E402
from deforum_blender.blender.environment import CUDA_CHOICES, LOG_NAME, venv_python  # noqa: E402
from deforum_blender.blender.preferences import DEFORUM_AP_preferences  # noqa: E402
from deforum_blender.blender.prompts import add_prompt  # noqa: E402
from deforum_blender.blender.worker_client import (  # noqa: E402
    ENV_VARIABLE,
    SETUP_OPERATOR,
    find_worker_python,
)
from tests.helpers import RecordingLayout, draw  # noqa: E402


class PreferencesLayout(RecordingLayout):
    """The panels' recording layout, plus the enum menu button the preferences draw."""

    def _child(self, function: str, **kwargs: Any) -> PreferencesLayout:
        self._check(function, kwargs)
        child = PreferencesLayout(self.record)
        self.record.setdefault("containers", []).append(child)
        return child

    def operator_menu_enum(self, idname: str, property: str, **kwargs: Any) -> None:
        self._check("operator_menu_enum", kwargs)
        self.record.setdefault("menus", []).append((idname, property, self))


@pytest.fixture
def venv_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The registered add-on with its user files under tmp_path; yields where its venv goes."""
    monkeypatch.setenv("BLENDER_USER_DATAFILES", str(tmp_path / "datafiles"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # offline: pip looks at no index at all
    monkeypatch.delenv(ENV_VARIABLE, raising=False)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("", encoding="utf-8")
    monkeypatch.setattr(environment, "REQUIREMENTS", requirements)
    monkeypatch.setattr(environment, "NO_DEPS_REQUIREMENTS", requirements)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    deforum_blender.register()
    try:
        yield tmp_path / "datafiles" / "deforum_blender" / environment.VENV_FOLDER
    finally:
        bpy.context.preferences.system.use_online_access = False
        deforum_blender.unregister()
        bpy.ops.wm.read_factory_settings(use_empty=True)


def draw_preferences() -> dict[str, list[Any]]:
    """The add-on preferences' draw with a recording layout; the record."""
    record: dict[str, list[Any]] = {}
    DEFORUM_AP_preferences.draw(SimpleNamespace(layout=PreferencesLayout(record)), bpy.context)
    return record


def test_the_operator_is_the_one_the_worker_error_names_with_every_pytorch_build(
    venv_dir: Path,
) -> None:
    assert SETUP_OPERATOR == "deforum.setup_environment"
    rna = bpy.ops.deforum.setup_environment.get_rna_type()
    assert rna.identifier == "DEFORUM_OT_setup_environment"
    cuda = rna.properties["cuda"]
    assert [item.identifier for item in cuda.enum_items] == list(CUDA_CHOICES)
    assert cuda.default == "default"


def test_with_online_access_off_it_refuses_and_says_how_to_allow_it(venv_dir: Path) -> None:
    before = environment_ops.current_setup()
    bpy.context.preferences.system.use_online_access = False
    assert not bpy.app.online_access
    with pytest.raises(RuntimeError, match="Preferences > System > Network > Allow Online"):
        bpy.ops.deforum.setup_environment(cuda="cpu")
    assert environment_ops.current_setup() is before
    assert not venv_dir.parent.exists()
    labels = draw_preferences()["labels"]
    assert any("Online access is off" in label for label in labels)


def test_a_background_setup_makes_the_venv_the_worker_then_uses(
    venv_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bpy.context.preferences.system.use_online_access = True
    assert bpy.ops.deforum.setup_environment(cuda="cpu") == {"FINISHED"}
    python = venv_python(venv_dir)
    assert python.is_file()
    log = (venv_dir.parent / LOG_NAME).read_text(encoding="utf-8").splitlines()
    assert log[0] == f"$ {sys.executable} -m venv {venv_dir}"
    assert log[-1] == "done"
    assert any("--extra-index-url https://download.pytorch.org/whl/cpu" in line for line in log)
    printed = capsys.readouterr().out.splitlines()
    assert all(line in printed for line in log)  # background mode prints every line
    # The preference stays empty: the worker client finds the add-on's venv by itself.
    chosen = find_worker_python()
    assert (chosen.source, chosen.path) == ("venv", str(python))
    assert environment_ops.worker_problem() is None
    labels = draw_preferences()["labels"]
    assert any(str(python) in label and "add-on's environment" in label for label in labels)


def test_a_failed_setup_reports_pips_error_and_the_log(
    venv_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    requirements = tmp_path / "missing.txt"
    requirements.write_text("deforum-no-such-package==1.0\n", encoding="utf-8")
    monkeypatch.setattr(environment, "REQUIREMENTS", requirements)
    bpy.context.preferences.system.use_online_access = True
    with pytest.raises(RuntimeError) as error:
        bpy.ops.deforum.setup_environment(cuda="default")
    message = str(error.value)
    assert "failed (exit status 1)" in message and str(venv_dir.parent / LOG_NAME) in message
    assert "deforum-no-such-package" in message  # pip's own error line, not only ours
    record = draw_preferences()
    assert any(box.alert for box in record["containers"])
    assert any("deforum-no-such-package" in label for label in record["labels"])


def test_in_the_ui_a_timer_follows_the_setup_and_the_panels_show_its_progress(
    venv_dir: Path,
) -> None:
    bpy.context.preferences.system.use_online_access = True
    setup = environment_ops.start_setup("cpu", blocking=False)
    assert bpy.app.timers.is_registered(environment_ops.tick)
    # Timers never fire in background mode: drive the tick as Blender's UI would.
    ticks = [environment_ops.tick()]
    running_labels = draw_preferences()["labels"]
    problem = environment_ops.worker_problem()
    assert not bpy.ops.deforum.setup_environment.poll()  # one setup at a time
    deadline = time.monotonic() + 300
    while ticks[-1] is not None and time.monotonic() < deadline:
        time.sleep(0.05)
        ticks.append(environment_ops.tick())
    assert setup.status == 0, "\n".join(setup.lines)
    assert ticks[0] == environment_ops.TICK_SECONDS and ticks[-1] is None
    assert any(
        label.startswith("Setting up the worker environment (cpu)") for label in running_labels
    )
    assert problem is not None and problem.message.startswith("Setting up")
    done = draw_preferences()["labels"]
    assert f"The worker environment is ready: {venv_python(venv_dir)}" in done
    assert f"Log: {venv_dir.parent / LOG_NAME}" in done
    assert bpy.ops.deforum.setup_environment.poll()
    bpy.app.timers.unregister(environment_ops.tick)


def test_the_panel_offers_the_setup_when_no_python_has_torch(
    venv_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scene = bpy.context.scene
    add_prompt(scene, 1, "a forest")
    assert environment_ops.worker_problem() is None  # this venv's Python has torch
    monkeypatch.setitem(sys.modules, "torch", None)  # a Python without torch, like Blender's
    environment_ops.forget_worker_python()
    try:
        record = draw(panels.DEFORUM_PT_main, scene)
        preferences = draw_preferences()
    finally:
        environment_ops.forget_worker_python()
    assert SETUP_OPERATOR in record["operators"]
    assert environment_ops.MISSING in record["labels"]
    assert environment_ops.MISSING in preferences["labels"]
    assert [(idname, name) for idname, name, _ in preferences["menus"]] == [
        (SETUP_OPERATOR, "cuda")
    ]


def test_the_preferences_draw_only_real_properties_and_the_setup_menu(venv_dir: Path) -> None:
    record = draw_preferences()
    names = {name for _, name, _ in record["props"]}
    assert names == {"worker_python"}
    assert names <= set(DEFORUM_AP_preferences.bl_rna.properties.keys())
    (idname, name, row), *_ = record["menus"]
    assert idname == SETUP_OPERATOR
    assert name in bpy.ops.deforum.setup_environment.get_rna_type().properties
    assert row.operator_context == "EXEC_DEFAULT"  # the menu is the choice: no second dialog


def test_a_bad_worker_python_setting_is_shown_with_its_own_fix(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-python")
    found, problem = environment_ops.check_worker_python(missing)
    assert found is None and problem is not None
    assert "Worker Python preference" in problem.message and problem.operator is None
    found, problem = environment_ops.check_worker_python("", environ={ENV_VARIABLE: missing})
    assert problem is not None and ENV_VARIABLE in problem.message and problem.operator is None
    found, problem = environment_ops.check_worker_python(
        "", environ={}, venv_dir=tmp_path / "no-venv", blender_has_packages=False
    )
    assert found is None and problem is not None and problem.operator == SETUP_OPERATOR
    found, problem = environment_ops.check_worker_python(
        "", environ={}, venv_dir=tmp_path / "no-venv", blender_has_packages=True
    )
    assert problem is None and found is not None and found.source == "blender"
