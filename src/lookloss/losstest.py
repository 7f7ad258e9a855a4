"""The loss test on any model and data: is the interaction a model learned between two motifs real?

The study's procedure (docs/study.md sections 2 and 4), for a user's model, held-out
sequences with measured counts, and two motifs:

1. **Pairs.** Each sequence is scanned with both motifs (complete windows; both
   strands by default, where a window scores the better of the motif and its reverse
   complement; the study's simulation planted and scanned the forward strand only,
   ``strands="forward"``). It is kept when each motif has an instance with log-odds
   above ``min_logodds`` and the two instances obey the study's gap rule (at least
   ``max(width) - 1`` bases between them); the best-scoring such pair is used.
2. **Knock-outs.** Each instance is replaced by uniform random bases, redrawn until
   the replacement scores ΔΔG > ``knockout_min_ddg`` (on both strands, where both are
   scanned); the same replacement serves in every variant (both motifs, A only, B
   only, neither).
3. **Effects and losses.** The model predicts the four variants; with ``f`` its
   prediction in counts, M_A, M_B, I = f_AB - f_0 - M_A - M_B, and the per-pair loss
   in the model's space with and without I (the study's clip), Δ = loss_main - loss_orig.
4. **Nulls.** A dinucleotide shuffle of each analysed sequence with plain random bases
   at the same positions, and two random windows under the same gap rule (knocked out
   like motifs).
5. **Tests** (one-sided): paired Wilcoxon Δ > 0; unpaired Mann-Whitney loss_main >
   loss_orig; magnitude |I| > |I| of the shuffled null; random-position Δ > Δ at random
   windows. The call is ``interaction`` when the paired test is significant, ``no
   interaction`` when it is not, and ``too few pairs`` when it cannot be: with n pairs
   of non-zero Δ (the test drops Δ = 0) the exact one-sided signed-rank test gives no
   p-value below 2^-n (n < 5 at α = 0.05).

Everything reuses the simulation's and the analysis's functions: the scan
(:func:`lookloss.motifs.window_ddg`), knock-outs, variants, gap rule and nulls
(:mod:`lookloss.simulation`), effects and losses (:mod:`lookloss.interactions`) and
the tests (:mod:`lookloss.stats`). The ΔΔG matrices take the motifs smoothed as the
study smooths them, against the base composition of the given sequences.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from lookloss import calibration, devices, inference, interactions, motifs, simulation, stats
from lookloss.instances import (  # noqa: F401  (the loss test's API: motifs, pairs, knock-outs, nulls)
    STRANDS,
    LossTestError,
    _bounds,
    as_motif,
    check_knockable,
    find_pairs,
    gap_rule,
    instance_scores,
    knockouts,
    random_windows,
    reverse_complement,
    scores,
    strand_of,
)
from lookloss.layout import ALPHABET, VARIANTS
from lookloss.transforms import LINKS

#: Columns of the per-pair table, in order.
PAIR_COLUMNS = ["name", "a_start", "b_start", "a_strand", "b_strand", "f_ab", "f_a", "f_b", "f_0", "m_a", "m_b", "interaction", "target",
                "loss_orig", "loss_main", "delta"]
#: What the study's names (variants of s_GT: GATA1 is motif A, TAL1 motif B) are called here.
_RENAME = {"f_gt": "f_ab", "f_g": "f_a", "f_t": "f_b", "f_0": "f_0", "m_g": "m_a", "m_t": "m_b",
           "interaction": "interaction", "loss_orig": "loss_orig", "loss_main": "loss_main", "delta": "delta"}
# Stream keys of the test's random draws, one per purpose (lookloss.simulation.stream; 4 is
# lookloss.instances.check_knockable's).
_KNOCKOUT, _SHUFFLE, _RANDPOS = 1, 2, 3
#: Largest interaction, relative to the largest of its four predictions, that counts as
#: float32 rounding and is set to 0 (:func:`without_rounding_noise`).
ROUNDING = 1e-5

#: A model as the test runs it: integer codes ``(m, L)`` (0..3 for A, C, G, T) and the
#: row of the tested sequences each one derives from, to predictions ``(m,)`` in the
#: link's space (:class:`lookloss.head.Head` is one: tuple outputs, tasks, control
#: tracks per row, reverse-complement averaging).
Predictor = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class LossTestResult:
    """Outcome of :func:`loss_test`.

    Attributes
    ----------
    pairs : pandas.DataFrame
        One row per analysed sequence (:data:`PAIR_COLUMNS`).
    summary : dict
        Sizes, interaction and loss statistics, the four p-values, ``alpha`` and the
        ``call``.
    shuffled, randpos : pandas.DataFrame
        The same table for the two nulls.
    recalibrated : LossTestResult, optional
        The same after recalibrating the model on the held-out sequences that hold at most
        one of the motifs (``recalibrate=True``; :mod:`lookloss.calibration`); its summary
        names the fitted map (``calibration``).
    """

    pairs: pd.DataFrame
    summary: dict[str, Any]
    shuffled: pd.DataFrame = field(repr=False)
    randpos: pd.DataFrame = field(repr=False)
    recalibrated: LossTestResult | None = field(default=None, repr=False)

    @property
    def call(self) -> str:
        return self.summary["call"]


def loss_test(model: torch.nn.Module | Predictor, onehot: np.ndarray, targets: np.ndarray,
              motif_a: np.ndarray | simulation.Motif, motif_b: np.ndarray | simulation.Motif, *,
              link: str = "anscombe", min_logodds: float = 2.0, alpha: float = 0.05, seed: int = 0,
              names: list[str] | None = None, motif_names: tuple[str, str] = ("A", "B"), pseudocount: float = 0.001,
              knockout_min_ddg: float = 10.0, batch_size: int = inference.PREDICT_BATCH,
              scan_window: int | None = None, max_gap: int | None = None, strands: str = "both",
              min_gap: int | None = None, recalibrate: bool = False) -> LossTestResult:
    """The study's loss test for the interaction of two motifs in ``model``, on ``onehot`` and ``targets``.

    Parameters
    ----------
    model : torch.nn.Module or Predictor
        A module maps one-hot ``(N, 4, L)`` (rows A, C, G, T) to ``(N,)`` or ``(N, 1)``,
        in the space ``link`` names. A :data:`Predictor` (e.g.
        :class:`lookloss.head.Head`) is called with integer codes and their rows.
    onehot : numpy.ndarray, shape=(N, 4, L)
        Held-out sequences, one-hot (every position exactly one base).
    targets : numpy.ndarray, shape=(N,)
        Their observed counts.
    motif_a, motif_b : numpy.ndarray, shape=(4, w), or lookloss.simulation.Motif
        Position probability matrices (rows A, C, G, T), smoothed with ``pseudocount``.
    link : {'anscombe', 'log1p', 'identity'}
        The model's output space (:data:`lookloss.transforms.LINKS`).
    min_logodds : float
        An instance must score log-odds above this (the study: 2).
    alpha : float
        Significance level of the call.
    seed : int
        Seeds the knock-outs, the shuffles and the random windows.
    names : list of str, optional
        Sequence names for the table (default: their row numbers).
    motif_names : tuple of str
        How the summary names the motifs.
    pseudocount, knockout_min_ddg : float
        The study's smoothing (0.001) and knock-out threshold (ΔΔG > 10).
    batch_size : int
        Sequences per forward pass (of a module; a Predictor batches itself).
    scan_window : int, optional
        Motif instances and random windows lie in the centred ``scan_window`` bases
        (default: the whole sequence, as in the study).
    max_gap : int, optional
        At most this many bases between the two motifs (and the two random windows).
    min_gap : int, optional
        At least this many bases between them (default: the study's rule, the wider
        motif's width minus one, so that no window of either width spans both; 0 tests
        adjacent instances, such as composite elements).
    strands : {'both', 'forward'}
        Scan both strands (a window scores the better of the motif and its reverse
        complement; knock-outs match neither), or the forward strand only, as the
        study did on its simulated sequences.
    recalibrate : bool
        Also run the tests after recalibrating the model's output on the sequences that
        hold at most one of the two motifs (an instance above ``min_logodds`` anywhere in
        the sequence, the scan window's flanks included; :mod:`lookloss.calibration`): the result's
        ``recalibrated`` and ``summary["recalibrated"]`` (its p-values, call and map; where
        no map can be fitted, ``call`` is ``not recalibrated`` and ``reason`` says why).

    Returns
    -------
    LossTestResult

    Raises
    ------
    LossTestError
        Bad shapes or values, no pair above the threshold, or a model output of the
        wrong shape.
    """
    onehot, targets = checked(onehot, targets, link)
    if strands not in STRANDS:
        raise LossTestError(f"strands must be one of {list(STRANDS)}, got {strands!r}")
    names = [str(i) for i in range(len(onehot))] if names is None else list(names)
    codes = motifs.to_codes(onehot)
    counts = np.bincount(codes.ravel(), minlength=4).astype(np.float64)
    background = counts / counts.sum()
    a = as_motif(motif_a, background, pseudocount, motif_names[0])
    b = as_motif(motif_b, background, pseudocount, motif_names[1])
    bounds = _bounds(codes.shape[1], scan_window, max_gap, a, b, motif_names, min_gap)
    for motif in (a, b):
        check_knockable(motif, knockout_min_ddg, strands)
    _check_output(model, onehot[:2])

    rows, a_start, b_start, seen = find_pairs(codes, a, b, min_logodds, bounds, max_gap, strands, min_gap)
    if not len(rows):
        where = "" if bounds is None else f" in the centred {bounds[1] - bounds[0]}-bp scan window"
        raise LossTestError(
            f"no sequence holds both motifs with log-odds > {min_logodds:g} and the gap rule{where}: of "
            f"{len(codes)} sequences, {seen['a']} have an instance of {motif_names[0]!r}, {seen['b']} of "
            f"{motif_names[1]!r}, {seen['both']} of both (lower min_logodds, or check the motifs)")
    chosen, y = codes[rows], targets[rows]
    ko = simulation.stream(seed, _KNOCKOUT)
    a_ko, b_ko = (knockouts(ko, m, len(rows), knockout_min_ddg, strands) for m in (a, b))
    table = _Table(model, LINKS[link], batch_size, rows, [names[r] for r in rows], y)
    pairs = table(chosen, a_start, b_start, a_ko, b_ko,
                  strands=(strand_of(chosen, a_start, a, strands), strand_of(chosen, b_start, b, strands)))
    shuffle = simulation.stream(seed, _SHUFFLE)
    shuffled = table(simulation.shuffle_dinucleotides(chosen, simulation.shuffle_seed(shuffle)), a_start, b_start,
                     simulation.random_bases(shuffle, len(rows), a.width),
                     simulation.random_bases(shuffle, len(rows), b.width))
    windows = simulation.stream(seed, _RANDPOS)
    ra, rb = random_windows(windows, len(rows), codes.shape[1], (a.width, b.width), bounds, max_gap, min_gap)
    ra_ko, rb_ko = (knockouts(windows, m, len(rows), knockout_min_ddg, strands) for m in (a, b))
    randpos = table(chosen, ra, rb, ra_ko, rb_ko, known={"gt": pairs["f_ab"].to_numpy()})  # the same sequences
    summary = summarise(pairs, shuffled, randpos, alpha)
    summary.update(n_sequences=len(onehot), motif_a=motif_names[0], motif_b=motif_names[1], link=link,
                   min_logodds=min_logodds, seed=seed, strands=strands, knockout_min_ddg=knockout_min_ddg)
    if bounds is not None:
        summary.update(scan_window=bounds[1] - bounds[0], max_gap=max_gap)
    if min_gap is not None:
        summary.update(min_gap=int(min_gap))
    recalibrated = None
    if recalibrate:
        # the whole input, not only the scan window: the model sees a motif in the flanks too
        holds = [np.isfinite(instance_scores(codes, m, min_logodds, None, strands)).any(axis=1) for m in (a, b)]
        try:
            recalibrated = _recalibrated(model, onehot, codes, targets, np.flatnonzero(~(holds[0] & holds[1])),
                                         (pairs, shuffled, randpos), link, batch_size, alpha)
            summary["recalibrated"] = recalibrated.summary
        except calibration.CalibrationError as error:
            summary["recalibrated"] = {"call": "not recalibrated", "reason": str(error)}
    return LossTestResult(pairs, summary, shuffled, randpos, recalibrated)


def _recalibrated(model: torch.nn.Module | Predictor, onehot: np.ndarray, codes: np.ndarray, targets: np.ndarray,
                  rows: np.ndarray, tables: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame], link: str,
                  batch_size: int, alpha: float) -> LossTestResult:
    """The pair tables and tests after recalibrating the model (:mod:`lookloss.calibration`) on the
    sequences ``rows`` (those holding at most one of the two motifs)."""
    if len(rows) < calibration.MIN_LOCI:
        raise calibration.CalibrationError(
            f"{len(rows)} sequences hold at most one of the two motifs; at least {calibration.MIN_LOCI} are needed "
            "to recalibrate the model on")
    if isinstance(model, torch.nn.Module):
        outputs = inference.predict(model, onehot[rows], batch_size)
    else:
        outputs = np.asarray(model(codes[rows], rows))
    fitted = calibration.fit(LINKS[link].to_counts(np.asarray(outputs, dtype=np.float64).ravel()), targets[rows])
    pairs, shuffled, randpos = (calibration.apply(table, fitted, LINKS[link]) for table in tables)
    return LossTestResult(pairs, {**summarise(pairs, shuffled, randpos, alpha), "calibration": fitted.as_dict()},
                          shuffled, randpos)


def checked(onehot: np.ndarray, targets: np.ndarray, link: str) -> tuple[np.ndarray, np.ndarray]:
    """The sequences and targets as arrays, after checking the link, their shapes and one-hotness."""
    if link not in LINKS:
        raise LossTestError(f"unknown link {link!r}; expected one of {sorted(LINKS)}")
    onehot = np.asarray(onehot)
    targets = np.asarray(targets, dtype=np.float64).ravel()
    if onehot.ndim != 3 or onehot.shape[1] != 4:
        raise LossTestError(f"expected one-hot sequences of shape (N, 4, L), got {onehot.shape}")
    if len(targets) != len(onehot):
        raise LossTestError(f"{len(onehot)} sequences but {len(targets)} targets")
    if not np.all(onehot.sum(axis=1) == 1):
        raise LossTestError("sequences must be one-hot: every position exactly one of A, C, G, T")
    return onehot, targets


@dataclass
class _Table:
    """The per-pair table of one set of variants: predictions, effects and losses."""

    model: torch.nn.Module | Predictor
    spec: Any
    batch_size: int
    rows: np.ndarray
    names: list[str]
    y: np.ndarray

    def __call__(self, seq_codes: np.ndarray, starts_a: np.ndarray, starts_b: np.ndarray, ko_a: np.ndarray,
                 ko_b: np.ndarray, known: dict[str, np.ndarray] | None = None,
                 strands: tuple[np.ndarray, np.ndarray] | None = None) -> pd.DataFrame:
        """The table of the variants of ``seq_codes`` with motifs at the starts knocked out by ``ko_a``
        and ``ko_b``; predictions in ``known`` (counts, by variant) are not made again; the
        instances' ``strands`` (``.`` where none: the nulls)."""
        seqs = simulation.variants(seq_codes, starts_a, starts_b, ko_a, ko_b)
        todo = [v for v in VARIANTS if v not in (known or {})]
        if isinstance(self.model, torch.nn.Module):
            onehots = {v: motifs.to_onehot(seqs[v]) for v in todo}
            computed = interactions.variant_effects(self.model, onehots, self.y, self.spec, self.batch_size, known)
        else:  # a Predictor: every variant predicted here, in one call, from codes
            n = len(self.rows)
            out = np.asarray(self.model(np.concatenate([seqs[v] for v in todo]), np.tile(self.rows, len(todo))))
            f = dict(known or {})
            f.update(zip(todo, self.spec.to_counts(out.astype(np.float64)).reshape(len(todo), n), strict=True))
            computed = interactions.variant_effects(self.model, {}, self.y, self.spec, self.batch_size, f)
        computed = without_rounding_noise(computed, self.y, self.spec)
        check_finite(computed, self.spec.name)
        strand_a, strand_b = strands if strands is not None else (".", ".")
        frame = pd.DataFrame({"name": self.names, "a_start": starts_a, "b_start": starts_b,
                              "a_strand": strand_a, "b_strand": strand_b,
                              **{_RENAME[k]: v for k, v in computed.items() if k in _RENAME}, "target": self.y})
        return frame[PAIR_COLUMNS]


def without_rounding_noise(computed: dict[str, np.ndarray], y: np.ndarray, link: Any) -> dict[str, np.ndarray]:
    """Interactions no larger than float32 rounding, ``|I| <= ROUNDING x`` the largest of the four
    predictions, set to exactly 0 (and their losses recomputed, so that Δ is exactly 0 too).

    A float32 model's predictions differ in their last bits with the batch size, the kernel
    and fusion; an interaction the size of that noise would be exactly 0 in one run and a
    tiny number of either sign in another, and the paired test, which drops zeros, would
    count it or not. Zeroing it makes the tests the same, to rounding, however the model ran.
    """
    noise = rounding_noise([computed[f"f_{v}"] for v in VARIANTS], computed["interaction"])
    if not noise.any():
        return computed
    interaction = np.where(noise, 0.0, computed["interaction"])
    return {**computed, "interaction": interaction,
            **interactions.losses(computed["f_gt"], interaction, y, link)}


def rounding_noise(predictions: list[np.ndarray], interaction: np.ndarray) -> np.ndarray:
    """Where ``|interaction| <= ROUNDING x`` the largest of the four ``predictions`` (float32 rounding)."""
    return np.abs(interaction) <= ROUNDING * np.max(np.abs(np.stack(predictions)), axis=0)


def check_finite(computed: dict[str, np.ndarray], link: str) -> None:
    """:class:`LossTestError` when a prediction, effect or loss is NaN or infinite: no test can be read
    from them, and the likeliest cause is a ``--link`` that does not match the model's output."""
    bad = {k: int((~np.isfinite(v)).sum()) for k, v in computed.items() if np.issubdtype(np.asarray(v).dtype,
                                                                                           np.floating)}
    bad = {k: n for k, n in bad.items() if n}
    if bad:
        first = next(iter(bad))
        raise LossTestError(
            f"the model's predictions give non-finite numbers ({bad[first]} of {len(computed[first])} in {first!r}; "
            f"{', '.join(sorted(bad))}) with --link {link}: check that --link names the space the model "
            "predicts in (log1p: the model outputs log(1 + counts), e.g. a BPNet's count head; identity: counts; "
            "anscombe: the study's transform); a count-scale output read as log1p overflows")


def summarise(pairs: pd.DataFrame, shuffled: pd.DataFrame, randpos: pd.DataFrame, alpha: float) -> dict[str, Any]:
    """The four one-sided tests and the call, from the pair table and its two nulls."""
    abs_i = pairs["interaction"].abs()
    p_paired = stats.paired(pairs["delta"])
    decidable = 0.5 ** int((pairs["delta"] != 0).sum()) < alpha  # the smallest p n non-zero Δ can give (all > 0)
    return {
        "n_pairs": len(pairs),
        "mean_abs_I": float(abs_i.mean()),
        "mean_I": float(pairs["interaction"].mean()),
        "median_delta": float(pairs["delta"].median()),
        "p_paired": p_paired,
        "p_unpaired": stats.unpaired(pairs["loss_main"], pairs["loss_orig"]),
        "p_magnitude": stats.magnitude(abs_i, shuffled["interaction"].abs()),
        "p_randpos": stats.random_positions(pairs["delta"], randpos["delta"]),
        "alpha": alpha,
        "call": ("interaction" if p_paired < alpha else "no interaction") if decidable else "too few pairs",
    }


def _check_output(model: torch.nn.Module | Predictor, sample: np.ndarray) -> None:
    """Fail with the expected shape unless the model maps (n, 4, L) to (n,) or (n, 1).

    A :data:`Predictor` is called with the sample's codes and rows; it raises
    :class:`LossTestError` itself for outputs it cannot use.
    """
    try:
        if isinstance(model, torch.nn.Module):
            device, dtype = devices.placement(model)
            with inference.evaluating(model), torch.inference_mode():
                out = model(inference.as_inputs(sample, device, dtype))
        else:
            out = np.asarray(model(motifs.to_codes(sample), np.arange(len(sample))))
    except LossTestError:
        raise
    except Exception as error:  # noqa: BLE001  (any failure of the user's model on valid input)
        raise LossTestError(f"the model fails on one-hot input of shape {tuple(sample.shape)} "
                            f"(N, 4, L; rows {', '.join(ALPHABET)}): {error}") from None
    if isinstance(out, (tuple, list, dict)):
        kind = f"a dict with keys {list(out)}" if isinstance(out, dict) else f"{len(out)} outputs"
        raise LossTestError(f"the model returns {kind}, not one prediction per sequence; choose the count output "
                            "with --output INDEX (a BPNet's log counts: 1), and --task K for one of several tasks")
    shape = tuple(getattr(out, "shape", ()))
    if shape not in ((len(sample),), (len(sample), 1)):
        raise LossTestError(f"the model's output has shape {shape} for {len(sample)} sequences; expected "
                            f"({len(sample)},) or ({len(sample)}, 1): one prediction per sequence")
