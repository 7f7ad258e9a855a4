"""The study's four one-sided tests (docs/study.md section 4), thin wrappers over scipy.

Each function returns the one-sided p-value of the alternative named in its
docstring; the direction is pinned by tests on constructed data. Two two-sided tests
compare a run's counts and correlations with the paper's (:func:`two_proportions`,
:func:`two_spearmans`).
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def paired(delta: np.ndarray) -> float:
    """Wilcoxon signed-rank test of ``delta > 0`` (the interaction lowers the loss).

    ``delta = loss_main - loss_orig`` per pair. Zero differences are dropped
    (scipy's ``zero_method="wilcox"``); when every difference is zero there is no
    evidence for the alternative and the p-value is 1.
    """
    delta = np.asarray(delta, dtype=np.float64)
    if not np.any(delta != 0):
        return 1.0
    return float(stats.wilcoxon(delta, alternative="greater").pvalue)


def unpaired(loss_main: np.ndarray, loss_orig: np.ndarray) -> float:
    """Mann-Whitney U test of ``loss_main > loss_orig``, ignoring the pairing."""
    return _greater(loss_main, loss_orig)


def magnitude(abs_i: np.ndarray, abs_i_null: np.ndarray) -> float:
    """Mann-Whitney U test of ``|I|`` on real pairs > ``|I|`` on the shuffled null."""
    return _greater(abs_i, abs_i_null)


def random_positions(delta: np.ndarray, delta_null: np.ndarray) -> float:
    """Mann-Whitney U test of ``delta`` on real pairs > ``delta`` at random positions."""
    return _greater(delta, delta_null)


def _greater(x: np.ndarray, y: np.ndarray) -> float:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size == 0 or y.size == 0:
        return float("nan")
    return float(stats.mannwhitneyu(x, y, alternative="greater").pvalue)


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation, NaN when either side is constant or has < 2 values."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(stats.pearsonr(x, y).statistic)


def spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Spearman rank correlation and its two-sided p-value (NaN for < 3 values)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan")
    result = stats.spearmanr(x, y)
    return float(result.statistic), float(result.pvalue)


def sem(x: np.ndarray) -> float:
    """Standard error of the mean (NaN for fewer than two values)."""
    x = np.asarray(x, dtype=np.float64)
    return float(stats.sem(x)) if x.size > 1 else float("nan")


def wilson(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (NaN, NaN for no trials).

    Unlike the normal approximation it stays inside [0, 1] and is usable for 0 or all
    successes, which power estimates from a few models often are.
    """
    if trials <= 0:
        return float("nan"), float("nan")
    z = float(stats.norm.ppf(0.5 + level / 2))
    share = successes / trials
    centre = (share + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z / (1 + z * z / trials) * np.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials))
    low = 0.0 if successes == 0 else max(centre - half, 0.0)  # exact at the ends, where rounding could
    high = 1.0 if successes == trials else min(centre + half, 1.0)  # leave the share outside
    return float(low), float(high)


def two_proportions(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of Fisher's exact test that ``k1/n1`` and ``k2/n2`` share one rate.

    For two samples of trainings (this run's models and the paper's): how surprising the
    difference between their counts of flagged models is if both came from the same
    distribution. NaN when either sample is empty.
    """
    if n1 <= 0 or n2 <= 0:
        return float("nan")
    return float(stats.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue)


def two_spearmans(r1: float, n1: int, r2: float, n2: int) -> float:
    """Two-sided p-value that two independent Spearman correlations are equal.

    Fisher's z, ``atanh(r)``, with the variance ``(1 + r²/2) / (n - 3)`` of Bonett &
    Wright (2000, Psychometrika 65:23) for Spearman's ρ. NaN when either sample has
    fewer than 4 values or ``|r| = 1``.
    """
    if n1 < 4 or n2 < 4 or not (abs(r1) < 1 and abs(r2) < 1):
        return float("nan")
    variance = (1 + r1 * r1 / 2) / (n1 - 3) + (1 + r2 * r2 / 2) / (n2 - 3)
    z = (np.arctanh(r1) - np.arctanh(r2)) / np.sqrt(variance)
    return float(2 * stats.norm.sf(abs(z)))
