"""Whether a render may continue the frames already in its output folder, and its seed.

Frames are continued only when the folder's job (``job.json``), seed and mode (preview or
full, both in ``run.json``) are known and match the render asked for; otherwise the
render is refused, naming what differs. A folder without frames takes any render: its
old records say nothing about frames that are not there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..core.errors import DeforumInputError
from ..core.job import Job, save_job
from ..core.output_layout import JOB_FILE, RUN_FILE
from ..core.output_layout import frame_files as finished_frames
from ..core.seeds import resolve_master_seed

MODES = {True: "a motion preview (--preview)", False: "a full render"}


def _read(path: Path) -> dict[str, Any] | None:
    """A JSON object file; None when missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def differing_keys(earlier: dict[str, Any], asked: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the settings that differ between two job dicts (at most a few)."""
    names = []
    for key in sorted(set(earlier) | set(asked)):
        old, new = earlier.get(key), asked.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and key not in ("params", "prompts"):
            names += differing_keys(old, new, f"{prefix}{key}.")
        else:
            names.append(f"{prefix}{key}")
    return names


def claim_folder(out: Path, job: Job, *, resume: bool, preview: bool) -> int:
    """Check that ``out`` may take this render, record the job there; the master seed.

    Raises :class:`DeforumInputError` naming what differs when the folder holds frames
    this render cannot continue.
    """
    asked = job.to_dict()
    earlier = _read(out / JOB_FILE)
    record = _read(out / RUN_FILE)
    frames = finished_frames(out)
    where = f"output folder {str(out)!r}"
    if not frames:
        if earlier != asked:
            save_job(job, out / JOB_FILE)
        return resolve_master_seed(job.seeds.seed)
    if earlier is None:
        raise DeforumInputError(
            f"{where} holds {len(frames)} frames but no readable {JOB_FILE}, so they cannot "
            "be known to belong to this job; choose another folder, or delete the frames "
            "to start over"
        )
    if earlier != asked:
        differs = ", ".join(differing_keys(earlier, asked)[:6])
        raise DeforumInputError(
            f"{where} holds frames of a different job ({differs} differ); choose another "
            "folder, or delete it to start over"
        )
    if not resume:
        raise DeforumInputError(
            f"{where} already holds frames of this job; continue it with --resume, or "
            "choose another folder"
        )
    seed, was_preview = (record or {}).get("seed"), (record or {}).get("preview")
    if not isinstance(seed, int) or isinstance(seed, bool) or not isinstance(was_preview, bool):
        raise DeforumInputError(
            f"{where}: {RUN_FILE} is missing or damaged, so the seed and mode of its frames "
            "are unknown and new frames might not continue them; render without --resume "
            "into another folder, or delete the frames to start over"
        )
    if was_preview != preview:
        raise DeforumInputError(
            f"{where} holds {MODES[was_preview]}, and this is {MODES[preview]}: its frames "
            "cannot be continued; delete them to start over, or choose another folder"
        )
    if job.seeds.seed != -1 and resolve_master_seed(job.seeds.seed) != seed:
        raise DeforumInputError(
            f"{where}: its frames were rendered with seed {seed}, this job asks for "
            f"{job.seeds.seed}; resume with seed {seed}, or choose another folder"
        )
    return seed
