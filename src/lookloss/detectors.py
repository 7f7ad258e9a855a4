"""Two more interaction detectors, GIA and DFIM, built on tangermeme (docs/study.md section 8).

Besides the study's magnitude test and loss test (:mod:`lookloss.stats`), two detectors
of the field, each with a per-model statistic, a one-sided test against a null of the
study's shuffled kind, and the study's α:

- **Global importance analysis** (GIA; Koo et al. 2021, PLoS Comput Biol): the
  consensus of each motif is embedded into background sequences drawn from the data's
  null model (tangermeme's ``ersatz.substitute``, what its ``marginalize`` and ``space``
  embed with) at the positions of held-out pairs; the interaction of a configuration is
  the global importance of the pair minus that of each motif,
  ``I_c = E[f(s_AB)] - E[f(s_A)] - E[f(s_B)] + E[f(s)]`` (:func:`gia`). Null: random
  k-mers of the motifs' widths at the same positions in the same backgrounds. Test:
  Mann-Whitney ``|I_c|`` of the motifs > ``|I_c|`` of the k-mers.
- **Deep feature interaction maps** (DFIM; Greenside et al. 2018, Bioinformatics): the
  largest change, over the target motif's positions, of its DeepLIFT/SHAP attributions
  (tangermeme's ``deep_lift_shap``) when the source motif is knocked out, as DFIM's
  own code scores it, in both directions (:func:`dfim`). Null: the same scores on the
  study's shuffled null of the same pairs.
  Test: Mann-Whitney scores > null scores.

Every statistic is measured on the model's prediction mapped to counts (the study's
space of effects, docs/study.md section 4); :func:`explainable` wraps a model so, with
the mapping as one more nonlinearity for DeepLIFT's rescale rule. Arguments shared with
tangermeme keep its names: ``model, X, args, batch_size, device``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tangermeme.deep_lift_shap import _nonlinear, deep_lift_shap
from tangermeme.ersatz import dinucleotide_shuffle, substitute
from tangermeme.predict import predict

from lookloss import motifs, simulation, stats
from lookloss.layout import start_key, variant_key

#: The detectors of ``tables/detectors.tsv``: name -> its p-value's column (the study's
#: two come from ``models.tsv``, the two of this module from their own statistics).
DETECTORS = {"magnitude": "p_magnitude", "loss": "p_paired", "gia": "p_gia", "dfim": "p_dfim"}
#: An interaction or score below this fraction of the predictions (attributions) it is
#: computed from counts as 0: rounding, not interaction (docs/study.md section 8).
RTOL = 1e-5
# Stream keys of the detectors' random draws (lookloss.simulation.stream of the
# simulation's seed); apart from the simulation's own keys 1-6.
_BACKGROUNDS, _POSITIONS, _KMERS, _PAIRS, _REFERENCES = 21, 22, 23, 24, 25


class CountsOutput(torch.nn.Module):
    """The Anscombe inverse ``(y / 2)^2 - 3/8`` (counts from the study's output), elementwise.

    A module of its own so that DeepLIFT treats it as a nonlinearity (rescale rule),
    keeping attributions summing to the change in predicted counts.
    """

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return (y / 2) ** 2 - 3 / 8


class AnscombeOutput(torch.nn.Module):
    """The Anscombe transform ``2 sqrt(x + 3/8)``, elementwise, as a module DeepLIFT rescales.

    For a model that computes a rate and transforms it last: with this module, the
    transform and :class:`CountsOutput` cancel in DeepLIFT's multipliers as they do in
    the prediction.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * torch.sqrt(x + 3 / 8)


#: The modules DeepLIFT/SHAP rescales besides tangermeme's own nonlinearities.
NONLINEAR = {CountsOutput: _nonlinear, AnscombeOutput: _nonlinear}


class Explainable(torch.nn.Module):
    """A model's prediction in counts, shape ``(N, 1)``, with every nonlinearity a module.

    The study's networks (:class:`lookloss.models.ConvRegressor`) apply ``torch.relu``
    as a function, which DeepLIFT's hooks cannot see; here the same layers run with one
    :class:`torch.nn.ReLU` module per layer. Any other model is run as it is.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        from lookloss.models import ConvRegressor

        self.model = model
        self.study = isinstance(model, ConvRegressor)
        n_relu = len(model.convs) + len(model.dense) if self.study else 0
        self.relus = torch.nn.ModuleList(torch.nn.ReLU() for _ in range(n_relu))
        self.counts = CountsOutput()

    def forward(self, x: torch.Tensor, *args: torch.Tensor) -> torch.Tensor:
        if self.study:
            net, relus = self.model, iter(self.relus)
            for conv in net.convs:
                x = next(relus)(conv(net.pad(x)))
            x = x.mean(dim=2)
            for layer in net.dense:
                x = next(relus)(layer(x))
            y = net.output(x)
        else:
            y = self.model(x, *args)
        return self.counts(y.reshape(len(y), 1))


def explainable(model: torch.nn.Module) -> Explainable:
    """``model`` in eval mode, wrapped as :class:`Explainable` (its parameters shared)."""
    return Explainable(model.eval())


def _dtype(model: torch.nn.Module) -> torch.dtype:
    return next(iter(model.parameters()), torch.zeros(())).dtype


def _rounded(values: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``values`` with those below :data:`RTOL` of ``scale`` set to 0 (rounding)."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.abs(values) > RTOL * np.asarray(scale, dtype=np.float64), values, 0.0)


def greater(x: np.ndarray, y: np.ndarray) -> float:
    """One-sided Mann-Whitney U p-value of ``x > y``; 1 when both sides are all 0 (no evidence)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size and y.size and not np.any(x) and not np.any(y):
        return 1.0
    return stats.magnitude(x, y)


# ----------------------------------------------------------------------------- GIA
def gia(model: torch.nn.Module, X: torch.Tensor, patterns: Sequence[torch.Tensor], starts: np.ndarray,
        args: tuple | None = None, batch_size: int = 1024, device: str | torch.device = "cpu") -> np.ndarray:
    """Global-importance interaction of two patterns at each position configuration.

    Parameters
    ----------
    model : Explainable
        The model, predicting counts ``(N, 1)`` (:func:`explainable`).
    X : torch.Tensor, shape=(n, 4, L)
        One-hot background sequences.
    patterns : pair of torch.Tensor, shape=(k, 4, w_a) and (k, 4, w_b)
        The first and the second pattern of each of ``k`` configurations, one-hot.
    starts : numpy.ndarray, shape=(k, 2)
        Where each configuration puts the first and the second pattern.
    args : tuple of torch.Tensor, optional
        Further model inputs, one row per background (tangermeme's ``args``).
    batch_size : int
        Sequences per forward pass.
    device : str or torch.device
        Where the model runs.

    Returns
    -------
    numpy.ndarray, shape=(k, 2)
        Per configuration, ``I_c = E[f(s_AB)] - E[f(s_A)] - E[f(s_B)] + E[f(s)]`` over
        the backgrounds (counts), and the mean absolute prediction it comes from.
    """
    X = X.to(_dtype(model))
    run = {"batch_size": batch_size, "device": device}
    f0 = predict(model, X, args=args, **run)[:, 0].double()
    tiled = None if args is None else tuple(torch.cat([a] * 3) for a in args)
    out = np.zeros((len(starts), 2))
    for c, (a, b) in enumerate(np.asarray(starts, dtype=np.int64)):
        with_a = substitute(X, patterns[0][c:c + 1].to(X.dtype), start=int(a))
        with_b = substitute(X, patterns[1][c:c + 1].to(X.dtype), start=int(b))
        both = substitute(with_a, patterns[1][c:c + 1].to(X.dtype), start=int(b))
        f = predict(model, torch.cat([both, with_a, with_b]), args=tiled, **run)[:, 0].double()
        f_ab, f_a, f_b = f.reshape(3, len(X))
        out[c] = float((f_ab - f_a - f_b + f0).mean()), float(torch.stack([f_ab, f_a, f_b, f0]).abs().mean())
    return out


def consensus(ppm: np.ndarray) -> torch.Tensor:
    """The most probable base of each column of a ``(4, w)`` matrix, one-hot ``(1, 4, w)``."""
    return torch.from_numpy(motifs.to_onehot(np.asarray(ppm).argmax(axis=0)[None].astype(np.int8)))


# ----------------------------------------------------------------------------- DFIM
def dfim(model: torch.nn.Module, X: torch.Tensor, knocked_out: Sequence[torch.Tensor], starts: np.ndarray,
         widths: tuple[int, int], references: torch.Tensor, args: tuple | None = None, batch_size: int = 1024,
         device: str | torch.device = "cpu", nonlinear: Mapping[type, Any] | None = None) -> np.ndarray:
    """Feature interaction scores of two motifs in each sequence, both directions.

    Parameters
    ----------
    model : Explainable
        The model, predicting counts ``(N, 1)`` (:func:`explainable`).
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
    dtype = _dtype(model)
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


# ----------------------------------------------------------------------------- per model
@dataclass(frozen=True)
class Inputs:
    """What both detectors run on, the same for every model of one padding (:func:`prepare`).

    Attributes
    ----------
    backgrounds : torch.Tensor, shape=(n, 4, L)
        GIA's background sequences.
    patterns, kmers : tuple of torch.Tensor, shapes (k, 4, w_a) and (k, 4, w_b)
        GIA's consensus patterns (repeated per configuration) and null k-mers.
    positions : numpy.ndarray, shape=(k, 2)
        GIA's configurations: starts of GATA1 and TAL1.
    pairs, null : dict
        DFIM's pair subsample of ``pairs_test`` and the same rows of ``pairs_shuffled``:
        ``X``, ``knocked_out`` (GATA1 out, TAL1 out), ``starts``, ``references``.
    widths : tuple of int
        GATA1's and TAL1's widths.
    """

    backgrounds: torch.Tensor
    patterns: tuple[torch.Tensor, torch.Tensor]
    kmers: tuple[torch.Tensor, torch.Tensor]
    positions: np.ndarray
    pairs: dict[str, Any]
    null: dict[str, Any]
    widths: tuple[int, int]


def prepare(sim: simulation.Simulation, pairs_test: Mapping[str, np.ndarray], pairs_shuffled: Mapping[str, np.ndarray],
            settings: Mapping[str, int]) -> Inputs:
    """The detectors' backgrounds, configurations, k-mers, pair subsample and references.

    Parameters
    ----------
    sim : lookloss.simulation.Simulation
        Background composition, motifs and seed.
    pairs_test, pairs_shuffled : mapping
        The pair sets of one padding (``pairs_test.npz``, ``pairs_shuffled.npz``).
    settings : mapping
        The ``detectors`` config section: ``gia_backgrounds``, ``gia_positions``,
        ``dfim_pairs``, ``dfim_references``.
    """
    n_pairs, length = len(pairs_test[variant_key("gt")]), pairs_test[variant_key("gt")].shape[-1]
    if n_pairs == 0:
        raise ValueError("the pair set holds no analysed pair: the detectors need at least one")
    widths = (sim.gata.width, sim.tal.width)
    codes = simulation.random_codes(simulation.stream(sim.seed, _BACKGROUNDS), settings["gia_backgrounds"], length,
                                    sim.background)
    k = min(settings["gia_positions"], n_pairs)
    chosen = np.sort(simulation.stream(sim.seed, _POSITIONS).choice(n_pairs, size=k, replace=False))
    positions = np.column_stack([pairs_test[start_key(r)][chosen] for r in ("gata", "tal")])
    rng = simulation.stream(sim.seed, _KMERS)
    kmers = tuple(torch.from_numpy(motifs.to_onehot(simulation.random_bases(rng, k, w))) for w in widths)
    patterns = tuple(consensus(m.ppm).repeat(k, 1, 1) for m in (sim.gata, sim.tal))
    rows = np.sort(simulation.stream(sim.seed, _PAIRS).choice(
        n_pairs, size=min(settings["dfim_pairs"], n_pairs), replace=False))
    seeds = simulation.stream(sim.seed, _REFERENCES)
    pairs, null = (_dfim_pairs(arrays, rows, settings["dfim_references"], simulation.shuffle_seed(seeds))
                   for arrays in (pairs_test, pairs_shuffled))
    return Inputs(torch.from_numpy(motifs.to_onehot(codes)), patterns, kmers, positions, pairs, null, widths)


def _dfim_pairs(arrays: Mapping[str, np.ndarray], rows: np.ndarray, n_references: int, seed: int) -> dict[str, Any]:
    """DFIM's view of some rows of a pair set: sequences, knock-outs, starts, shared references."""
    X = torch.from_numpy(np.ascontiguousarray(arrays[variant_key("gt")][rows]))
    # s_t keeps TAL1 (GATA1 knocked out), s_g keeps GATA1 (TAL1 knocked out)
    knocked_out = tuple(torch.from_numpy(np.ascontiguousarray(arrays[variant_key(v)][rows])) for v in ("t", "g"))
    references = dinucleotide_shuffle(X, n=n_references, random_state=seed)
    starts = np.column_stack([arrays[start_key(r)][rows] for r in ("gata", "tal")])
    return {"X": X, "knocked_out": knocked_out, "starts": starts, "references": references}


def run(model: torch.nn.Module, inputs: Inputs, args: tuple | None = None, batch_size: int = 1024,
        device: str | torch.device = "cpu") -> dict[str, Any]:
    """Both detectors on one model: statistics, p-values and seconds.

    Parameters
    ----------
    model : torch.nn.Module
        Maps one-hot ``(N, 4, L)`` to Anscombe-space predictions (the study's models).
    inputs : Inputs
        From :func:`prepare`.

    Returns
    -------
    dict
        ``n_gia_positions``, ``n_gia_backgrounds``, ``mean_abs_I_gia``, ``mean_I_gia``,
        ``mean_abs_I_gia_null``, ``p_gia``, ``gia_seconds``; ``n_dfim_pairs``,
        ``mean_fis``, ``mean_fis_null``, ``p_dfim``, ``dfim_seconds``.
    """
    net = explainable(model)
    run_on = {"args": args, "batch_size": batch_size, "device": device}
    start = time.perf_counter()
    real = gia(net, inputs.backgrounds, inputs.patterns, inputs.positions, **run_on)
    null = gia(net, inputs.backgrounds, inputs.kmers, inputs.positions, **run_on)
    i_real, i_null = _rounded(real[:, 0], real[:, 1]), _rounded(null[:, 0], null[:, 1])
    middle = time.perf_counter()
    scores = [_fis(dfim(net, p["X"], p["knocked_out"], p["starts"], inputs.widths, p["references"], **run_on))
              for p in (inputs.pairs, inputs.null)]
    return {
        "n_gia_positions": len(i_real), "n_gia_backgrounds": len(inputs.backgrounds),
        "mean_abs_I_gia": float(np.abs(i_real).mean()), "mean_I_gia": float(i_real.mean()),
        "mean_abs_I_gia_null": float(np.abs(i_null).mean()), "p_gia": greater(np.abs(i_real), np.abs(i_null)),
        "gia_seconds": middle - start,
        "n_dfim_pairs": len(scores[0]), "mean_fis": float(scores[0].mean()), "mean_fis_null": float(scores[1].mean()),
        "p_dfim": greater(scores[0], scores[1]), "dfim_seconds": time.perf_counter() - middle,
    }


def _fis(table: np.ndarray) -> np.ndarray:
    """Per pair, the mean feature interaction score of both directions, rounding set to 0."""
    return (np.abs(_rounded(table[:, 0], table[:, 2])) + np.abs(_rounded(table[:, 1], table[:, 2]))) / 2
