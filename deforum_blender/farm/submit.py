"""``deforum-blender farm submit``: a seed sweep of a standalone job, sent to Flamenco.

The request is the one Flamenco's Blender add-on sends (``POST /api/v3/jobs`` with
``name``, ``type``, ``priority``, ``submitter_platform``, ``settings``, ``metadata``), for
the job type ``deforum-blender``; its tasks run ``{deforum_python} -m deforum_blender
render`` on the workers. Standard library HTTP only.
"""

from __future__ import annotations

import getpass
import json
import os
import platform
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..core.deforum_settings import load_job_or_settings
from ..core.errors import DeforumInputError
from ..core.farm_plan import seed_list, variants, variants_json
from ..core.job import save_job
from ..core.overrides import apply_overrides, parse_set_arguments
from . import JOB_TYPE_NAME

JOBS_ENDPOINT = "/api/v3/jobs"


class ManagerError(Exception):
    """The Manager could not be reached or refused the job; ``bad_input`` for a 4xx."""

    def __init__(self, message: str, *, bad_input: bool = False) -> None:
        super().__init__(message)
        self.bad_input = bad_input


@dataclass(frozen=True)
class Submission:
    """What ``farm submit`` was asked for."""

    job_path: str
    manager: str
    output_root: str
    seeds: str = ""
    seed_count: int = 1
    name: str = ""
    priority: int = 50
    overrides: tuple[str, ...] = ()
    make_video: bool = True


def prepare(submission: Submission) -> tuple[dict[str, Any], list[str]]:
    """Write the job to shared storage and return the request body and warnings."""
    job, warnings = load_job_or_settings(submission.job_path)
    if submission.overrides:
        job = apply_overrides(job, parse_set_arguments(list(submission.overrides)))
    if not 0 <= submission.priority <= 100:
        raise DeforumInputError(f"--priority {submission.priority}: use 0–100 (Flamenco's range)")
    seeds = seed_list(submission.seeds, submission.seed_count, job.seeds.seed, "--seeds")
    name = submission.name or Path(submission.job_path).stem
    if not name.strip(" .") or any(c in name for c in "/\\:"):
        raise DeforumInputError(
            f"--name {name!r}: it names the job's folder; use letters, digits, - and _"
        )
    folder = Path(os.path.abspath(submission.output_root)) / name
    folder.mkdir(parents=True, exist_ok=True)
    job_file = folder / "job.json"
    save_job(job, job_file)
    settings: dict[str, Any] = {
        "render_output_root": os.path.abspath(submission.output_root),
        "output_root": str(folder),
        "job_file": str(job_file),
        "variants": variants_json(variants(seeds)),
        "fps": float(job.fps),
        "make_video": submission.make_video,
    }
    body = {
        "name": name,
        "type": JOB_TYPE_NAME,
        "priority": submission.priority,
        "submitter_platform": platform.system().lower(),
        "settings": settings,
        "metadata": {"user.name": getpass.getuser(), "deforum_blender.version": __version__},
    }
    return body, warnings


def _error_message(status: int, reason: str, body: bytes) -> str:
    """Flamenco's error body (``{"code": …, "message": …}``) as one line."""
    try:
        message = str(json.loads(body.decode("utf-8"))["message"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        message = body.decode("utf-8", "replace").strip()
    message = " ".join(message.split())[:300]
    return f"HTTP {status} {reason}" + (f": {message}" if message else "")


def send(manager: str, body: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    """POST the job to the Manager; the job it made (with its ``id``) or a ManagerError."""
    url = manager.rstrip("/") + JOBS_ENDPOINT
    if not url.startswith(("http://", "https://")):
        raise ManagerError(
            f"--manager {manager!r}: not an http(s) address; use e.g. http://manager:8080",
            bad_input=True,
        )
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer: Any = json.loads(response.read().decode("utf-8") or "{}")
    except urllib.error.HTTPError as error:
        detail = _error_message(error.code, error.reason, error.read())
        raise ManagerError(
            f"Flamenco Manager {manager} refused the job: {detail}",
            bad_input=400 <= error.code < 500,
        ) from None
    except (urllib.error.URLError, OSError) as error:
        why = getattr(error, "reason", error)
        raise ManagerError(
            f"Flamenco Manager {manager} cannot be reached ({why}); check --manager"
        ) from None
    except ValueError:
        raise ManagerError(f"Flamenco Manager {manager} answered with something not JSON") from None
    return answer if isinstance(answer, dict) else {}
