"""Render farms: the Flamenco job type (``deforum_blender.js``) and its submit helper.

The job type is the file a Flamenco Manager admin copies into the Manager's ``scripts/``
folder; ``submit`` sends a standalone job (no Blender) to a Manager. See docs/farm.md.
"""

from __future__ import annotations

from pathlib import Path

#: The job type file, and its name on the Manager (the file name, ``_`` read as ``-``).
JOB_TYPE_FILE = Path(__file__).resolve().parent / "deforum_blender.js"
JOB_TYPE_NAME = "deforum-blender"
