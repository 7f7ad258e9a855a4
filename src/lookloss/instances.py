"""Motif instances in sequences, as the loss test finds and removes them (:mod:`lookloss.losstest`,
docs/study.md sections 2 and 4): motifs smoothed for scanning, log-odds of every window on one
or both strands, the best pair of instances under the gap rule, knock-outs that score ΔΔG
above a threshold on the strands read, and the random-position null's windows.
"""

from __future__ import annotations

import numpy as np

from lookloss import motifs, simulation

#: Random replacements drawn to check that a motif can be knocked out (:func:`check_knockable`).
KNOCKABLE_DRAWS = 10_000
#: Which strands the scan reads: ``both`` (the default) or ``forward`` (the study's).
STRANDS = ("both", "forward")
# Stream key of check_knockable's draws (lookloss.simulation.stream; 1-3 are lookloss.losstest's).
_KNOCKABLE = 4


class LossTestError(ValueError):
    """The input cannot be tested as given; the message says what is wrong and what was expected."""


def as_motif(ppm: np.ndarray | simulation.Motif, background: np.ndarray, pseudocount: float,
             name: str) -> simulation.Motif:
    """A motif for scanning and knock-outs: its smoothed matrix and ΔΔG matrix."""
    if isinstance(ppm, simulation.Motif):
        return ppm
    ppm = np.asarray(ppm, dtype=np.float64)
    if ppm.ndim != 2 or ppm.shape[0] != 4:
        raise LossTestError(f"motif {name!r}: expected a probability matrix of shape (4, width), got {ppm.shape}")
    smoothed = motifs.smooth(ppm, pseudocount)
    return simulation.Motif(name, smoothed, motifs.ddg_matrix(smoothed, background))


def reverse_complement(motif: simulation.Motif) -> simulation.Motif:
    """The motif read on the other strand: its matrix with rows (A, C, G, T) and columns
    reversed, scored against the background its ΔΔG was made with (``ppm · e^ΔΔG`` in
    every column), since a window's bases are drawn from that background on either strand."""
    with np.errstate(invalid="ignore"):  # a zero probability: 0 · e^inf, left out
        background = np.nanmean(motif.ppm * np.exp(motif.ddg), axis=1)
    ppm = motif.ppm[::-1, ::-1].copy()
    return simulation.Motif(motif.name, ppm, motifs.ddg_matrix(ppm, background))


def scores(codes: np.ndarray, motif: simulation.Motif, strands: str = "both") -> np.ndarray:
    """Log-odds of every complete window ``(N, L - w + 1)``: of the motif on the forward
    strand, or with ``strands="both"`` the better of the motif and its reverse complement."""
    forward = -motifs.window_ddg(codes, motif.ddg, "valid")
    if strands == "forward":
        return forward
    return np.maximum(forward, -motifs.window_ddg(codes, reverse_complement(motif).ddg, "valid"))


def strand_of(codes: np.ndarray, starts: np.ndarray, motif: simulation.Motif, strands: str = "both") -> np.ndarray:
    """``+`` or ``-``: the strand on which each instance at ``starts`` scores best (``+`` on a tie)."""
    if strands == "forward":
        return np.full(len(starts), "+")
    forward = motifs.instance_ddg(codes, starts, motif.ddg)
    return np.where(motifs.instance_ddg(codes, starts, reverse_complement(motif).ddg) < forward, "-", "+")


def knockouts(rng: np.random.Generator, motif: simulation.Motif, n: int, min_ddg: float,
              strands: str = "both") -> np.ndarray:
    """:func:`lookloss.simulation.knockouts`; with ``strands="both"`` each replacement is
    redrawn until it also scores ΔΔG > ``min_ddg`` as the motif's reverse complement."""
    out = simulation.knockouts(rng, motif, n, min_ddg)
    if strands == "forward":
        return out
    other = reverse_complement(motif)
    bad = motifs.instance_ddg(out, np.zeros(n, dtype=np.int64), other.ddg) <= min_ddg
    while bad.any():
        rows = np.flatnonzero(bad)
        out[rows] = simulation.knockouts(rng, motif, rows.size, min_ddg)
        bad[rows] = motifs.instance_ddg(out[rows], np.zeros(rows.size, dtype=np.int64), other.ddg) <= min_ddg
    return out


def check_knockable(motif: simulation.Motif, min_ddg: float, strands: str = "both") -> None:
    """:class:`LossTestError` unless random replacements of the motif's width score ΔΔG >
    ``min_ddg`` often enough (1 in :data:`KNOCKABLE_DRAWS` at least, on both strands where
    both are read) for :func:`knockouts` to find them: a short or weak motif may never."""
    draws = simulation.stream(0, _KNOCKABLE).integers(0, 4, size=(KNOCKABLE_DRAWS, motif.width), dtype=np.int8)
    starts = np.zeros(KNOCKABLE_DRAWS, dtype=np.int64)
    ok = motifs.instance_ddg(draws, starts, motif.ddg) > min_ddg
    if strands == "both":
        ok &= motifs.instance_ddg(draws, starts, reverse_complement(motif).ddg) > min_ddg
    if not ok.any():
        best = motif.ddg.max(axis=0).sum()
        raise LossTestError(
            f"motif {motif.name!r} cannot be knocked out: none of {KNOCKABLE_DRAWS:,} random {motif.width}-bp "
            f"replacements scores ΔΔG > {min_ddg:g}{' on both strands' if strands == 'both' else ''} (the most "
            f"any can score forward is {best:.2f}); lower --knockout-min-ddg"
            f"{', or read the forward strand only (--strands forward)' if strands == 'both' else ''}")


def find_pairs(codes: np.ndarray, motif_a: simulation.Motif, motif_b: simulation.Motif, min_logodds: float,
               bounds: tuple[int, int] | None = None, max_gap: int | None = None, strands: str = "both",
               min_gap: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
    """The best pair of instances per sequence, under the threshold and the gap rule.

    For each sequence: the best instance of A with the best instance of B that keeps
    the gap from it, and the best B with the best compatible A; the better of the two
    (by summed log-odds) is taken. With ``bounds = (lo, hi)`` only instances lying
    wholly in ``[lo, hi)`` count; with ``max_gap`` the two may be at most that many
    bases apart, and at least ``min_gap`` (default: the study's gap rule,
    :func:`lookloss.simulation.min_gap`). ``strands`` as in :func:`scores`.

    Returns
    -------
    rows, a_start, b_start : numpy.ndarray
        The sequences with a pair, and where each motif starts.
    seen : dict
        Sequences with an instance of ``a``, of ``b``, and of both, above the threshold.
    """
    n = len(codes)
    wa, wb = motif_a.width, motif_b.width
    score_a = instance_scores(codes, motif_a, min_logodds, bounds, strands)
    score_b = instance_scores(codes, motif_b, min_logodds, bounds, strands)
    seen = {"a": int(np.isfinite(score_a).any(axis=1).sum()), "b": int(np.isfinite(score_b).any(axis=1).sum()),
            "both": int((np.isfinite(score_a).any(axis=1) & np.isfinite(score_b).any(axis=1)).sum())}
    need = gap_rule(wa, wb, min_gap)
    pos_a, pos_b = np.arange(score_a.shape[1]), np.arange(score_b.shape[1])

    def best_partner(first: np.ndarray, w_first: int, others: np.ndarray, pos: np.ndarray, w_other: int
                     ) -> np.ndarray:
        apart = simulation.gap(first[:, None], w_first, pos[None, :], w_other)
        allowed = (apart >= need) & (apart <= (max_gap if max_gap is not None else np.inf))
        return np.where(allowed, others, -np.inf)

    a1 = score_a.argmax(axis=1)
    b_given_a = best_partner(a1, wa, score_b, pos_b, wb)
    b1 = b_given_a.argmax(axis=1)
    total1 = score_a[np.arange(n), a1] + b_given_a[np.arange(n), b1]
    b2 = score_b.argmax(axis=1)
    a_given_b = best_partner(b2, wb, score_a, pos_a, wa)
    a2 = a_given_b.argmax(axis=1)
    total2 = score_b[np.arange(n), b2] + a_given_b[np.arange(n), a2]
    second = total2 > total1
    a_start, b_start = np.where(second, a2, a1), np.where(second, b2, b1)
    rows = np.flatnonzero(np.isfinite(np.maximum(total1, total2)))
    return rows, a_start[rows].astype(np.int64), b_start[rows].astype(np.int64), seen


def instance_scores(codes: np.ndarray, motif: simulation.Motif, min_logodds: float,
                    bounds: tuple[int, int] | None = None, strands: str = "both") -> np.ndarray:
    """Log-odds of every window ``(N, L - w + 1)`` (:func:`scores`), ``-inf`` where it is no
    instance: at most ``min_logodds``, or not wholly inside ``bounds = (lo, hi)``."""
    score = scores(codes, motif, strands)
    score[score <= min_logodds] = -np.inf
    if bounds is not None:
        starts = np.arange(score.shape[1])
        score[:, (starts < bounds[0]) | (starts + motif.width > bounds[1])] = -np.inf
    return score


def gap_rule(w_a: int, w_b: int, min_gap: int | None = None) -> int:
    """Fewest bases between two tested instances: ``min_gap``, or by default the study's rule
    (:func:`lookloss.simulation.min_gap`: no window of either width spans both)."""
    return simulation.min_gap(w_a, w_b) if min_gap is None else int(min_gap)


def _bounds(length: int, scan_window: int | None, max_gap: int | None, a: simulation.Motif, b: simulation.Motif,
            motif_names: tuple[str, str], min_gap: int | None = None) -> tuple[int, int] | None:
    """``(lo, hi)`` of the centred scan window (None: the whole sequence, no gap bound), checked."""
    for motif, label in ((a, motif_names[0]), (b, motif_names[1])):
        if motif.width > length:
            raise LossTestError(f"sequences of {length} bp are shorter than motif {label!r} ({motif.width} bp)")
    if min_gap is not None and min_gap < 0:
        raise LossTestError(f"min_gap {min_gap}: expected 0 or more bases between the two motifs")
    need = gap_rule(a.width, b.width, min_gap)
    if max_gap is not None and max_gap < need:
        raise LossTestError(f"max_gap {max_gap} is below the gap rule's minimum of {need} bases for motifs of "
                            f"{a.width} and {b.width} bp; expected max_gap >= {need}")
    if scan_window is None and max_gap is None and min_gap is None:
        return None
    window = length if scan_window is None else int(scan_window)
    if window > length:
        raise LossTestError(f"scan window of {window} bp is larger than the {length}-bp input window; "
                            f"expected at most {length}")
    if window < a.width + b.width + need:
        raise LossTestError(f"scan window of {window} bp cannot hold both motifs ({a.width} and {b.width} bp) "
                            f"{need} bases apart; expected at least {a.width + b.width + need}")
    lo = (length - window) // 2
    return lo, lo + window


def random_windows(rng: np.random.Generator, n: int, length: int, widths: tuple[int, int],
                   bounds: tuple[int, int] | None = None, max_gap: int | None = None, min_gap: int | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Starts of two random windows per sequence under the gap rule (:func:`gap_rule`), in ``bounds``
    and within ``max_gap``.

    Without bounds and gap limit this is :func:`lookloss.simulation.random_windows`
    (the study's null); otherwise the same draw, offset into ``[lo, hi)`` and redrawn
    until the windows are also at most ``max_gap`` bases apart.
    """
    w_a, w_b = widths
    if bounds is None:
        return simulation.random_windows(rng, n, length, w_a, w_b)
    lo, hi = bounds
    limit = np.inf if max_gap is None else max_gap
    a = np.zeros(n, dtype=np.int64)
    b = np.zeros(n, dtype=np.int64)
    todo = np.ones(n, dtype=bool)
    while todo.any():
        rows = np.flatnonzero(todo)
        a[rows] = lo + rng.integers(0, hi - lo - w_a + 1, size=rows.size)
        b[rows] = lo + rng.integers(0, hi - lo - w_b + 1, size=rows.size)
        apart = simulation.gap(a[rows], w_a, b[rows], w_b)
        todo[rows] = (apart < gap_rule(w_a, w_b, min_gap)) | (apart > limit)
    return a, b
