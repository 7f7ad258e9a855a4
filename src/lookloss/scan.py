"""Every pair, every spacing: the loss test as a scan, with false-discovery control (docs/scan.md).

:func:`scan` runs the study's loss test (:mod:`lookloss.losstest`, docs/study.md sections
2 and 4) on every unordered pair of the given motifs (a motif with itself included), split
into *cells*: motif pair x relative orientation x spacing bin, and once per pair pooled.

1. **Instances.** Each held-out sequence is scanned with every motif by memelite's FIMO
   (a p-value threshold per motif, ``p_value``: the field's convention, which sets a
   score cut per motif that adapts to its width and information), inside the centred
   ``scan_window``; overlapping hits of one motif keep the best.
2. **Instance pairs and cells.** Two instances form a pair when they keep the study's gap
   rule (``min_gap``, default ``max(width) - 1`` bases between them). Spacing is centre
   to centre (``|centre_b - centre_a|``, centre = start + width / 2, in bases), binned by
   ``spacing_bins`` ``[lo, hi)``. Orientation is read with motif A's instance on the plus
   strand (:data:`ORIENTATIONS`). In each cell a sequence contributes its best-scoring
   pair (summed FIMO scores), as the single-pair test takes the best pair per sequence;
   the pooled row takes each sequence's best pair over all cells of the motif pair.
3. **No forward pass twice.** Each instance gets one knock-out replacement (ΔΔG >
   ``knockout_min_ddg`` on the strands scanned) shared by every pair it is in, so on
   each sequence the original is predicted once, each knocked-out instance once, each
   pair's double knock-out once; likewise for the shuffled null (the dinucleotide-shuffled
   sequence, plain random bases at the same positions). The random-position null moves
   each pair rigidly (same spacing and layout) to a random place in the scan window,
   knocked out like motifs: three passes, the original shared. All variants of all
   sequences go through the model in full batches.
4. **Tests.** The study's four tests per cell (:func:`lookloss.losstest.summarise`);
   Benjamini-Hochberg q-values of the paired test over every row of one model that was
   tested (cells and pooled pairs together: the family); a row with fewer than
   ``min_pairs`` pairs is ``too few pairs`` and not tested; the call is ``interaction``
   where q < ``alpha``. With several models, each cell gets the study's consistency rule
   (:func:`lookloss.tables.consistency_table`, significance = q < alpha).

``lookloss.scan`` is this module and can be called as the function:
``lookloss.scan(model, X, y, motifs)`` is ``lookloss.scan.scan(model, X, y, motifs)``.
"""

from __future__ import annotations

import sys
import time
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from lookloss import losstest, tables
from lookloss.motifs import to_codes
from lookloss.scanpairs import (
    ORIENTATIONS,
    ScanError,
    check_model,
    draws,
    find_instances,
    instance_pairs,
    jobs,
    pair_frame,
    predict,
    predictors_of,
    select_pairs,
    variant_table,
)
from lookloss.transforms import LINKS

#: Default spacing bins, centre to centre, in bases: ``[0, 10), [10, 20), ..., [200, 500)``.
DEFAULT_BINS = (0, 10, 20, 50, 100, 200, 500)
#: Fewest pairs in a cell for it to be tested.
MIN_PAIRS = 30
#: Most motifs scanned when none is named (``--max-motifs``).
MAX_MOTIFS = 25
#: FIMO's p-value threshold by default (FIMO's own default).
P_VALUE = 1e-4
#: The label of a pooled row's orientation and spacing bin, and of the rows across models.
POOLED, CONSENSUS = "all", "consensus"
#: Forward passes of one pair in a pair-by-pair run (4 variants, 4 shuffled, 3 random positions).
PASSES_PER_PAIR = 11
#: Columns of the cell table, in order.
COLUMNS = ["model", "arch", "motif_a", "motif_b", "orientation", "spacing_bin", "spacing_lo", "spacing_hi", "n",
           "mean_I", "mean_abs_I", "median_delta", "p_paired", "p_unpaired", "p_magnitude", "p_randpos", "q",
           "call", "n_models", "n_sig"]
#: The family over which q-values are computed (as the summary says it).
FAMILY = ("per model: the paired test of every row of scan.tsv that was tested (every cell with at least "
          "min_pairs pairs, and every pooled motif pair with at least min_pairs pairs)")


@dataclass
class ScanResult:
    """What :func:`run` finds.

    Attributes
    ----------
    cells : pandas.DataFrame
        One row per cell and model (:data:`COLUMNS`), pooled rows included, and with
        several models one ``consensus`` row per cell.
    pairs : pandas.DataFrame
        One row per tested instance pair and model: where, the four predictions, I, the
        losses, Δ, and the two nulls' I and Δ.
    summary : dict
        Settings, sizes, the forward passes made and those a pair-by-pair run would make.
    """

    cells: pd.DataFrame
    pairs: pd.DataFrame
    summary: dict[str, Any]


# ----------------------------------------------------------------------------- settings
def check_settings(spacing_bins: Sequence[float], min_pairs: int, alpha: float, p_value: float) -> np.ndarray:
    """The spacing bins' edges as an array, after checking every setting; :class:`ScanError` names the option."""
    edges = np.asarray(list(spacing_bins), dtype=np.float64)
    text = ",".join(f"{e:g}" for e in edges)
    if edges.ndim != 1 or len(edges) < 2 or not np.all(np.isfinite(edges)) or (edges < 0).any() \
            or not np.all(np.diff(edges) > 0):
        raise ScanError(f"--spacing-bins {text}: expected at least two increasing, non-negative edges in bases "
                        "(centre to centre), e.g. 0,10,20,50,100,200,500")
    if int(min_pairs) != min_pairs or min_pairs < 1:
        raise ScanError(f"--min-pairs {min_pairs}: expected a whole number of at least 1")
    if not 0 < alpha < 1:
        raise ScanError(f"--alpha {alpha}: expected a level between 0 and 1")
    if not 0 < p_value <= 1:
        raise ScanError(f"--p-value {p_value}: expected a FIMO p-value threshold above 0 and at most 1")
    return edges


def parse_bins(text: str) -> list[float]:
    """``"0,10,20"`` as edges; :class:`ScanError` for what is not a comma-separated list of numbers."""
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise ScanError(f"--spacing-bins {text}: expected comma-separated numbers of bases, e.g. "
                        "0,10,20,50,100,200,500") from None


def read_motifs(path: str | Path, names: Sequence[str] | None = None, max_motifs: int = MAX_MOTIFS
                ) -> dict[str, np.ndarray]:
    """The motifs to scan from a MEME file: those ``names`` name (by ID or name, case-insensitive,
    as :func:`lookloss.loci.read_pair` matches them), or every motif of the file; at least two and
    at most ``max_motifs``. Keys are the motifs as matched, spelled as in the file."""
    from memelite.io import read_meme

    from lookloss.loci import match_motif

    if not Path(path).is_file():
        raise ScanError(f"--motifs: motif file {str(path)!r} does not exist")
    try:
        records = {key: np.asarray(value, dtype=np.float64) for key, value in read_meme(str(path)).items()}
    except Exception as error:  # noqa: BLE001  (whatever memelite raises for a file that is no MEME file)
        raise ScanError(f"--motifs: cannot read {str(path)!r} as a MEME motif file: {error}") from None
    if names:
        chosen = [match_motif(Path(path), records, word) for word in names]
        keys = [key for key, _ in chosen]
        for key in keys:
            if keys.count(key) > 1:
                words = [w for w, k in zip(names, keys, strict=True) if k == key]
                raise ScanError(f"--motif: {words} name the same motif ({key!r}); expected each motif once")
        if len(chosen) > max_motifs:
            raise ScanError(f"--motif: {len(chosen)} motifs named, more than --max-motifs {max_motifs}; expected at "
                            f"most {max_motifs} (or raise --max-motifs: the pairs grow as its square)")
    else:
        if len(records) > max_motifs:
            raise ScanError(f"--motifs: {str(path)!r} holds {len(records)} motifs, more than --max-motifs "
                            f"{max_motifs}; name the ones to scan with --motif NAME [NAME ...] or raise "
                            "--max-motifs")
        chosen = [(key, key.split()[0]) for key in records]
    if len(chosen) < 2:
        raise ScanError(f"--motif: {len(chosen)} motif given ({[label for _, label in chosen]}); expected at least "
                        "two motifs to scan")
    return {label: records[key] for key, label in chosen}


# ----------------------------------------------------------------------------- cells and calls
def _grid(n_motifs: int, n_bins: int, strands: str) -> list[tuple[int, int, int, int]]:
    """Every cell ``(motif_a, motif_b, orientation, bin)`` of the scan, and each pair's pooled row
    (orientation and bin -1), motif pairs in order."""
    cells = []
    for i in range(n_motifs):
        for j in range(i, n_motifs):
            kinds = [0, 1, 2, 3] if strands == "both" else [0, 1]
            kinds = [k for k in kinds if not (i == j and k == 1)]
            cells += [(i, j, k, b) for k in kinds for b in range(n_bins)] + [(i, j, -1, -1)]
    return cells


def cell_table(pairs: pd.DataFrame, shuffled: pd.DataFrame, randpos: pd.DataFrame, grid: list[tuple],
               min_pairs: int, alpha: float) -> pd.DataFrame:
    """One model's rows: per cell of ``grid`` its pairs' statistics and, with at least ``min_pairs``
    pairs, the study's four tests (:func:`lookloss.losstest.summarise`); BH q-values of the paired
    test over the rows tested (the family, :data:`FAMILY`) and the call at q < ``alpha``."""
    from scipy.stats import false_discovery_control

    cells = pairs.groupby(["motif_a", "motif_b", "orientation", "bin"]).indices
    pooled = pairs[pairs["pooled"]].groupby(["motif_a", "motif_b"]).indices
    pooled_rows = np.flatnonzero(pairs["pooled"].to_numpy())
    rows = []
    for key in grid:
        idx = pooled_rows[pooled.get(key[:2], [])] if key[2] < 0 else cells.get(key, np.zeros(0, dtype=np.int64))
        row: dict[str, Any] = {"key": key, "n": len(idx)}
        if len(idx):
            part = pairs.iloc[idx]
            row.update(mean_I=float(part["interaction"].mean()), mean_abs_I=float(part["interaction"].abs().mean()),
                       median_delta=float(part["delta"].median()))
        if len(idx) >= min_pairs:
            tested = losstest.summarise(pairs.iloc[idx], shuffled.iloc[idx], randpos.iloc[idx], alpha)
            row.update({k: tested[k] for k in ("p_paired", "p_unpaired", "p_magnitude", "p_randpos")})
        rows.append(row)
    table = pd.DataFrame(rows, columns=["key", "n", "mean_I", "mean_abs_I", "median_delta", "p_paired",
                                        "p_unpaired", "p_magnitude", "p_randpos"])
    tested = table["n"].to_numpy() >= min_pairs
    q = np.full(len(table), np.nan)
    if tested.any():
        q[tested] = false_discovery_control(table["p_paired"].to_numpy(np.float64)[tested], method="bh")
    call = np.where(~tested, "too few pairs", np.where(q < alpha, "interaction", "no interaction"))
    return table.assign(q=q, call=call)


def _consensus(per_model: list[pd.DataFrame], archs: list[str], alpha: float, fraction: float) -> pd.DataFrame:
    """The study's consistency rule per cell (:func:`lookloss.tables.consistency_table`, a model
    significant where q < alpha), as :func:`lookloss.genomic.summary_across_models` applies it: a
    model with too few pairs counts as not significant when the call would be the same had it been
    significant, and the call is ``too few pairs`` otherwise (or when every model has too few)."""
    n_cells = len(per_model[0])
    frame = pd.DataFrame({"control": np.tile(np.arange(n_cells), len(per_model)), "padding": "-",
                          "arch": np.repeat(archs, n_cells),
                          "q": np.concatenate([t["q"].to_numpy() for t in per_model])})
    few = frame["q"].isna().to_numpy()

    def calls(fill: float) -> np.ndarray:
        table = tables.consistency_table(frame.assign(p_paired=np.where(few, fill, frame["q"])), alpha, fraction)
        return table.groupby("control")["call"].first().reindex(np.arange(n_cells)).to_numpy()

    worst, best = calls(1.0), calls(0.0)
    every = few.reshape(len(per_model), n_cells).all(axis=0)
    n_sig = (np.nan_to_num(frame["q"].to_numpy(), nan=1.0) < alpha).reshape(len(per_model), n_cells).sum(axis=0)
    return pd.DataFrame({"call": np.where(every | (worst != best), "too few pairs", worst), "n_sig": n_sig})


def _labelled(table: pd.DataFrame, names: list[str], edges: np.ndarray, model: str, arch: str) -> pd.DataFrame:
    """A cell table with its keys spelled out: motif names, orientation, spacing bin ``[lo,hi)``."""
    key = np.array(table["key"].tolist(), dtype=np.int64).reshape(-1, 4)
    pooled = key[:, 2] < 0
    lo = np.where(pooled, edges[0], edges[np.maximum(key[:, 3], 0)])
    hi = np.where(pooled, edges[-1], edges[np.maximum(key[:, 3], 0) + 1])
    label = [POOLED if p else f"[{a:g},{b:g})" for p, a, b in zip(pooled, lo, hi, strict=True)]
    out = table.drop(columns="key").assign(
        model=model, arch=arch, motif_a=np.array(names, dtype=object)[key[:, 0]],
        motif_b=np.array(names, dtype=object)[key[:, 1]],
        orientation=np.where(pooled, POOLED, np.array(ORIENTATIONS, dtype=object)[np.maximum(key[:, 2], 0)]),
        spacing_bin=label, spacing_lo=lo, spacing_hi=hi)
    return out.reindex(columns=COLUMNS)


# ----------------------------------------------------------------------------- the scan
def run(model: Any, X: np.ndarray | torch.Tensor, y: np.ndarray, motifs: Mapping[str, np.ndarray] | str | Path, *,
        args: Any = None, held_out: Sequence[np.ndarray] | None = None, labels: Sequence[str] | None = None,
        arch: Sequence[str] | None = None, names: Sequence[str] | None = None,
        spacing_bins: Sequence[float] = DEFAULT_BINS, min_pairs: int = MIN_PAIRS, alpha: float = 0.05,
        p_value: float = P_VALUE, link: str = "anscombe", strands: str = "both", scan_window: int | None = None,
        min_gap: int | None = None, knockout_min_ddg: float = 10.0, pseudocount: float = 0.001, seed: int = 0,
        output: int | None = None, task: int | None = None, rc_average: bool = False, trace: bool = True,
        batch_size: int = 64, device: str | torch.device | None = None, progress: bool = False,
        max_motifs: int = MAX_MOTIFS, consistency_fraction: float = 0.5) -> ScanResult:
    """The scan (:func:`scan`) with its pair table and summary; see :func:`scan` for the parameters."""
    began = time.perf_counter()
    models = list(model) if isinstance(model, (list, tuple)) else [model]
    edges = check_settings(spacing_bins, min_pairs, alpha, p_value)
    if isinstance(motifs, (str, Path)):
        motifs = read_motifs(motifs, None, max_motifs)
    motif_names = list(motifs)
    if len(motif_names) < 2:
        raise ScanError(f"motifs: {len(motif_names)} given; expected at least two motifs to scan")
    if len(motif_names) > max_motifs:
        raise ScanError(f"motifs: {len(motif_names)} given, more than max_motifs {max_motifs}")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ScanError(f"--batch-size {batch_size}: expected a positive number of sequences")
    if strands not in losstest.STRANDS:
        raise ScanError(f"--strands {strands!r}: expected one of {list(losstest.STRANDS)}")
    onehot, targets = losstest.checked(X.numpy() if isinstance(X, torch.Tensor) else X, y, link)
    n, length = len(onehot), onehot.shape[-1]
    labels = list(labels) if labels is not None else (["model"] if len(models) == 1 else
                                                      [f"model{i}" for i in range(len(models))])
    archs = list(arch) if arch is not None else ["model"] * len(models)
    masks = [np.ones(n, dtype=bool)] * len(models) if held_out is None else \
        [np.asarray(m, dtype=bool).ravel() for m in held_out]
    for what, given in (("labels", labels), ("arch", archs), ("held_out", masks)):
        if len(given) != len(models):
            raise ScanError(f"{what}: {len(given)} given for {len(models)} model(s); expected one per model")
    if any(m.shape != (n,) for m in masks):
        raise ScanError(f"held_out: expected one boolean mask of {n} values (one per sequence) per model")
    control_tracks = args[0] if isinstance(args, (tuple, list)) and len(args) == 1 else args
    if isinstance(args, (tuple, list)) and len(args) != 1:
        raise ScanError(f"args: {len(args)} extra inputs; expected one (the control tracks), or none")
    if control_tracks is not None:
        control_tracks = control_tracks.numpy() if isinstance(control_tracks, torch.Tensor) else np.asarray(control_tracks)
        if control_tracks.ndim != 3 or len(control_tracks) != n:
            raise ScanError(f"args: control tracks of shape {control_tracks.shape}; expected ({n}, tracks, length)")
    names = [str(i) for i in range(n)] if names is None else [str(s) for s in names]
    codes = to_codes(onehot)
    counts = np.bincount(codes.ravel(), minlength=4).astype(np.float64)
    background = counts / counts.sum()
    motif_list = [losstest.as_motif(motifs[k], background, pseudocount, k) for k in motif_names]
    window = length if scan_window is None else int(scan_window)
    widest = max(m.width for m in motif_list)
    if not 2 * widest <= window <= length:
        raise ScanError(f"--scan-window {window}: expected at least twice the widest motif ({widest} bp) and at "
                        f"most the {length}-bp input")
    if min_gap is not None and min_gap < 0:
        raise ScanError(f"--min-gap {min_gap}: expected 0 or more bases between two motifs")
    bounds = ((length - window) // 2, (length - window) // 2 + window)
    for m in motif_list:
        losstest.check_knockable(m, knockout_min_ddg, strands)
    spec = LINKS[link]
    predictors = predictors_of(models, control_tracks, labels, output=output, task=task, rc_average=rc_average, trace=trace,
                             batch_size=batch_size, device=device)
    for predictor, label in zip(predictors, labels, strict=True):
        check_model(predictor, codes, label)

    timings = {"checks": time.perf_counter() - began}
    instances = find_instances(onehot, [np.asarray(motifs[k]) for k in motif_names], p_value, bounds, strands)
    candidates = instance_pairs(instances, edges, min_gap)
    chosen = select_pairs(candidates)
    timings["instances_and_pairs"] = time.perf_counter() - began - timings["checks"]
    bank, index, loci, shuffled = draws(codes, instances, chosen, motif_list, bounds, knockout_min_ddg, strands, seed)
    timings["draws"] = time.perf_counter() - began - sum(timings.values())
    timings.update(predicting=0.0, tests=0.0)
    grid = _grid(len(motif_list), len(edges) - 1, strands)
    per_model, frames, model_summaries = [], [], []
    for predictor, label, archname, mask in zip(predictors, labels, archs, masks, strict=True):
        mine = chosen[mask[chosen["locus"].to_numpy()]].reset_index(drop=True)
        sub_index = {**index, "ra": index["ra"][mask[chosen["locus"].to_numpy()]],
                     "rb": index["rb"][mask[chosen["locus"].to_numpy()]]}
        started = time.perf_counter()
        if len(mine):
            todo, plan = jobs(mine, sub_index, loci)
            f = predict(predictor, codes, shuffled, bank, todo, spec, progress, label)
            y_pairs = targets[mine["locus"].to_numpy()]
            tabs = {k: variant_table(f, plan["variants"][k], y_pairs, spec) for k in ("real", "shuffled", "randpos")}
            passes = plan["passes"]
        else:
            tabs = {k: {c: np.zeros(0) for c in ("f_gt", "f_g", "f_t", "f_0", "m_g", "m_t", "interaction",
                                                "loss_orig", "loss_main", "delta")} for k in ("real", "shuffled",
                                                                                              "randpos")}
            passes = dict.fromkeys(("originals", "single_knockouts", "double_knockouts", "shuffled",
                                    "random_positions", "total"), 0)
        seconds = time.perf_counter() - started
        timings["predicting"] += seconds
        frame = pair_frame(mine, instances, tabs, targets, names, label, motif_names, edges)
        stats = [pd.DataFrame({c: v[c] for c in ("interaction", "delta", "loss_main", "loss_orig")}).assign(
            motif_a=mine["motif_a"].to_numpy(), motif_b=mine["motif_b"].to_numpy(),
            orientation=mine["orientation"].to_numpy(), bin=mine["bin"].to_numpy(), pooled=mine["pooled"].to_numpy())
            for v in (tabs["real"], tabs["shuffled"], tabs["randpos"])]
        started = time.perf_counter()
        table = cell_table(stats[0], stats[1], stats[2], grid, min_pairs, alpha)
        timings["tests"] += time.perf_counter() - started
        per_model.append(table)
        frames.append(frame)
        tested = table["n"] >= min_pairs
        rc = 2 if rc_average else 1
        model_summaries.append({
            "model": label, "arch": archname, "n_sequences": int(mask.sum()),
            "n_sequences_with_pairs": int(mine["locus"].nunique()), "n_pairs_tested": len(mine),
            "n_pooled_pairs": int(mine["pooled"].sum()), "n_rows": len(table), "n_rows_tested": int(tested.sum()),
            "n_rows_too_few": int((~tested).sum()), "n_called": int((table["call"] == "interaction").sum()),
            "passes": {k: rc * v for k, v in passes.items()},
            "passes_pair_by_pair": rc * PASSES_PER_PAIR * int(len(mine) + mine["pooled"].sum()),
            "seconds_predicting": round(seconds, 3)})
    cells = pd.concat([_labelled(t, motif_names, edges, lab, a) for t, lab, a in zip(per_model, labels, archs,
                                                                                       strict=True)],
                      ignore_index=True).assign(n_models=1, n_sig=lambda t: (t["q"] < alpha).astype(int))
    pairs = pd.concat(frames, ignore_index=True)
    if len(models) > 1:
        cells = pd.concat([cells, _consensus_rows(per_model, pairs, archs, motif_names, edges, alpha,
                                                  consistency_fraction)], ignore_index=True)
    final = cells[cells["model"] == (CONSENSUS if len(models) > 1 else labels[0])]
    called = final[final["call"] == "interaction"]
    summary = {
        "motifs": [{"name": k, "width": m.width, "instances": int((instances["motif"] == i).sum())}
                   for i, (k, m) in enumerate(zip(motif_names, motif_list, strict=True))],
        "n_sequences": n, "n_instance_pairs": len(candidates), "spacing_bins": [float(e) for e in edges],
        "spacing": "centre to centre, |centre_b - centre_a| with centre = start + width / 2, bins [lo, hi)",
        "orientations": list(ORIENTATIONS), "instances": f"memelite FIMO, p < {p_value:g} per motif",
        "p_value": p_value, "strands": strands, "scan_window": window, "min_gap": min_gap, "link": link,
        "knockout_min_ddg": knockout_min_ddg, "seed": seed, "alpha": alpha, "min_pairs": int(min_pairs),
        "family": FAMILY, "consistency_fraction": consistency_fraction if len(models) > 1 else None,
        "n_models": len(models), "models": model_summaries,
        "passes": sum(s["passes"]["total"] for s in model_summaries),
        "passes_pair_by_pair": sum(s["passes_pair_by_pair"] for s in model_summaries),
        "n_called": len(called),
        "called": [{k: (None if pd.isna(v) else v) for k, v in row.items()}  # q is NaN on a consensus row
                   for row in called[["motif_a", "motif_b", "orientation", "spacing_bin", "n", "q"]].to_dict("records")],
        "seconds": round(time.perf_counter() - began, 3),
        "seconds_by_step": {k: round(v, 3) for k, v in timings.items()}}
    from lookloss import io

    return ScanResult(cells, pairs, io.plain(summary))


def _consensus_rows(per_model: list[pd.DataFrame], pairs: pd.DataFrame, archs: list[str], names: list[str],
                    edges: np.ndarray, alpha: float, fraction: float) -> pd.DataFrame:
    """One ``consensus`` row per cell: the consistency rule's call, every model's pairs together."""
    rule = _consensus(per_model, archs, alpha, fraction)
    together = per_model[0][["key"]].assign(n=sum(t["n"].to_numpy() for t in per_model))
    out = _labelled(together, names, edges, CONSENSUS, "all")
    frames = []
    for pooled in (False, True):
        part = pairs[pairs["pooled"]].assign(orientation=POOLED, spacing_bin=POOLED) if pooled else pairs
        frames.append(part.assign(abs_I=part["interaction"].abs()).groupby(
            ["motif_a", "motif_b", "orientation", "spacing_bin"]).agg(
            mean_I=("interaction", "mean"), mean_abs_I=("abs_I", "mean"), median_delta=("delta", "median")))
    keys = ["motif_a", "motif_b", "orientation", "spacing_bin"]
    stats = out[keys].merge(pd.concat(frames).reset_index(), on=keys, how="left")
    out[["mean_I", "mean_abs_I", "median_delta"]] = stats[["mean_I", "mean_abs_I", "median_delta"]].to_numpy()
    return out.assign(call=rule["call"].to_numpy(), n_sig=rule["n_sig"].to_numpy(), n_models=len(per_model))


def scan(model: Any, X: np.ndarray | torch.Tensor, y: np.ndarray, motifs: Mapping[str, np.ndarray] | str | Path,
         **kwargs: Any) -> pd.DataFrame:
    """The loss test of every motif pair, orientation and spacing bin, with false-discovery control.

    Parameters
    ----------
    model : torch.nn.Module, Predictor, or a list of them
        A module maps one-hot ``(N, 4, L)`` (and the control tracks of ``args``) to one
        value per sequence in ``link``'s space, or to a tuple / several tasks chosen with
        ``output`` and ``task``; it runs through :class:`lookloss.head.Head`. Several models
        (e.g. one per fold) each get their own rows and q-values, and one ``consensus`` row
        per cell by the study's consistency rule.
    X : numpy.ndarray or torch.Tensor, shape=(N, 4, L)
        Held-out sequences, one-hot.
    y : numpy.ndarray, shape=(N,)
        Their observed counts.
    motifs : dict of str to numpy.ndarray (4, w), or a MEME file path
        The motifs to scan (at least two; a file: all its motifs, at most ``max_motifs``).
    args : numpy.ndarray or tuple of one, optional
        Control tracks ``(N, tracks, L)``, passed with every variant of each sequence
        (tangermeme's ``args``).
    held_out : list of boolean arrays, optional
        Per model, the sequences it is tested on (its held-out fold); default all.
    labels, arch : list of str, optional
        Per model, its name and its architecture (for the consistency rule).
    names : list of str, optional
        Sequence names for the pair table.
    spacing_bins : sequence of float
        Edges of the spacing bins, centre to centre, in bases (:data:`DEFAULT_BINS`).
    min_pairs : int
        Fewest pairs for a cell (or pooled pair) to be tested (:data:`MIN_PAIRS`).
    alpha : float
        The q-value below which a cell is called ``interaction``.
    p_value : float
        FIMO's p-value threshold for an instance (:data:`P_VALUE`).
    link, strands, scan_window, min_gap, knockout_min_ddg, pseudocount, seed
        As in :func:`lookloss.losstest.loss_test` (``scan_window`` centred; default the
        whole sequence).
    output, task, rc_average, trace, batch_size, device
        How each module runs (:class:`lookloss.head.Head`).
    progress : bool
        A progress bar over the predictions.
    max_motifs : int
        Most motifs scanned (:data:`MAX_MOTIFS`).

    Returns
    -------
    pandas.DataFrame
        One row per cell and model (:data:`COLUMNS`); ``.attrs["summary"]`` holds the
        summary (settings, sizes, passes made and those a pair-by-pair run would make).
        :func:`run` also returns the pair table.

    Raises
    ------
    ScanError, lookloss.losstest.LossTestError
        Bad settings, motifs, shapes or models, with the option and what was expected.
    """
    result = run(model, X, y, motifs, **kwargs)
    cells = result.cells.copy()
    cells.attrs["summary"] = result.summary
    return cells


class _CallableModule(types.ModuleType):
    """This module, callable as :func:`scan`: ``lookloss.scan(model, X, y, motifs)``."""

    def __call__(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        return scan(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
