"""Main effects, interaction effects and the loss they buy (docs/study.md section 4).

For a motif pair, ``s_gt`` carries both motifs, ``s_g`` only GATA1 (TAL1 knocked
out), ``s_t`` only TAL1 and ``s_0`` neither. With ``f`` the model's prediction in
counts space:

- main effects ``M_G = f(s_g) - f(s_0)``, ``M_T = f(s_t) - f(s_0)``;
- joint contribution ``J = f(s_gt) - f(s_0)``; interaction ``I = J - M_G - M_T``;
- per-pair loss in Anscombe space with and without the interaction:
  ``loss_orig = (g(f(s_gt)) - g(y))^2`` and
  ``loss_main = (g(max(f(s_gt) - I, -3/8)) - g(y))^2``; ``delta = loss_main - loss_orig``
  is positive where the interaction improves the prediction.

:func:`predict_counts` and :func:`variant_effects` accept any :class:`torch.nn.Module`
that maps one-hot ``(N, 4, L)`` input to an output in one of the spaces of
:data:`lookloss.transforms.LINKS` (the study's: Anscombe); :mod:`lookloss.losstest`
applies the loss test with them to a user's own model and data.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch

from lookloss import inference
from lookloss.layout import INDEX, ROLES, VARIANTS, counts_key, rate_key, start_key, variant_key
from lookloss.transforms import ANSCOMBE, Link

COLUMNS = [
    "pair", *map(start_key, ROLES),
    "f_gt", "f_g", "f_t", "f_0", "m_g", "m_t", "joint", "interaction",
    "y", "loss_orig", "loss_main", "delta", "true_m_g", "true_m_t", "true_interaction",
]


def predict_counts(model: torch.nn.Module, onehot: np.ndarray | torch.Tensor,
                   batch_size: int = inference.PREDICT_BATCH, link: Link = ANSCOMBE) -> np.ndarray:
    """Model predictions mapped back to counts (Anscombe: ``(y / 2)^2 - 3/8``).

    Parameters
    ----------
    model : torch.nn.Module
        Maps float one-hot ``(N, 4, L)`` to predictions in ``link``'s space, shape
        (N,) or (N, 1); run by :func:`lookloss.inference.predict` (eval mode, its device).
    onehot : numpy.ndarray or torch.Tensor, shape=(N, 4, L)
        Sequences, any numeric dtype.
    batch_size : int
        Sequences per forward pass.
    link : lookloss.transforms.Link
        The model's output space (:data:`lookloss.transforms.LINKS`).

    Returns
    -------
    numpy.ndarray, shape=(N,)
        Predicted counts, float64.
    """
    y = inference.predict(model, onehot, batch_size).astype(np.float64)
    return link.to_counts(y)


def effects(f: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Main effects, joint contribution and interaction from the four predictions.

    Parameters
    ----------
    f : mapping
        Predictions (any units) keyed ``gt``, ``g``, ``t``, ``0``.

    Returns
    -------
    dict
        ``m_g``, ``m_t``, ``joint`` and ``interaction``.
    """
    m_g = f["g"] - f["0"]
    m_t = f["t"] - f["0"]
    joint = f["gt"] - f["0"]
    return {"m_g": m_g, "m_t": m_t, "joint": joint, "interaction": joint - m_g - m_t}


def losses(f_gt: np.ndarray, interaction: np.ndarray, y: np.ndarray, link: Link = ANSCOMBE
           ) -> dict[str, np.ndarray]:
    """Per-pair squared error in the model's space with and without the interaction.

    The prediction without the interaction, ``f_gt - I``, is clipped at ``link.floor``:
    for Anscombe space -3/8, the lowest count prediction the inverse can produce.

    Returns
    -------
    dict
        ``loss_orig``, ``loss_main`` and ``delta = loss_main - loss_orig``.
    """
    target = link.transform(np.asarray(y, dtype=np.float64))
    loss_orig = (link.transform(f_gt) - target) ** 2
    loss_main = (link.transform(np.maximum(f_gt - interaction, link.floor)) - target) ** 2
    return {"loss_orig": loss_orig, "loss_main": loss_main, "delta": loss_main - loss_orig}


def variant_effects(model: torch.nn.Module, variants: Mapping[str, np.ndarray], y: np.ndarray,
                    link: Link = ANSCOMBE, batch_size: int = inference.PREDICT_BATCH,
                    known: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Predictions of the four knock-out variants of each pair, the effects and the losses.

    Parameters
    ----------
    model : torch.nn.Module
        Maps one-hot ``(N, 4, L)`` to predictions in ``link``'s space.
    variants : mapping
        One-hot sequences ``(n, 4, L)`` keyed by :data:`lookloss.layout.VARIANTS` (both
        motifs, the first only, the second only, neither); those in ``known`` may be
        left out.
    y : numpy.ndarray, shape=(n,)
        Observed counts of the sequences with both motifs.
    link : lookloss.transforms.Link
        The model's output space.
    batch_size : int
        Sequences per forward pass; the variants to predict go in one pass.
    known : mapping, optional
        Counts predictions already made for some variants (e.g. ``{"gt": f_gt}`` of
        another pair set with the very same sequences); those are not predicted again.

    Returns
    -------
    dict
        ``f_gt``, ``f_g``, ``f_t``, ``f_0`` (counts), ``m_g``, ``m_t``, ``joint``,
        ``interaction`` (:func:`effects`), ``loss_orig``, ``loss_main`` and ``delta``
        (:func:`losses`).
    """
    n = len(y)
    known = dict(known or {})
    for v, values in known.items():
        if v not in VARIANTS or np.shape(values) != (n,):
            raise ValueError(f"known predictions: expected variants of {VARIANTS} with {n} values each, "
                             f"got {v!r} with shape {np.shape(values)}")
    todo = [v for v in VARIANTS if v not in known]
    f = {v: np.asarray(known[v], dtype=np.float64) for v in known}
    if todo:
        stacked = np.concatenate([variants[v] for v in todo])
        f.update(zip(todo, predict_counts(model, stacked, batch_size, link).reshape(len(todo), n), strict=True))
    eff = effects(f)
    return {**{f"f_{v}": f[v] for v in VARIANTS}, **eff, **losses(f["gt"], eff["interaction"], y, link)}


def interaction_table(model: torch.nn.Module, pairs: Mapping[str, np.ndarray], control: str,
                      batch_size: int = inference.PREDICT_BATCH,
                      known: Mapping[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Every quantity of the interaction analysis for one model and one pair set.

    Parameters
    ----------
    model : torch.nn.Module
        Any model mapping one-hot ``(N, 4, L)`` to Anscombe-space output.
    pairs : mapping
        A pair set as written by the simulation (``pairs_{set}.npz``): ``index``,
        ``gata_start``, ``tal_start``, ``s_gt``, ``s_g``, ``s_t``, ``s_0``,
        ``y_{control}`` and ``lam_{control}_{gt,g,t,0}``.
    control : str
        Whose labels and ground truth to use: ``neg`` or ``pos``.
    batch_size : int
        Sequences per forward pass; the four variants are predicted in one pass.
    known : mapping, optional
        Counts predictions this model already made for some variants (keys of
        :data:`VARIANTS`), e.g. ``{"gt": f_gt}`` of another pair set with the very
        same ``s_gt`` sequences; those variants are not predicted again.

    Returns
    -------
    pandas.DataFrame
        One row per pair with the columns of :data:`COLUMNS`; ``pair`` is the
        pair's row in its source split.
    """
    for key in [counts_key(control), *map(variant_key, VARIANTS), *(rate_key(control, v) for v in VARIANTS)]:
        if key not in pairs:
            raise KeyError(f"pair set has no array {key!r} (control {control!r})")
    variants = {v: pairs[variant_key(v)] for v in VARIANTS}
    computed = variant_effects(model, variants, pairs[counts_key(control)], batch_size=batch_size, known=known)
    truth = effects({v: pairs[rate_key(control, v)] for v in VARIANTS})
    table = pd.DataFrame({
        "pair": pairs[INDEX],
        **{start_key(r): pairs[start_key(r)] for r in ROLES},
        **computed,
        "y": pairs[counts_key(control)],
        "true_m_g": truth["m_g"],
        "true_m_t": truth["m_t"],
        "true_interaction": truth["interaction"],
    })
    return table[COLUMNS]
