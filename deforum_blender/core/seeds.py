"""Seeds for every diffused frame, for each of Deforum's seed behaviours, reproducibly.

Deforum advances the seed once per *diffused* frame (cadence in-betweens do not count),
starting from the master seed on the first diffused frame. Its ``next_seed`` rules, kept
exactly (``n`` counts diffused frames from 0, ``s`` is the master seed):

* ``iter``: ``s`` on the first, then +1 before every ``seed_iter_N``-th frame — Deforum
  adds 1 on its first call, so N=2 gives ``s, s+1, s+1, s+2, s+2, …``.
* ``fixed``: ``s`` on every frame.
* ``ladder``: +2, −1, +2, −1, …: ``s, s+2, s+1, s+3, s+2, …``.
* ``alternate``: +1, −1, …: ``s, s+1, s, s+1, …``.
* ``random``: ``s`` on the first; Deforum then draws ``random.randint(0, 2**32−1)``
  from a generator carried across frames. Here each draw is
  ``derive_seed(s, frame, "seed")``, so a resumed render gets the same seeds.
* ``schedule``: ``int(seed_schedule[frame])`` (``s`` is the master seed in the schedule);
  a negative value means a random seed, derived as above.

Seeds are kept in ``0 … 2**32−1`` (wrapping), the range every generator accepts.
The master seed ``-1`` means "pick one": :func:`resolve_master_seed` picks and the
caller records it (``run.json``), so the render can be repeated.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

from .errors import DeforumInputError

SEED_BEHAVIORS = ("iter", "fixed", "random", "ladder", "alternate", "schedule")
SEED_RANGE = 2**32


def derive_seed(seed: int, frame: int, purpose: str) -> int:
    """A seed in ``0 … 2**32−1`` derived from (job seed, frame, purpose) by a stable hash.

    The one source of randomness for the whole render (DESIGN.md "Determinism"): the
    same arguments give the same seed on every machine and Python version.
    """
    digest = hashlib.blake2b(f"{seed}:{frame}:{purpose}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % SEED_RANGE


def resolve_master_seed(seed: int) -> int:
    """``seed`` itself, or a freshly picked one when it is −1; record what this returns."""
    if seed == -1:
        return secrets.randbelow(SEED_RANGE)
    if seed < -1:
        raise DeforumInputError(f"seed: {seed} is negative; use -1 for a random seed or 0 or more")
    return seed % SEED_RANGE


def _offset(behavior: str, n: int, iter_n: int) -> int:
    """Deforum's next_seed applied ``n`` times, as a closed form."""
    if n == 0 or behavior == "fixed":
        return 0
    if behavior == "iter":
        return (n - 1) // iter_n + 1
    if behavior == "ladder":
        return n // 2 + 2 * (n % 2)
    if behavior == "alternate":
        return n % 2
    raise AssertionError(behavior)


def seeds_for_frames(
    diffused_frames: Sequence[int],
    *,
    seed: int,
    behavior: str = "iter",
    iter_n: int = 1,
    schedule: Sequence[float] | None = None,
) -> dict[int, int]:
    """Map each diffused frame index (in render order) to the seed it is diffused with.

    ``seed`` is the resolved master seed (see :func:`resolve_master_seed`); ``schedule``
    is the per-frame ``seed_schedule`` series, needed only for ``behavior="schedule"``.
    Pass every diffused frame from the start of the render, also when resuming: the
    first one gets the master seed and the others count from it.
    """
    if behavior not in SEED_BEHAVIORS:
        raise DeforumInputError(
            f"seed_behavior: {behavior!r} is unknown; use one of {', '.join(SEED_BEHAVIORS)}"
        )
    if iter_n < 1:
        raise DeforumInputError(f"seed_iter_N: {iter_n} is below 1; use 1 or more")
    if seed < 0:
        raise DeforumInputError(
            f"seed: {seed} is not resolved; call resolve_master_seed before seeds_for_frames"
        )
    seeds: dict[int, int] = {}
    for n, frame in enumerate(diffused_frames):
        if behavior == "schedule":
            if schedule is None:
                raise DeforumInputError("seed_schedule: needed for seed_behavior 'schedule'")
            value = int(schedule[frame])  # truncation, as Deforum's int()
            seeds[frame] = derive_seed(seed, frame, "seed") if value < 0 else value % SEED_RANGE
        elif behavior == "random":
            seeds[frame] = seed if n == 0 else derive_seed(seed, frame, "seed")
        else:
            seeds[frame] = (seed + _offset(behavior, n, iter_n)) % SEED_RANGE
    return seeds
