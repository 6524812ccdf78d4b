"""The model manager: the models on this machine in the add-on's preferences, downloads with
progress, removal, and the pickers beside the scene's model fields (Model, Draft Model,
Tiny VAE, Depth Model, each ControlNet unit's Model, Upscale Model), each offering the
models of its kind.

The list comes from ``core.model_cache`` (the hub cache and the preferences' model folders,
read without huggingface_hub) and is remembered until Refresh, a download, a removal or a
change on disk that a few stats reveal (a pull in a terminal), so drawing stays fast. A
download runs ``models pull`` in the worker environment
(:class:`model_download.ModelDownload`); in the UI a ``bpy.app.timers`` tick follows it and
redraws the preferences and the status bar; in background mode the operator waits.
Downloads happen only while Blender's online access is on.
"""

from __future__ import annotations

import atexit
import sys
from pathlib import Path
from typing import Any

import bpy

from ..core import controlnet
from ..core.errors import DeforumInputError
from ..core.model_cache import (
    LocalModel,
    hub_cache_dir,
    human_size,
    local_models,
    models_stamp,
    remove_cached,
)
from ..core.model_catalog import KINDS, SUGGESTED, WEIGHT_SUFFIXES
from .model_download import ModelDownload
from .properties import deforum_settings
from .ui import OperatorResult, popup, reported, tag_redraw

TICK_SECONDS = 0.25  # how often the UI timer looks at the download
REDRAWN_AREAS = ("PREFERENCES",)
#: The scene.deforum fields that name a model, and the kind of model each takes. Not here:
#: the LoRA and embeddings folders (prompts name the files in them, no model is picked) and
#: interpolation_model (the engine runs no interpolation weights yet: it would be refused).
PICKED_FIELDS: dict[str, str] = {
    "model": "sd",
    "draft_model": "sd",
    "tiny_vae": "tiny-vae",
    "depth_model": "depth",
    **{f"cn_{n}_model": "controlnet" for n in range(1, controlnet.UNIT_COUNT + 1)},
    "r_upscale_model": "upscaler",
}
FILE_KINDS = frozenset({"upscaler"})  # their field takes a weights file (spandrel loads one)
FOLDER_KINDS = frozenset({"tiny-vae", "depth"})  # their field takes a hub id or a folder

# -- the list (remembered: drawing never walks the disk) -----------------------------------

# The list, under the stamp of what it read (core.model_cache.models_stamp): a model pulled
# or removed by another process (``models pull`` in a terminal) changes the stamp.
_LISTED: dict[tuple[object, ...], tuple[list[LocalModel], list[str]]] = {}


def _addon_preferences() -> Any | None:
    # Imported here: environment_ops imports the render session, which imports much.
    from .environment_ops import addon_preferences

    return addon_preferences()


def model_folders() -> tuple[str, ...]:
    """The model folders set in the preferences (none when the add-on is not enabled)."""
    preferences = _addon_preferences()
    if preferences is None:
        return ()
    return tuple(item.path for item in preferences.model_folders if item.path.strip())


def listed_models() -> tuple[list[LocalModel], list[str]]:
    """The models on this machine and the model-folder problems, remembered until refreshed
    or until the cache or a model folder changes on disk (a few stats tell)."""
    paths = [Path(bpy.path.abspath(folder)) for folder in model_folders()]
    key = models_stamp(paths)
    if key not in _LISTED:
        _LISTED.clear()
        _LISTED[key] = local_models(paths)
    return _LISTED[key]


def forget_models() -> None:
    """List the models again on the next draw (after a download, a removal, Refresh)."""
    _LISTED.clear()


def pickable_models(kind: str = "sd") -> list[LocalModel]:
    """Whole models of ``kind`` (a pull cut short is never offered)."""
    return [m for m in listed_models()[0] if m.kind == kind and m.complete]


def _weights_file(model: LocalModel) -> Path | None:
    """The model's one weights file (a hub snapshot holding a single file), else None."""
    if model.path.is_file():
        return model.path
    try:
        weights = [p for p in model.path.iterdir() if p.suffix.lower() in WEIGHT_SUFFIXES]
    except OSError:
        return None
    return weights[0] if len(weights) == 1 else None


def pick_choices(kind: str) -> list[tuple[str, str]]:
    """(label, value) per whole model of ``kind``: its hub id or path; for a field that
    takes a weights file, the file (models without exactly one are left out); for one that
    takes a folder, no single files."""
    if kind in FOLDER_KINDS:
        return [(m.name, m.name) for m in pickable_models(kind) if not m.path.is_file()]
    if kind not in FILE_KINDS:
        return [(model.name, model.name) for model in pickable_models(kind)]
    files = [(model.name, _weights_file(model)) for model in pickable_models(kind)]
    return [(name, str(path)) for name, path in files if path is not None]


def check_pick(target: str, kind: str) -> str:
    """The kind of model to offer for ``target`` (``kind``, else the field's own)."""
    if target not in PICKED_FIELDS:
        raise DeforumInputError(
            f"pick model: {target!r} is not a model field; use one of {', '.join(PICKED_FIELDS)}"
        )
    kind = kind or PICKED_FIELDS[target]
    if kind not in KINDS:
        raise DeforumInputError(
            f"pick model: kind {kind!r} is unknown; use one of {', '.join(KINDS)}"
        )
    return kind


# -- the download ---------------------------------------------------------------------------

_DOWNLOADS: list[ModelDownload] = []  # the latest download of this Blender session


def current_download() -> ModelDownload | None:
    """The latest download of this session, running or finished."""
    return _DOWNLOADS[-1] if _DOWNLOADS else None


def running_download() -> ModelDownload | None:
    """The download still running, if any."""
    download = current_download()
    return download if download is not None and not download.finished else None


def check_online_access(repo_id: str) -> None:
    """Refuse to download while Blender's online access is off, naming how to turn it on."""
    if bpy.app.online_access:
        return
    fix = (
        "start Blender without --offline-mode"
        if bpy.app.online_access_override
        else "allow it in Preferences > System > Network > Allow Online Access"
    )
    raise DeforumInputError(
        f"downloading {repo_id!r} needs online access, which is off; {fix} "
        f"(or run `python -m deforum_blender models pull {repo_id}` yourself)"
    )


def start_download(repo_id: str, *, blocking: bool, sha256: str = "") -> ModelDownload:
    """Start ``models pull`` (followed by the UI timer), or with ``blocking`` wait for it;
    ``sha256`` (when not empty) goes to its ``--sha256``, which checks it.

    Raises DeforumInputError for an empty id, online access off, a download already
    running, the worker environment being set up, or no worker environment.
    """
    from .environment_ops import running_setup, worker_python_cached
    from .worker_client import worker_env

    repo_id = repo_id.strip()
    if not repo_id:
        raise DeforumInputError(
            "Download: the Hugging Face id is empty; type one (org/name), e.g. stabilityai/sd-turbo"
        )
    check_online_access(repo_id)
    if running_download() is not None:
        raise DeforumInputError("a model is being downloaded; wait for it or cancel it")
    if running_setup() is not None:  # pip is still installing what the download runs with
        raise DeforumInputError(
            "the worker environment is being set up; download the model after it ends"
        )
    found, problem = worker_python_cached()
    if found is None:
        message = problem.message if problem is not None else "no worker Python"
        raise DeforumInputError(f"models are downloaded by the worker's Python: {message}")
    download = ModelDownload(
        repo_id,
        found.path,
        sha256=sha256.strip() or None,
        env=worker_env(downloads=True),
        on_line=print if blocking else None,
    )
    _DOWNLOADS[:] = [download]
    download.start()
    if blocking:
        download.wait()
        forget_models()
    elif not bpy.app.timers.is_registered(tick):  # the last download's may not have seen its end
        bpy.app.timers.register(tick, first_interval=TICK_SECONDS)
    return download


def cancel_running() -> None:
    """Stop the running download, if any (Blender exits, the add-on is disabled)."""
    download = running_download()
    if download is not None:
        download.cancel()


atexit.register(cancel_running)  # a pull must not outlive Blender unseen


def tick() -> float | None:
    """The UI timer: redraw what shows the download; None once it has ended."""
    download = current_download()
    if download is None:
        return None
    tag_redraw(REDRAWN_AREAS)
    if not download.finished:
        return TICK_SECONDS
    forget_models()
    ok = download.succeeded or download.cancelled
    print(f"Deforum: {download.text()}", file=sys.stdout if ok else sys.stderr)
    popup(download.text(), "INFO" if ok else "ERROR")
    return None


# -- drawing --------------------------------------------------------------------------------


def draw_download(layout: Any, download: ModelDownload) -> None:
    """The running download's bar and Cancel, or how the last one ended."""
    if not download.finished:
        row = layout.row(align=True)
        row.progress(factor=download.fraction, type="BAR", text=download.text())
        row.operator("deforum.cancel_download", text="", icon="CANCEL")
        return
    row = layout.row()
    row.alert = not (download.succeeded or download.cancelled)
    icon = "CHECKMARK" if download.succeeded else ("CANCEL" if download.cancelled else "ERROR")
    row.label(text=download.text(), icon=icon)


def _model_row(layout: Any, model: LocalModel) -> None:
    row = layout.row()
    row.alert = not model.complete
    text = f"{model.name}   {human_size(model.size)}   [{model.source}]"
    if not model.complete:
        text += f"   incomplete (missing {', '.join(model.missing)})"
    row.label(text=text, icon="FILE_FOLDER" if model.source == "folder" else "URL")
    if model.source == "hf-cache":
        if not model.complete:
            finish = row.operator("deforum.download_model", text="Finish", icon="IMPORT")
            finish.repo_id = model.name
        remove = row.operator("deforum.remove_model", text="", icon="TRASH")
        remove.repo_id = model.name


def draw_models(layout: Any) -> None:
    """The preferences' model manager: folders, the models by kind, download, suggestions."""
    preferences = _addon_preferences()  # None until enabled: no folders, no id field yet
    box = layout.box()
    header = box.row()
    header.label(text="Models", icon="FILE_3D")
    header.operator("deforum.refresh_models", text="", icon="FILE_REFRESH")
    box.label(text=f"Hugging Face cache: {hub_cache_dir()}", icon="DISK_DRIVE")
    if preferences is not None:
        for index, folder in enumerate(preferences.model_folders):
            row = box.row(align=True)
            row.prop(folder, "path", text="Model Folder")
            remove = row.operator("deforum.remove_model_folder", text="", icon="X")
            remove.index = index
        box.operator("deforum.add_model_folder", icon="ADD")

    found, problems = listed_models()
    for problem in problems:
        alert = box.row()
        alert.alert = True
        alert.label(text=problem, icon="ERROR")
    if not found:
        box.label(text="No models yet: download one below", icon="INFO")
    for kind, title in KINDS.items():
        models = [model for model in found if model.kind == kind]
        if models:
            column = box.column(align=True)
            column.label(text=f"{title} ({len(models)})")
            for model in models:
                _model_row(column, model)

    download_box = box.box()
    if preferences is not None:
        row = download_box.row(align=True)
        row.prop(preferences, "download_id")
        row.operator("deforum.download_model", text="Download", icon="IMPORT")
        download_box.prop(preferences, "download_sha256")
    if not bpy.app.online_access:
        download_box.label(
            text="Online access is off: Preferences > System > Network > Allow Online Access",
            icon="INFO",
        )
    download = current_download()
    if download is not None:
        draw_download(download_box, download)

    cached = {model.name for model in found if model.complete}
    suggested = box.column(align=True)
    suggested.label(text="Suggested Models")
    for suggestion in SUGGESTED:
        row = suggested.row()
        title = KINDS[suggestion.kind]
        row.label(text=f"{title}: {suggestion.id} ({suggestion.note}; {suggestion.licence})")
        if suggestion.id in cached:
            row.label(text="", icon="CHECKMARK")
        else:
            button = row.operator("deforum.download_model", text="", icon="IMPORT")
            button.repo_id = suggestion.id


def draw_status(header: Any, _context: Any) -> None:
    """The status bar: the running download's progress."""
    download = running_download()
    if download is not None:
        header.layout.progress(factor=download.fraction, type="BAR", text=download.text())


def draw_picker_menu(menu: Any, _context: Any, target: str = "model", kind: str = "") -> None:
    """The picker's popup: one button per whole model of the kind ``target`` takes."""
    kind = check_pick(target, kind)
    choices = pick_choices(kind)
    if not choices:
        menu.layout.label(text=f"No {KINDS[kind]} models yet: Preferences > Add-ons > Deforum")
    for label, value in choices:
        button = menu.layout.operator("deforum.pick_model", text=label)
        button.name, button.target, button.kind = value, target, kind


def draw_picker(layout: Any, target: str) -> None:
    """The button beside a model field that pops up the models of its kind."""
    button = layout.operator("deforum.pick_model", text="", icon="DOWNARROW_HLT")
    button.target, button.kind = target, PICKED_FIELDS[target]


# -- operators ------------------------------------------------------------------------------


class DEFORUM_OT_download_model(bpy.types.Operator):
    """Download a model from the Hugging Face hub into its cache (needs online access)"""

    bl_idname = "deforum.download_model"
    bl_label = "Download Model"
    bl_options = {"REGISTER"}  # noqa: RUF012 - Blender reads a set

    repo_id: bpy.props.StringProperty(
        name="Hugging Face Id",
        description="The model to download, as org/name; empty: the id typed in the preferences",
        default="",
    )
    sha256: bpy.props.StringProperty(
        name="SHA-256",
        description="The expected sha256 of the model's one checkpoint file; empty: not "
        "checked (with no id, the SHA-256 typed in the preferences)",
        default="",
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if running_download() is not None:
            cls.poll_message_set("A model is being downloaded")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> OperatorResult:
        preferences = _addon_preferences()
        repo_id, sha256 = self.repo_id, self.sha256
        if not repo_id and preferences is not None:  # the id and hash typed in the preferences
            repo_id, sha256 = preferences.download_id, preferences.download_sha256
        background = bool(bpy.app.background)
        download = reported(
            self, lambda: start_download(repo_id, blocking=background, sha256=sha256)
        )
        if download is None:
            return {"CANCELLED"}
        if not background:
            self.report({"INFO"}, f"Deforum: downloading {download.repo_id}")
            return {"FINISHED"}
        if not download.succeeded:
            self.report({"ERROR"}, f"Deforum: {download.text()}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Deforum: {download.text()}")
        return {"FINISHED"}


class DEFORUM_OT_cancel_download(bpy.types.Operator):
    """Stop the model download (Download again fetches what is still missing)"""

    bl_idname = "deforum.cancel_download"
    bl_label = "Cancel Download"
    bl_options = {"REGISTER"}  # noqa: RUF012 - Blender reads a set

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return running_download() is not None

    def execute(self, context: bpy.types.Context) -> OperatorResult:
        download = running_download()
        if download is not None:
            download.cancel()
        return {"FINISHED"}


class DEFORUM_OT_remove_model(bpy.types.Operator):
    """Delete this model from the Hugging Face cache (download it again to get it back)"""

    bl_idname = "deforum.remove_model"
    bl_label = "Remove Model"
    bl_options = {"REGISTER"}  # noqa: RUF012 - Blender reads a set

    repo_id: bpy.props.StringProperty(
        name="Hugging Face Id", description="The cached model to delete, as org/name", default=""
    )

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> OperatorResult:
        manager = context.window_manager
        assert manager is not None
        return manager.invoke_confirm(
            self, event, title="Remove Model", message=f"Delete {self.repo_id} from the cache?"
        )

    def execute(self, context: bpy.types.Context) -> OperatorResult:
        download = running_download()
        if download is not None and download.repo_id == self.repo_id.strip():
            self.report({"ERROR"}, f"{self.repo_id} is being downloaded; cancel it first")
            return {"CANCELLED"}
        freed = reported(self, lambda: remove_cached(self.repo_id))
        forget_models()
        if freed is None:
            return {"CANCELLED"}
        self.report({"INFO"}, f"Deforum: removed {self.repo_id} ({human_size(freed)} freed)")
        return {"FINISHED"}


class DEFORUM_OT_refresh_models(bpy.types.Operator):
    """Look for models in the Hugging Face cache and the model folders again"""

    bl_idname = "deforum.refresh_models"
    bl_label = "Refresh Models"
    bl_options = {"REGISTER"}  # noqa: RUF012 - Blender reads a set

    def execute(self, context: bpy.types.Context) -> OperatorResult:
        forget_models()
        tag_redraw(REDRAWN_AREAS, status_bar=False)
        return {"FINISHED"}


def _mark_dirty(context: bpy.types.Context) -> None:
    """Changed preferences are saved on exit (with auto-save) like any edited in the UI."""
    if context.preferences is not None:
        context.preferences.is_dirty = True


class DEFORUM_OT_add_model_folder(bpy.types.Operator):
    """Add a folder to look for models in (diffusers folders, .safetensors files)"""

    bl_idname = "deforum.add_model_folder"
    bl_label = "Add Model Folder"
    bl_options = {"REGISTER"}  # noqa: RUF012 - Blender reads a set

    def execute(self, context: bpy.types.Context) -> OperatorResult:
        preferences = _addon_preferences()
        if preferences is None:
            self.report({"ERROR"}, "Deforum: enable the add-on to set its model folders")
            return {"CANCELLED"}
        preferences.model_folders.add()
        _mark_dirty(context)
        return {"FINISHED"}


class DEFORUM_OT_remove_model_folder(bpy.types.Operator):
    """Stop looking for models in this folder (its files stay)"""

    bl_idname = "deforum.remove_model_folder"
    bl_label = "Remove Model Folder"
    bl_options = {"REGISTER"}  # noqa: RUF012 - Blender reads a set

    index: bpy.props.IntProperty(name="Index", description="Which model folder", min=0)

    def execute(self, context: bpy.types.Context) -> OperatorResult:
        preferences = _addon_preferences()
        if preferences is None or self.index >= len(preferences.model_folders):
            self.report({"ERROR"}, f"Deforum: there is no model folder number {self.index + 1}")
            return {"CANCELLED"}
        preferences.model_folders.remove(self.index)
        _mark_dirty(context)
        forget_models()
        return {"FINISHED"}


class DEFORUM_OT_pick_model(bpy.types.Operator):
    """Set a model field of the scene to a model on this machine (the add-on's preferences
    list them)"""

    bl_idname = "deforum.pick_model"
    bl_label = "Pick Model"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 - Blender reads a set

    name: bpy.props.StringProperty(
        name="Model", description="Hugging Face id or path of the model", default=""
    )
    target: bpy.props.StringProperty(
        name="Field",
        description="The scene's model field to set: model, draft_model, tiny_vae, "
        "depth_model, cn_1_model … cn_5_model or r_upscale_model",
        default="model",
    )
    kind: bpy.props.StringProperty(
        name="Kind",
        description="The kind of model offered (sd, depth, controlnet, upscaler, …); "
        "empty: the kind the field takes",
        default="",
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene is not None and hasattr(context.scene, "deforum")

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> OperatorResult:
        if self.name:
            return self.execute(context)
        target = self.target
        kind = reported(self, lambda: check_pick(target, self.kind))
        if kind is None:
            return {"CANCELLED"}

        def draw(menu: Any, menu_context: Any) -> None:
            draw_picker_menu(menu, menu_context, target, kind)

        manager = context.window_manager
        assert manager is not None
        title = f"{KINDS[kind]} Models on This Machine"
        manager.popup_menu(draw, title=title[0].upper() + title[1:], icon="FILE_3D")
        return {"CANCELLED"}  # the menu's buttons set the model, each its own step

    def execute(self, context: bpy.types.Context) -> OperatorResult:
        if reported(self, lambda: check_pick(self.target, self.kind)) is None:
            return {"CANCELLED"}
        if not self.name.strip():
            self.report({"ERROR"}, "Deforum: pick a model: the name is empty")
            return {"CANCELLED"}
        scene = context.scene
        assert scene is not None
        settings = deforum_settings(scene)
        setattr(settings, self.target, self.name)
        label = settings.bl_rna.properties[self.target].name
        self.report({"INFO"}, f"Deforum: {label} is {self.name}")
        return {"FINISHED"}


CLASSES = (
    DEFORUM_OT_download_model,
    DEFORUM_OT_cancel_download,
    DEFORUM_OT_remove_model,
    DEFORUM_OT_refresh_models,
    DEFORUM_OT_add_model_folder,
    DEFORUM_OT_remove_model_folder,
    DEFORUM_OT_pick_model,
)


def register() -> None:
    """Register the operators and the status bar's download progress."""
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.STATUSBAR_HT_header.append(draw_status)


def unregister() -> None:
    """Stop following a download (cancelled: no one would show its end) and unregister."""
    cancel_running()
    _DOWNLOADS.clear()
    if bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)
    bpy.types.STATUSBAR_HT_header.remove(draw_status)
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
    forget_models()
