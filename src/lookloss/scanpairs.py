"""Instances, pairs and the variants the scan predicts, each once (:mod:`lookloss.scan`, docs/scan.md).

FIMO's instances of every motif (:func:`find_instances`), every pair of them on one sequence
with its cell (:func:`instance_pairs`) and each sequence's best pair per cell
(:func:`select_pairs`); the random draws shared by every model (:func:`draws`); the
sequences one model must predict, each once (:func:`jobs`), materialised and predicted
:data:`CHUNK` at a time (:func:`predict`); and the study's effects and losses of each
pair (:func:`variant_table`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from lookloss import interactions, losstest, simulation

#: Relative orientations, read with motif A's instance on the plus strand: B on the same
#: strand downstream (A>B>) or upstream (B>A>), on the other strand downstream (A><B,
#: convergent) or upstream (<BA>, divergent). A motif with itself has no B>A> (it is A>B>).
ORIENTATIONS = ("A>B>", "B>A>", "A><B", "<BA>")
#: Sequences materialised and sent to the model at a time.
CHUNK = 4096
# Stream keys of the scan's random draws (lookloss.simulation.stream), apart from the loss test's.
_KNOCKOUT, _SHUFFLE, _RANDPOS = 11, 12, 13


class ScanError(losstest.LossTestError):
    """The scan cannot run as asked; the message names the option and what was expected."""


def find_instances(onehot: np.ndarray, ppms: Sequence[np.ndarray], p_value: float, bounds: tuple[int, int],
                   strands: str = "both") -> pd.DataFrame:
    """FIMO's hits of every motif (``p < p_value``) lying wholly in ``bounds``, overlaps of one motif
    resolved to the best: ``locus``, ``motif`` (index), ``start``, ``width``, ``strand`` (+1 or -1),
    ``score`` (FIMO's log2 odds)."""
    from memelite import fimo

    lo, hi = bounds
    window = np.ascontiguousarray(onehot[:, :, lo:hi], dtype=np.float32)
    hits = fimo({str(i): np.asarray(p, dtype=np.float64) for i, p in enumerate(ppms)}, window,
                threshold=p_value, reverse_complement=strands == "both")
    frames = [pd.DataFrame({"locus": h["sequence_name"].to_numpy(np.int64), "motif": i,
                            "start": h["start"].to_numpy(np.int64) + lo, "width": ppms[i].shape[1],
                            "strand": np.where(h["strand"].to_numpy() == "-", -1, 1),
                            "score": h["score"].to_numpy(np.float64)}) for i, h in enumerate(hits)]
    table = pd.concat(frames, ignore_index=True).sort_values(["locus", "motif", "score", "start"],
                                                             ascending=[True, True, False, True], kind="stable")
    keep = np.ones(len(table), dtype=bool)
    group = table["locus"].to_numpy() * len(ppms) + table["motif"].to_numpy()
    start, width = table["start"].to_numpy(), table["width"].to_numpy()
    edges = np.flatnonzero(np.diff(group)) + 1
    for first, last in zip(np.r_[0, edges], np.r_[edges, len(table)], strict=True):
        if last - first < 2:
            continue
        kept: list[int] = []
        for i in range(first, last):  # best first: a hit overlapping a better one of the same motif goes
            if all(start[i] + width[i] <= start[k] or start[k] + width[k] <= start[i] for k in kept):
                kept.append(i)
            else:
                keep[i] = False
    return table[keep].sort_values(["locus", "start", "motif"], kind="stable").reset_index(drop=True)


def instance_pairs(instances: pd.DataFrame, edges: np.ndarray, min_gap: int | None = None) -> pd.DataFrame:
    """Every pair of instances on one sequence under the gap rule and inside the bins, with its cell.

    Motif A is the pair's motif listed first (for a motif with itself, the instance listed
    first); ``spacing`` is centre to centre; ``orientation`` indexes :data:`ORIENTATIONS`;
    ``bin`` the spacing bin; ``score`` the summed FIMO scores.
    """
    inst = instances.reset_index(drop=True).assign(inst=lambda t: np.arange(len(t)))
    both = inst.merge(inst, on="locus", suffixes=("_a", "_b"))
    both = both[(both["motif_a"] < both["motif_b"]) |
                ((both["motif_a"] == both["motif_b"]) & (both["inst_a"] < both["inst_b"]))]
    sa, sb = both["start_a"].to_numpy(), both["start_b"].to_numpy()
    wa, wb = both["width_a"].to_numpy(), both["width_b"].to_numpy()
    need = np.maximum(wa, wb) - 1 if min_gap is None else np.full(len(both), int(min_gap))
    apart = simulation.gap(sa, wa, sb, wb)
    twice = (2 * sb + wb) - (2 * sa + wa)  # twice the centre-to-centre displacement, B minus A
    spacing = np.abs(twice) / 2
    bins = np.searchsorted(edges, spacing, side="right") - 1
    ok = (apart >= need) & (bins >= 0) & (bins < len(edges) - 1)
    ahead = twice * both["strand_a"].to_numpy() > 0  # B downstream of A, read on A's strand
    same = both["strand_a"].to_numpy() == both["strand_b"].to_numpy()
    orientation = np.select([same & ahead, same & ~ahead, ~same & ahead], [0, 1, 2], 3)
    homotypic = both["motif_a"].to_numpy() == both["motif_b"].to_numpy()
    orientation = np.where(homotypic & (orientation == 1), 0, orientation)
    out = pd.DataFrame({"locus": both["locus"].to_numpy(), "motif_a": both["motif_a"].to_numpy(),
                        "motif_b": both["motif_b"].to_numpy(), "inst_a": both["inst_a"].to_numpy(),
                        "inst_b": both["inst_b"].to_numpy(), "orientation": orientation, "bin": bins,
                        "spacing": spacing, "score": both["score_a"].to_numpy() + both["score_b"].to_numpy()})
    return out[ok].reset_index(drop=True)


def select_pairs(pairs: pd.DataFrame) -> pd.DataFrame:
    """Each sequence's best pair per cell (highest summed score; the first on a tie), with ``pooled``
    marking each sequence's best pair per motif pair (the best of its cells)."""
    ranked = pairs.sort_values(["score", "inst_a", "inst_b"], ascending=[False, True, True], kind="stable")
    best = ranked.drop_duplicates(["locus", "motif_a", "motif_b", "orientation", "bin"])
    pooled = ~best.duplicated(["locus", "motif_a", "motif_b"])
    return best.assign(pooled=pooled.to_numpy()).sort_values(["locus", "inst_a", "inst_b"]).reset_index(drop=True)


@dataclass
class _Bank:
    """Replacement bases: where each goes (``start``), how wide, and the bases (padded to the widest)."""

    start: np.ndarray
    width: np.ndarray
    bases: np.ndarray

    @classmethod
    def of(cls, parts: list[tuple[np.ndarray, np.ndarray]]) -> _Bank:
        """One bank of ``(starts, bases (n, w))`` parts, in order."""
        widest = max([b.shape[1] for _, b in parts] + [1])
        bases = np.zeros((sum(len(s) for s, _ in parts), widest), dtype=np.int8)
        at = 0
        for s, b in parts:
            bases[at:at + len(s), :b.shape[1]] = b
            at += len(s)
        return cls(np.concatenate([s for s, _ in parts]).astype(np.int64),
                   np.concatenate([np.full(len(s), b.shape[1]) for s, b in parts]).astype(np.int64), bases)

    def apply(self, codes: np.ndarray, edit: np.ndarray) -> None:
        """Write replacement ``edit[i]`` (-1: none) into row ``i`` of ``codes``, in place."""
        rows = np.flatnonzero(edit >= 0)
        chosen = edit[rows]
        for width in np.unique(self.width[chosen]):
            sel = self.width[chosen] == width
            r, e = rows[sel], chosen[sel]
            codes[r[:, None], self.start[e][:, None] + np.arange(width)] = self.bases[e, :width]


def draws(codes: np.ndarray, instances: pd.DataFrame, chosen: pd.DataFrame, motifs: list[simulation.Motif],
           bounds: tuple[int, int], min_ddg: float, strands: str, seed: int
           ) -> tuple[_Bank, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Every random draw of the scan, once for all models: knock-outs and random bases per instance, the
    shuffled sequences, the random-position windows and their knock-outs per pair.

    Returns the bank of replacements, the bank index of each instance's knock-out (``ko``) and random
    bases (``random``) and of each pair's random windows (``ra``, ``rb``), the loci with a pair, and
    their shuffled sequences (rows in the order of those loci)."""
    n_inst = len(instances)
    ko = simulation.stream(seed, _KNOCKOUT)
    shuffle = simulation.stream(seed, _SHUFFLE)
    windows = simulation.stream(seed, _RANDPOS)
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    index = {k: np.full(n, -1, dtype=np.int64) for k, n in (("ko", n_inst), ("random", n_inst),
                                                           ("ra", len(chosen)), ("rb", len(chosen)))}
    at = 0
    motif_of = instances["motif"].to_numpy()
    starts = instances["start"].to_numpy()
    for key, draw in (("ko", lambda m, n: losstest.knockouts(ko, m, n, min_ddg, strands)),
                      ("random", lambda m, n: simulation.random_bases(shuffle, n, m.width))):
        for m, motif in enumerate(motifs):
            rows = np.flatnonzero(motif_of == m)
            parts.append((starts[rows], draw(motif, rows.size)))
            index[key][rows] = at + np.arange(rows.size)
            at += rows.size
    a, b = chosen["inst_a"].to_numpy(), chosen["inst_b"].to_numpy()
    sa, sb = starts[a], starts[b]
    wa, wb = instances["width"].to_numpy()[a], instances["width"].to_numpy()[b]
    left = np.minimum(sa, sb)
    span = np.maximum(sa + wa, sb + wb) - left
    shift = bounds[0] + (windows.random(len(chosen)) * (bounds[1] - bounds[0] - span + 1)).astype(np.int64) - left
    for key, s, inst in (("ra", sa + shift, a), ("rb", sb + shift, b)):
        for m, motif in enumerate(motifs):
            rows = np.flatnonzero(motif_of[inst] == m)
            parts.append((s[rows], losstest.knockouts(windows, motif, rows.size, min_ddg, strands)))
            index[key][rows] = at + np.arange(rows.size)
            at += rows.size
    loci = np.unique(chosen["locus"].to_numpy())
    shuffled = np.concatenate([simulation.shuffle_dinucleotides(codes[loci[i:i + CHUNK]],
                                                                simulation.shuffle_seed(shuffle))
                               for i in range(0, len(loci), CHUNK)] or [codes[:0]])
    return _Bank.of(parts), index, loci, shuffled


def jobs(chosen: pd.DataFrame, index: dict[str, np.ndarray], loci: np.ndarray) -> tuple[dict[str, np.ndarray],
                                                                                          dict[str, Any]]:
    """The sequences one model must predict, each once: ``source`` (0 the sequence, 1 its shuffle),
    ``locus``, two edits (bank indices, -1 for none); and where each variant of each pair is."""
    inst = np.unique(np.concatenate([chosen["inst_a"].to_numpy(), chosen["inst_b"].to_numpy()]))
    inst_locus = np.empty(max(inst.max() + 1, 1) if len(inst) else 1, dtype=np.int64)
    inst_locus[chosen["inst_a"].to_numpy()] = chosen["locus"].to_numpy()
    inst_locus[chosen["inst_b"].to_numpy()] = chosen["locus"].to_numpy()
    used = np.unique(chosen["locus"].to_numpy())
    n_l, n_i, n_p = len(used), len(inst), len(chosen)
    a, b = chosen["inst_a"].to_numpy(), chosen["inst_b"].to_numpy()
    none_l, none_p = np.full(n_l, -1), np.full(n_p, -1)
    groups = [  # (name, source, locus, edit1, edit2)
        ("orig", 0, used, none_l, none_l), ("single", 0, inst_locus[inst], index["ko"][inst], np.full(n_i, -1)),
        ("double", 0, chosen["locus"].to_numpy(), index["ko"][a], index["ko"][b]),
        ("sh_orig", 1, used, none_l, none_l),
        ("sh_single", 1, inst_locus[inst], index["random"][inst], np.full(n_i, -1)),
        ("sh_double", 1, chosen["locus"].to_numpy(), index["random"][a], index["random"][b]),
        ("rp_a", 0, chosen["locus"].to_numpy(), index["ra"], none_p),
        ("rp_b", 0, chosen["locus"].to_numpy(), index["rb"], none_p),
        ("rp_double", 0, chosen["locus"].to_numpy(), index["ra"], index["rb"])]
    offsets, at = {}, 0
    for name, _, locus, _, _ in groups:
        offsets[name] = at
        at += len(locus)
    jobs = {"source": np.concatenate([np.full(len(g[2]), g[1]) for g in groups]),
            "locus": np.concatenate([g[2] for g in groups]), "edit1": np.concatenate([g[3] for g in groups]),
            "edit2": np.concatenate([g[4] for g in groups])}
    jobs["shuffled_row"] = np.searchsorted(loci, jobs["locus"])
    where_l = offsets["orig"] + np.searchsorted(used, chosen["locus"].to_numpy())
    where_a = offsets["single"] + np.searchsorted(inst, a)
    where_b = offsets["single"] + np.searchsorted(inst, b)
    pair = np.arange(n_p)
    variants = {  # per pair, the job of each variant: gt both present, g A only (B knocked out), t B only, 0 neither
        "real": {"gt": where_l, "g": where_b, "t": where_a, "0": offsets["double"] + pair},
        "shuffled": {"gt": where_l - offsets["orig"] + offsets["sh_orig"],
                     "g": where_b - offsets["single"] + offsets["sh_single"],
                     "t": where_a - offsets["single"] + offsets["sh_single"], "0": offsets["sh_double"] + pair},
        "randpos": {"gt": where_l, "g": offsets["rp_b"] + pair, "t": offsets["rp_a"] + pair,
                    "0": offsets["rp_double"] + pair}}
    passes = {"originals": n_l, "single_knockouts": n_i, "double_knockouts": n_p, "shuffled": n_l + n_i + n_p,
              "random_positions": 3 * n_p, "total": len(jobs["locus"])}
    return jobs, {"variants": variants, "passes": passes}


def predict(predictor: Callable[[np.ndarray, np.ndarray], np.ndarray], codes: np.ndarray, shuffled: np.ndarray,
             bank: _Bank, jobs: dict[str, np.ndarray], link: Any, progress: bool, label: str) -> np.ndarray:
    """Predictions (counts) of every job, :data:`CHUNK` sequences at a time."""
    from tqdm import tqdm

    n = len(jobs["locus"])
    out = np.empty(n, dtype=np.float64)
    for start in tqdm(range(0, n, CHUNK), desc=f"scan: predicting {n} sequences ({label})", unit="chunk",
                      disable=not progress or n < CHUNK, leave=False):
        part = slice(start, start + CHUNK)
        real = jobs["source"][part] == 0
        seqs = np.empty((len(real), codes.shape[1]), dtype=np.int8)
        seqs[real] = codes[jobs["locus"][part][real]]
        seqs[~real] = shuffled[jobs["shuffled_row"][part][~real]]
        bank.apply(seqs, jobs["edit1"][part])
        bank.apply(seqs, jobs["edit2"][part])
        pred = np.asarray(predictor(seqs, jobs["locus"][part]), dtype=np.float64).ravel()
        if pred.shape != (len(seqs),):
            raise ScanError(f"model {label!r} gave {pred.size} predictions for {len(seqs)} sequences; expected one "
                            "per sequence")
        out[part] = link.to_counts(pred)
    return out


def variant_table(f: np.ndarray, where: Mapping[str, np.ndarray], y: np.ndarray, link: Any) -> dict[str, np.ndarray]:
    """Effects and losses of one set of variants (the study's names: gt, g, t, 0), rounding noise zeroed."""
    fv = {v: f[where[v]] for v in ("gt", "g", "t", "0")}
    eff = interactions.effects(fv)
    computed = {**{f"f_{v}": fv[v] for v in fv}, **eff, **interactions.losses(fv["gt"], eff["interaction"], y, link)}
    computed = losstest.without_rounding_noise(computed, y, link)
    losstest.check_finite(computed, link.name)
    return computed


# ----------------------------------------------------------------------------- models and the pair table
def predictors_of(model: Any, control_tracks: np.ndarray | None, labels: list[str], *, output: int | None,
                task: int | None, rc_average: bool, trace: bool, batch_size: int, device: Any) -> list[Callable]:
    """Each model as a :data:`lookloss.losstest.Predictor`: a module wrapped in a :class:`lookloss.head.Head`
    (output, task, control tracks ``control_tracks`` by row, batches, fusion with fallback), a Predictor as it is."""
    from lookloss import devices
    from lookloss.head import Head

    out = []
    for m, label in zip(model, labels, strict=True):
        if isinstance(m, torch.nn.Module):
            if device is not None:
                try:
                    m = m.to(devices.resolve_device(device))
                except (RuntimeError, ValueError) as error:
                    raise ScanError(f"--device: {error}") from None
            m = Head(m, label, output=output, task=task, control_tracks=control_tracks, rc_average=rc_average,
                     batch_size=batch_size, trace=trace, genomic=control_tracks is not None)
        elif not callable(m):
            raise ScanError(f"model {label!r} is a {type(m).__name__}; expected a torch.nn.Module or a predictor "
                            "called with integer codes and rows")
        out.append(m)
    return out


def check_model(predictor: Callable, codes: np.ndarray, label: str) -> None:
    """One prediction per sequence on two sequences, or an error naming the model (a Head's own errors pass)."""
    try:
        out = np.asarray(predictor(codes[:2], np.arange(min(2, len(codes)))), dtype=np.float64)
    except losstest.LossTestError:
        raise
    except Exception as error:  # noqa: BLE001  (any failure of the user's model on valid input)
        raise ScanError(f"model {label!r} fails on integer-coded sequences of shape {codes[:2].shape}: "
                        f"{error}") from None
    if out.size != min(2, len(codes)):
        raise ScanError(f"model {label!r} gave output of shape {out.shape} for {min(2, len(codes))} sequences; "
                        "expected one prediction per sequence")


def pair_frame(chosen: pd.DataFrame, instances: pd.DataFrame, tabs: dict[str, dict[str, np.ndarray]],
                targets: np.ndarray, names: list[str], label: str, motif_names: list[str], edges: np.ndarray
                ) -> pd.DataFrame:
    """The tested pairs of one model: where, their cell, the variants' predictions, I, losses and nulls."""
    a, b = chosen["inst_a"].to_numpy(), chosen["inst_b"].to_numpy()
    real = tabs["real"]
    strand = np.where(instances["strand"].to_numpy() > 0, "+", "-")
    bins = chosen["bin"].to_numpy()
    return pd.DataFrame({
        "model": label, "name": np.array(names, dtype=object)[chosen["locus"].to_numpy()],
        "motif_a": np.array(motif_names, dtype=object)[chosen["motif_a"].to_numpy()],
        "motif_b": np.array(motif_names, dtype=object)[chosen["motif_b"].to_numpy()],
        "orientation": np.array(ORIENTATIONS, dtype=object)[chosen["orientation"].to_numpy()],
        "spacing_bin": [f"[{edges[k]:g},{edges[k + 1]:g})" for k in bins], "spacing": chosen["spacing"].to_numpy(),
        "pooled": chosen["pooled"].to_numpy(), "a_start": instances["start"].to_numpy()[a],
        "b_start": instances["start"].to_numpy()[b], "a_strand": strand[a], "b_strand": strand[b],
        "f_ab": real["f_gt"], "f_a": real["f_g"], "f_b": real["f_t"], "f_0": real["f_0"], "m_a": real["m_g"],
        "m_b": real["m_t"], "interaction": real["interaction"], "target": targets[chosen["locus"].to_numpy()],
        "loss_orig": real["loss_orig"], "loss_main": real["loss_main"], "delta": real["delta"],
        "shuffled_interaction": tabs["shuffled"]["interaction"], "randpos_delta": tabs["randpos"]["delta"]})
