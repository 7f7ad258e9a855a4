"""Global importance analysis (GIA; Koo et al. 2021, PLoS Comput Biol), an entry of
:data:`lookloss.detectors.DETECTORS` (docs/study.md section 8).

The consensus of each motif is embedded into background sequences drawn from the data's
null model (tangermeme's ``ersatz.substitute``, what its ``marginalize`` and ``space``
embed with) at the positions of held-out pairs; the interaction of a configuration is the
global importance of the pair minus that of each motif,
``I_c = E[f(s_AB)] - E[f(s_A)] - E[f(s_B)] + E[f(s)]`` (:func:`interaction`). Null: random
k-mers of the motifs' widths at the same positions in the same backgrounds. Test:
Mann-Whitney ``|I_c|`` of the motifs > ``|I_c|`` of the k-mers (:func:`run`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tangermeme.ersatz import substitute
from tangermeme.predict import predict

from lookloss import motifs, simulation
from lookloss.detectors.explain import consensus, dtype_of, greater, rounded
from lookloss.layout import start_key, variant_key

# Stream keys of the draws (lookloss.simulation.stream of the simulation's seed); apart
# from the simulation's own keys 1-6 and DFIM's.
_BACKGROUNDS, _POSITIONS, _KMERS = 21, 22, 23


def interaction(model: torch.nn.Module, X: torch.Tensor, patterns: Sequence[torch.Tensor], starts: np.ndarray,
                args: tuple | None = None, batch_size: int = 1024, device: str | torch.device = "cpu") -> np.ndarray:
    """Global-importance interaction of two patterns at each position configuration.

    Parameters
    ----------
    model : torch.nn.Module
        Predicts counts ``(N, 1)`` (:func:`lookloss.detectors.explain.explainable`).
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
    X = X.to(dtype_of(model))
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



@dataclass(frozen=True)
class Inputs:
    """What GIA runs on, the same for every model it compares.

    Attributes
    ----------
    backgrounds : torch.Tensor, shape=(n, 4, L)
        Background sequences (the model's further inputs, ``args`` of :func:`run`, one row
        per background).
    patterns, kmers : tuple of torch.Tensor, shapes (k, 4, w_a) and (k, 4, w_b)
        The motifs' consensus patterns (one per configuration, on its strand) and the
        null's random k-mers.
    positions : numpy.ndarray, shape=(k, 2)
        Each configuration's starts of the first and the second motif.
    """

    backgrounds: torch.Tensor
    patterns: tuple[torch.Tensor, torch.Tensor]
    kmers: tuple[torch.Tensor, torch.Tensor]
    positions: np.ndarray


def prepare(sim: simulation.Simulation, pairs_test: Mapping[str, np.ndarray], pairs_shuffled: Mapping[str, np.ndarray],
            settings: Mapping[str, int]) -> Inputs:
    """GIA's inputs for the study's pair sets of one padding: ``settings["gia_backgrounds"]``
    backgrounds from the simulation's composition, the positions of ``settings["gia_positions"]``
    held-out pairs (a seeded subsample of ``pairs_test``), the consensus of GATA1 and TAL1, and
    random k-mers of their widths (``pairs_shuffled`` is not used: the null is the k-mers)."""
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
    return Inputs(torch.from_numpy(motifs.to_onehot(codes)), patterns, kmers, positions)


def run(model: torch.nn.Module, inputs: Inputs, args: tuple | None = None, batch_size: int = 1024,
        device: str | torch.device = "cpu") -> dict[str, Any]:
    """GIA on one model: the motifs' interactions against the k-mers', its p-value and seconds.

    Parameters
    ----------
    model : torch.nn.Module
        Predicts counts ``(N, 1)`` (:func:`lookloss.detectors.explain.explainable`).
    inputs : Inputs
        From :func:`prepare` (or built so for another kind of data).
    args : tuple of torch.Tensor, optional
        The model's further inputs, one row per background.
    batch_size, device
        Sequences per forward pass, and where the model runs.

    Returns
    -------
    dict
        ``n_gia_positions``, ``n_gia_backgrounds``, ``mean_abs_I_gia``, ``mean_I_gia``,
        ``mean_abs_I_gia_null``, ``p_gia``, ``gia_seconds``.
    """
    start = time.perf_counter()
    run_on = {"args": args, "batch_size": batch_size, "device": device}
    real = interaction(model, inputs.backgrounds, inputs.patterns, inputs.positions, **run_on)
    null = interaction(model, inputs.backgrounds, inputs.kmers, inputs.positions, **run_on)
    i_real, i_null = rounded(real[:, 0], real[:, 1]), rounded(null[:, 0], null[:, 1])
    return {"n_gia_positions": len(i_real), "n_gia_backgrounds": len(inputs.backgrounds),
            "mean_abs_I_gia": float(np.abs(i_real).mean()), "mean_I_gia": float(i_real.mean()),
            "mean_abs_I_gia_null": float(np.abs(i_null).mean()), "p_gia": greater(np.abs(i_real), np.abs(i_null)),
            "gia_seconds": time.perf_counter() - start}
