"""The one-sided tests point the way docs/study.md says and equal scipy's p-values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from lookloss import stats

rng = np.random.default_rng(7)
UP = rng.normal(0.5, 1.0, 200)
DOWN = rng.normal(-0.5, 1.0, 200)
BASE = rng.normal(0.0, 1.0, 200)


def test_paired_is_small_when_the_interaction_helps():
    assert stats.paired(UP) < 1e-3  # delta > 0: removing I makes the loss worse
    assert stats.paired(DOWN) > 0.99
    assert stats.paired(UP) == sps.wilcoxon(UP, alternative="greater").pvalue


def test_paired_with_no_difference_is_not_significant():
    assert stats.paired(np.zeros(10)) == 1.0


def test_unpaired_tests_loss_main_greater_than_loss_orig():
    main, orig = BASE**2 + 1.0, BASE[::-1] ** 2
    assert stats.unpaired(main, orig) < 1e-3
    assert stats.unpaired(orig, main) > 0.99
    assert stats.unpaired(main, orig) == sps.mannwhitneyu(main, orig, alternative="greater").pvalue


def test_magnitude_and_random_position_tests_point_up():
    assert stats.magnitude(np.abs(UP) + 1, np.abs(BASE)) < 1e-3
    assert stats.magnitude(np.abs(BASE), np.abs(UP) + 1) > 0.99
    assert stats.random_positions(UP, BASE) == sps.mannwhitneyu(UP, BASE, alternative="greater").pvalue
    assert stats.random_positions(UP, BASE) < 1e-3


def test_correlations_equal_scipy():
    assert stats.pearson(UP, UP * 2 + BASE) == pytest.approx(sps.pearsonr(UP, UP * 2 + BASE)[0])
    rho, p = stats.spearman(UP, BASE)
    assert (rho, p) == pytest.approx(tuple(sps.spearmanr(UP, BASE)))
    assert np.isnan(stats.pearson(np.ones(5), UP[:5]))


def test_wilson_intervals_of_known_proportions():
    assert stats.wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert stats.wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert stats.wilson(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert all(np.isnan(stats.wilson(0, 0)))
    for n in range(1, 40):  # the interval holds the share, exactly at the ends
        for k in range(n + 1):
            low, high = stats.wilson(k, n)
            assert low <= k / n <= high
        assert stats.wilson(0, n)[0] == 0.0 and stats.wilson(n, n)[1] == 1.0
