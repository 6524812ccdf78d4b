"""The Gaussian noise's inverse-CDF table is ``statistics.NormalDist`` bit for bit."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from deforum_blender.engine import noise


def test_quantile_table_is_normal_dist_inv_cdf_to_the_last_float32_bit() -> None:
    # The table used to be built with 65536 NormalDist calls (10 ms a process); the noise of
    # every existing render depends on each of its values.
    inverse = NormalDist().inv_cdf
    expected = np.array([inverse((k + 0.5) / 65536) for k in range(65536)], dtype=np.float32)
    noise._normal_quantiles.cache_clear()
    table = noise._normal_quantiles()
    assert table.dtype == np.float32 and table.shape == (65536,)
    np.testing.assert_array_equal(table, expected)


def test_quantile_table_is_built_once_per_process() -> None:
    assert noise._normal_quantiles() is noise._normal_quantiles()
