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


def test_fishers_exact_test_of_two_counts_sums_the_tables_no_likelier_than_the_one_seen():
    # 0 of 4 models flagged here, 19 of 45 in the paper: by hand, from the hypergeometric law
    from math import comb

    def law(x: int) -> float:
        return comb(19, x) * comb(30, 4 - x) / comb(49, 4)

    expected = sum(law(x) for x in range(5) if law(x) <= law(0) * (1 + 1e-9))
    assert stats.two_proportions(0, 4, 19, 45) == pytest.approx(expected, rel=1e-9)
    assert stats.two_proportions(19, 45, 0, 4) == pytest.approx(expected, rel=1e-9)
    assert expected < 0.3
    assert stats.two_proportions(10, 20, 20, 40) == pytest.approx(1.0)
    assert stats.two_proportions(36, 36, 45, 45) == pytest.approx(1.0)
    assert np.isnan(stats.two_proportions(0, 0, 19, 45))


def test_the_difference_of_two_spearmans_is_fishers_z_and_holds_its_level():
    z = np.arctanh(0.5) / np.sqrt((1 + 0.5**2 / 2) / 25 + 1 / 25)
    assert stats.two_spearmans(0.5, 28, 0.0, 28) == pytest.approx(2 * sps.norm.sf(z), rel=1e-12)
    assert stats.two_spearmans(0.3, 40, 0.3, 45) == pytest.approx(1.0)
    assert np.isnan(stats.two_spearmans(1.0, 40, 0.3, 45)) and np.isnan(stats.two_spearmans(0.1, 3, 0.3, 45))
    # two samples of 45 from one population with ρ ≈ 0.4: about 5% of the pairs differ at p < 0.05
    rng = np.random.default_rng(7)
    cov = [[1, 0.4], [0.4, 1]]

    def rho() -> float:
        x = rng.multivariate_normal([0, 0], cov, size=45)
        return stats.spearman(x[:, 0], x[:, 1])[0]

    rejected = np.mean([stats.two_spearmans(rho(), 45, rho(), 45) < 0.05 for _ in range(2000)])
    assert 0.03 < rejected < 0.07
