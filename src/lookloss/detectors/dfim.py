"""Deep feature interaction maps (DFIM; Greenside et al. 2018, Bioinformatics), an entry of
:data:`lookloss.detectors.DETECTORS` (docs/study.md section 8).

The largest change, over the target motif's positions, of its DeepLIFT/SHAP attributions
(tangermeme's ``deep_lift_shap``) when the source motif is knocked out, as DFIM's own code
scores it, in both directions (:func:`scores`). Null: the same scores on the study's
shuffled null of the same pairs. Test: Mann-Whitney scores > null scores (:func:`run`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tangermeme.deep_lift_shap import deep_lift_shap
from tangermeme.ersatz import dinucleotide_shuffle

from lookloss import simulation
from lookloss.detectors.explain import NONLINEAR, dtype_of, greater, rounded
from lookloss.layout import start_key, variant_key

# Stream keys of the draws (lookloss.simulation.stream of the simulation's seed); apart
# from the simulation's own keys 1-6 and GIA's.
_PAIRS, _REFERENCES = 24, 25


def scores(model: torch.nn.Module, X: torch.Tensor, knocked_out: Sequence[torch.Tensor], starts: np.ndarray,
           widths: tuple[int, int], references: torch.Tensor, args: tuple | None = None, batch_size: int = 1024,
           device: str | torch.device = "cpu", nonlinear: Mapping[type, Any] | None = None) -> np.ndarray:
    """Feature interaction scores of two motifs in each sequence, both directions.

    Parameters
    ----------
    model : torch.nn.Module
        Predicts counts ``(N, 1)`` (:func:`lookloss.detectors.explain.explainable`).
    X : torch.Tensor, shape=(n, 4, L)
        One-hot sequences with both motifs.
    knocked_out : pair of torch.Tensor, shape=(n, 4, L)
        The same sequences with the first motif knocked out, and with the second.
    starts : numpy.ndarray, shape=(n, 2)
        Where the first and the second motif start.
    widths : tuple of int
        The motifs' widths.
    references : torch.Tensor, shape=(n, r, 4, L)
        DeepLIFT/SHAP references of each sequence, used for all three variants.
    args, batch_size, device
        As tangermeme's ``deep_lift_shap`` takes them (``batch_size``: sequence-reference
        pairs per pass).
    nonlinear : mapping, optional
        More modules for DeepLIFT to rescale, besides :data:`NONLINEAR` (a model's own).

    Returns
    -------
    numpy.ndarray, shape=(n, 3)
        ``FIS(first -> second)``, ``FIS(second -> first)`` (DFIM's score: the largest
        absolute change, over the target's positions, of its attributions summed over
        the bases, between the sequence with both motifs and that with the source
        knocked out) and the mean absolute attribution of the target windows they come
        from. DFIM's code takes ``|Δ|`` per base and sums over the bases; summing first
        is the same here because the attributions are not hypothetical (one base per
        position is non-zero) and the target's bases are the same in both sequences.
    """
    dtype = dtype_of(model)
    run = {"args": args, "batch_size": batch_size, "device": device, "dtype": dtype,
           "references": references.to(dtype), "additional_nonlinear_ops": {**NONLINEAR, **(nonlinear or {})}}
    rows = np.arange(len(X))
    windows = [np.asarray(starts)[:, k, None] + np.arange(w)[None, :] for k, w in enumerate(widths)]

    def importance(seqs: torch.Tensor) -> list[np.ndarray]:
        """Each motif's window of attributions (summed over the bases), ``(n, width)``."""
        attributions = deep_lift_shap(model, seqs.to(dtype), **run).sum(dim=1).double().numpy()
        return [attributions[rows[:, None], window] for window in windows]

    first, second = importance(X)
    second_without_first, first_without_second = importance(knocked_out[0])[1], importance(knocked_out[1])[0]
    scale = np.mean([np.abs(a).mean(axis=1) for a in (second, first, second_without_first, first_without_second)],
                    axis=0)
    return np.column_stack([np.abs(second - second_without_first).max(axis=1),
                            np.abs(first - first_without_second).max(axis=1), scale])



def interaction_scores(table: np.ndarray) -> np.ndarray:
    """Per pair, the mean feature interaction score of both directions (:func:`scores`), rounding set to 0."""
    return (np.abs(rounded(table[:, 0], table[:, 2])) + np.abs(rounded(table[:, 1], table[:, 2]))) / 2


@dataclass(frozen=True)
class Inputs:
    """What DFIM runs on, the same for every model it compares.

    Attributes
    ----------
    pairs, null : dict
        The tested pairs and their null: ``X`` (one-hot sequences with both motifs),
        ``knocked_out`` (the first motif knocked out, the second), ``starts`` and
        ``references`` (:func:`scores`'s arguments); the null's rows are the same pairs'.
    widths : tuple of int
        The first and the second motif's widths.
    """

    pairs: dict[str, Any]
    null: dict[str, Any]
    widths: tuple[int, int]


def prepare(sim: simulation.Simulation, pairs_test: Mapping[str, np.ndarray], pairs_shuffled: Mapping[str, np.ndarray],
            settings: Mapping[str, int]) -> Inputs:
    """DFIM's inputs for the study's pair sets of one padding: ``settings["dfim_pairs"]`` held-out
    pairs (a seeded subsample of ``pairs_test``) and the same rows of ``pairs_shuffled``, each with
    ``settings["dfim_references"]`` dinucleotide-shuffled references."""
    n_pairs = len(pairs_test[variant_key("gt")])
    if n_pairs == 0:
        raise ValueError("the pair set holds no analysed pair: the detectors need at least one")
    rows = np.sort(simulation.stream(sim.seed, _PAIRS).choice(
        n_pairs, size=min(settings["dfim_pairs"], n_pairs), replace=False))
    seeds = simulation.stream(sim.seed, _REFERENCES)
    pairs, null = (_pairs(arrays, rows, settings["dfim_references"], simulation.shuffle_seed(seeds))
                   for arrays in (pairs_test, pairs_shuffled))
    return Inputs(pairs, null, (sim.gata.width, sim.tal.width))


def _pairs(arrays: Mapping[str, np.ndarray], rows: np.ndarray, n_references: int, seed: int) -> dict[str, Any]:
    """DFIM's view of some rows of a pair set: sequences, knock-outs, starts, shared references."""
    X = torch.from_numpy(np.ascontiguousarray(arrays[variant_key("gt")][rows]))
    # s_t keeps TAL1 (GATA1 knocked out), s_g keeps GATA1 (TAL1 knocked out)
    knocked_out = tuple(torch.from_numpy(np.ascontiguousarray(arrays[variant_key(v)][rows])) for v in ("t", "g"))
    references = dinucleotide_shuffle(X, n=n_references, random_state=seed)
    starts = np.column_stack([arrays[start_key(r)][rows] for r in ("gata", "tal")])
    return {"X": X, "knocked_out": knocked_out, "starts": starts, "references": references}


def run(model: torch.nn.Module, inputs: Inputs, args: tuple | None = None, batch_size: int = 1024,
        device: str | torch.device = "cpu") -> dict[str, Any]:
    """DFIM on one model: the pairs' feature interaction scores against the null's, p-value, seconds.

    Parameters
    ----------
    model : torch.nn.Module
        Predicts counts ``(N, 1)`` (:func:`lookloss.detectors.explain.explainable`); the
        nonlinear modules of its own that DeepLIFT must rescale, if any, in its attribute
        ``nonlinear_ops`` (module type -> tangermeme rule).
    inputs : Inputs
        From :func:`prepare` (or built so for another kind of data).
    args : tuple of torch.Tensor, optional
        The model's further inputs, one row per pair (the same for the null's rows).
    batch_size, device
        Sequence-reference pairs per pass, and where the model runs.

    Returns
    -------
    dict
        ``n_dfim_pairs``, ``mean_fis``, ``mean_fis_null``, ``p_dfim``, ``dfim_seconds``.
    """
    start = time.perf_counter()
    run_on = {"args": args, "batch_size": batch_size, "device": device,
              "nonlinear": getattr(model, "nonlinear_ops", None)}
    found = [interaction_scores(scores(model, p["X"], p["knocked_out"], p["starts"], inputs.widths, p["references"],
                                       **run_on))
             for p in (inputs.pairs, inputs.null)]
    return {"n_dfim_pairs": len(found[0]), "mean_fis": float(found[0].mean()), "mean_fis_null": float(found[1].mean()),
            "p_dfim": greater(found[0], found[1]), "dfim_seconds": time.perf_counter() - start}
