"""Seeds per diffused frame: Deforum's next_seed for every behaviour, reproducible randoms."""

from __future__ import annotations

import pytest

from deforum_blender.core.errors import DeforumInputError
from deforum_blender.core.schedules import evaluate_schedule
from deforum_blender.core.seeds import (
    SEED_BEHAVIORS,
    derive_seed,
    resolve_master_seed,
    seeds_for_frames,
)


def deforum_seeds(seed: int, behavior: str, iter_n: int, count: int) -> list[int]:
    """A literal port of sd-webui-deforum's next_seed loop (seed used, then advanced)."""
    internal = 0
    used = []
    for _ in range(count):
        used.append(seed)
        if behavior == "iter":
            seed += 1 if internal % iter_n == 0 else 0
            internal += 1
        elif behavior == "ladder":
            seed += 2 if internal == 0 else -1
            internal = 1 if internal == 0 else 0
        elif behavior == "alternate":
            seed += 1 if internal == 0 else -1
            internal = 1 if internal == 0 else 0
    return used


@pytest.mark.parametrize("behavior", ["iter", "fixed", "ladder", "alternate"])
@pytest.mark.parametrize("iter_n", [1, 2, 3])
def test_seeds_follow_deforum_next_seed_once_per_diffused_frame(behavior: str, iter_n: int) -> None:
    diffused = list(range(0, 40, 2))  # cadence 2: in-betweens do not advance the seed
    got = seeds_for_frames(diffused, seed=1000, behavior=behavior, iter_n=iter_n)
    assert list(got) == diffused
    assert list(got.values()) == deforum_seeds(1000, behavior, iter_n, len(diffused))


def test_iter_every_second_frame_matches_deforums_first_step() -> None:
    got = seeds_for_frames(range(6), seed=7, behavior="iter", iter_n=2)
    assert list(got.values()) == [7, 8, 8, 9, 9, 10]


def test_random_seeds_depend_only_on_seed_and_frame_so_resume_repeats_them() -> None:
    first = seeds_for_frames(range(10), seed=42, behavior="random")
    again = seeds_for_frames(range(10), seed=42, behavior="random")
    assert first == again
    assert first[0] == 42  # Deforum diffuses the first frame with the master seed
    assert len(set(first.values())) == 10
    assert first[5] == derive_seed(42, 5, "seed")
    assert seeds_for_frames(range(10), seed=43, behavior="random")[5] != first[5]


def test_schedule_behaviour_reads_the_seed_schedule_and_minus_one_is_random() -> None:
    text = '0:(s), 1:(-1), "max_f-2":(-1), "max_f-1":(s)'  # Deforum's default
    series = evaluate_schedule(text, 6, 99)
    got = seeds_for_frames(range(6), seed=99, behavior="schedule", schedule=series)
    # 6 frames: max_f = 5, so frames 1-3 hold -1 (random) and frames 4 and 5 the seed.
    assert [got[f] for f in (0, 4, 5)] == [99, 99, 99]
    assert [got[f] for f in (1, 2, 3)] == [derive_seed(99, f, "seed") for f in (1, 2, 3)]


def test_seeds_wrap_into_the_32_bit_range() -> None:
    got = seeds_for_frames(range(3), seed=2**32 - 1, behavior="iter")
    assert list(got.values()) == [2**32 - 1, 0, 1]


def test_derived_seeds_are_stable_across_versions_and_machines() -> None:
    # Pinned: changing the derivation would break resuming renders made before.
    assert derive_seed(0, 0, "seed") == derive_seed(0, 0, "seed")
    assert derive_seed(1234, 5, "noise") == 590467137
    assert derive_seed(1234, 5, "noise") != derive_seed(1234, 5, "seed")
    assert all(0 <= derive_seed(s, 3, "x") < 2**32 for s in range(50))


def test_minus_one_picks_a_seed_and_any_other_seed_is_kept() -> None:
    picked = {resolve_master_seed(-1) for _ in range(5)}
    assert all(0 <= s < 2**32 for s in picked) and len(picked) > 1
    assert resolve_master_seed(12345) == 12345


def test_an_unresolved_seed_or_unknown_behaviour_is_refused_with_the_fix() -> None:
    with pytest.raises(DeforumInputError, match="resolve_master_seed"):
        seeds_for_frames([0], seed=-1)
    with pytest.raises(DeforumInputError, match="seed_behavior: 'iterate' is unknown"):
        seeds_for_frames([0], seed=1, behavior="iterate")
    with pytest.raises(DeforumInputError, match="seed_iter_N: 0 is below 1"):
        seeds_for_frames([0], seed=1, iter_n=0)
    assert "schedule" in SEED_BEHAVIORS
