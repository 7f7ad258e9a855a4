"""The truth of the simulated genome (:mod:`lookloss.genomesim`, docs/genome.md): the occupancy of
every window of each motif in a locus's core on both strands, each truth's expected reads from
them (:func:`rates`), the true main effects and interaction of the planted pair
(:func:`effects`), and where the reads fall (a footprint per site, :func:`profiles`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lookloss import motifs, simulation


# ----------------------------------------------------------------------------- truth
@dataclass(frozen=True)
class Sites:
    """The occupancy of every window of each motif in the core of each locus, read on both strands.

    Attributes
    ----------
    occ : dict of str to numpy.ndarray, shape=(n_loci, n_windows, 2)
        Per motif, ``1 / (1 + exp(ΔΔG - mu))`` of the window starting at ``margin + k`` bases
        into the locus's output window, read forward (``[..., 0]``) and as the reverse
        complement (``[..., 1]``).
    margin : int
        Where the core starts in the output window (and how far before its end it stops): a
        site's reads, its footprint shifted by strand, fall wholly in the output window.
    widths : dict of str to int
        Each motif's width.
    """

    occ: dict[str, np.ndarray]
    margin: int
    widths: dict[str, int]

    def total(self, key: str) -> np.ndarray:
        """Summed occupancy of ``key`` per locus (both strands)."""
        return self.occ[key].sum(axis=(1, 2))

    def at(self, key: str, starts: np.ndarray, strands: np.ndarray | None = None) -> np.ndarray:
        """Occupancy of the window of ``key`` starting at ``starts`` (bases into the output window;
        NaN: none) per locus, both strands summed, or read on ``strands`` (``+``/``-``) only."""
        starts = np.asarray(starts, dtype=float)
        k = np.where(np.isnan(starts), 0, starts - self.margin).astype(np.int64)
        ok = ~np.isnan(starts) & (k >= 0) & (k < self.occ[key].shape[1])
        rows = np.arange(len(k))
        window = self.occ[key][rows, np.clip(k, 0, self.occ[key].shape[1] - 1)]
        value = window.sum(axis=1) if strands is None else np.where(np.asarray(strands) == "-", window[:, 1],
                                                                      window[:, 0])
        return np.where(ok, value, 0.0)


def site_occupancies(codes: np.ndarray, planted: Mapping[str, simulation.Motif], mus: Mapping[str, float],
                     margin: int) -> Sites:
    """:class:`Sites` of output windows ``codes`` (n, out_window), each motif with its ``mu``."""
    occ = {}
    core = codes[:, margin:codes.shape[1] - margin]
    for key, motif in planted.items():
        forward = motifs.window_ddg(core, motif.ddg, "valid")
        reverse = motifs.window_ddg(core, motif.ddg[::-1, ::-1], "valid")  # the reverse complement's matrix
        occ[key] = np.stack([motifs.occupancy(forward, mus[key]), motifs.occupancy(reverse, mus[key])], axis=2)
    return Sites(occ, margin, {key: m.width for key, m in planted.items()})


def calibrated_mus(codes: np.ndarray, planted: Mapping[str, simulation.Motif], margin: int, target: float) -> dict[str, float]:
    """Per motif, the ``mu`` at which background sequence (``codes``: output windows with no motif
    planted) holds a summed occupancy of ``target`` per window on average: a rule of the background
    alone, fixed before any model (bisection on the monotone mean)."""
    core = codes[:, margin:codes.shape[1] - margin]
    out = {}
    for key, motif in planted.items():
        ddg = np.concatenate([motifs.window_ddg(core, motif.ddg, "valid"),
                              motifs.window_ddg(core, motif.ddg[::-1, ::-1], "valid")], axis=1)
        lo, hi = -60.0, 20.0
        for _ in range(80):
            mid = (lo + hi) / 2
            if motifs.occupancy(ddg, mid).sum(axis=1).mean() > target:
                hi = mid
            else:
                lo = mid
        out[key] = round((lo + hi) / 2, 6)
    return out


def _shifted(values: np.ndarray, by: int) -> np.ndarray:
    """``values`` (n, k) moved ``by`` places along axis 1 (``out[:, i] = values[:, i - by]``), zeros filled."""
    out = np.zeros_like(values)
    if by >= 0:
        out[:, by:] = values[:, :values.shape[1] - by] if by < values.shape[1] else 0
    else:
        out[:, :by] = values[:, -by:]
    return out


def composite_partners(sites: Sites, section: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Per GATA1 window and per TAL1 window (n, windows, 2 strands): the summed occupancy of the
    other motif's windows that sit with it in the composite arrangement, TAL1 ``gap`` bases
    upstream of GATA1 on the same strand (+: TAL1 to the left; −: to the right)."""
    g, t = sites.occ["gata"], sites.occ["tal"]
    wg, wt = sites.widths["gata"], sites.widths["tal"]
    lo, hi = section["composite"]["gap"]
    ng, nt = g.shape[1], t.shape[1]
    g_partner, t_partner = np.zeros_like(g), np.zeros_like(t)
    for gap in range(lo, hi + 1):
        # +: TAL1 at x, GATA1 at x + wt + gap; -: GATA1 at x, TAL1 at x + wg + gap (window starts)
        plus, minus = wt + gap, wg + gap
        g_partner[..., 0] += _fit(_shifted(_fit(t[..., 0], ng), plus), ng)
        t_partner[..., 0] += _fit(_shifted(_fit(g[..., 0], nt + plus), -plus), nt)
        g_partner[..., 1] += _fit(_shifted(_fit(t[..., 1], ng + minus), -minus), ng)
        t_partner[..., 1] += _fit(_shifted(_fit(g[..., 1], nt), minus), nt)
    return g_partner, t_partner


def _fit(values: np.ndarray, width: int) -> np.ndarray:
    """``values`` (n, k) cut or zero-padded on the right to ``width`` columns."""
    if values.shape[1] >= width:
        return values[:, :width]
    return np.pad(values, ((0, 0), (0, width - values.shape[1])))


def rates(totals: Mapping[str, np.ndarray], composite_sum: np.ndarray, section: Mapping[str, Any],
          scales: Mapping[str, float]) -> dict[str, np.ndarray]:
    """Expected reads of each truth over a locus's output window, from its summed occupancies.

    ``λ = base + s · (a·G + a·T + c·a·X) + Σ_d e_d·D``: G, T and D the summed occupancies of
    GATA1, TAL1 and each distractor over the locus's core (every window, both strands), ``a`` =
    ``rates.effect``; additive: ``c = 0``, ``s = 1``; super: ``c = rates.super``, ``X = G·T``;
    spacing: ``c = rates.spacing``, ``X`` = the summed products of GATA1 and TAL1 windows in the
    composite arrangement. ``s`` is the truth's entry of ``scales`` (:func:`equal_mean_scales`).
    """
    r = section["rates"]
    g, t = totals["gata"], totals["tal"]
    rest = r["base"] + sum(section["distractors"]["effect"] * totals[name] for name in section["distractors"]["motifs"])
    main = r["effect"] * (g + t)
    return {"additive": rest + main,
            "super": rest + scales["super"] * (main + r["super"] * r["effect"] * g * t),
            "spacing": rest + scales["spacing"] * (main + r["spacing"] * r["effect"] * composite_sum)}


def equal_mean_scales(totals: Mapping[str, np.ndarray], composite_sum: np.ndarray, both: np.ndarray,
                      section: Mapping[str, Any]) -> dict[str, float]:
    """The scale ``s`` of the super and spacing truths that gives peaks holding both motifs the
    additive truth's mean rate (a rule fixed a priori; it depends only on the sequences)."""
    r = section["rates"]
    g, t = totals["gata"][both], totals["tal"][both]
    main = r["effect"] * (g + t)
    return {"additive": 1.0,
            "super": float(main.mean() / (main + r["super"] * r["effect"] * g * t).mean()),
            "spacing": float(main.mean() / (main + r["spacing"] * r["effect"] * composite_sum[both]).mean())}


def effects(planted_occ: Mapping[str, np.ndarray], totals: Mapping[str, np.ndarray], partner: Mapping[str, np.ndarray],
            pair: np.ndarray, section: Mapping[str, Any], scales: Mapping[str, float]) -> dict[str, dict[str, np.ndarray]]:
    """True main effects and interaction in reads of each truth for the planted GATA1 and TAL1,
    knocked out (their windows' occupancy removed) one at a time and together:
    ``main_gata = λ(G, T - t) - λ(G - g, T - t)``, likewise ``main_tal``, and ``interaction =
    λ(G, T) - λ(G - g, T) - λ(G, T - t) + λ(G - g, T - t)``, written as the terms of :func:`rates`:

    - additive: ``a·g``, ``a·t``, 0;
    - super: ``s·a·g + s·c·a·g·(T - t)``, likewise, ``s·c·a·g·t``;
    - spacing: ``s·a·g + s·c·a·(P_g - p)``, likewise, ``s·c·a·p``, with ``P_g`` the composite
      products that involve the planted GATA1 window and ``p`` the planted pair's own (0 unless it
      is in the composite arrangement).

    ``planted_occ``: the planted windows' occupancy (both strands); ``partner``: ``P_g`` and
    ``P_t``; ``pair``: ``p``.
    """
    r = section["rates"]
    a, g, t = r["effect"], planted_occ["gata"], planted_occ["tal"]
    out = {"additive": {"main_gata": a * g, "main_tal": a * t, "interaction": 0.0 * g}}
    s, c = scales["super"], r["super"]
    out["super"] = {"main_gata": s * a * g + s * c * a * g * (totals["tal"] - t),
                    "main_tal": s * a * t + s * c * a * t * (totals["gata"] - g), "interaction": s * c * a * g * t}
    s, c = scales["spacing"], r["spacing"]
    out["spacing"] = {"main_gata": s * a * g + s * c * a * (partner["gata"] - pair),
                      "main_tal": s * a * t + s * c * a * (partner["tal"] - pair), "interaction": s * c * a * pair}
    return out


# ----------------------------------------------------------------------------- profiles
def footprint(section: Mapping[str, Any]) -> np.ndarray:
    """The footprint's shape (2·half_width + 1,), summing to 1."""
    fp = section["footprint"]
    x = np.arange(-fp["half_width"], fp["half_width"] + 1)
    shape = np.exp(-0.5 * (x / fp["sd"]) ** 2)
    return shape / shape.sum()


def margin(section: Mapping[str, Any]) -> int:
    """Bases at each end of the output window where no site counts (its reads would spill out)."""
    return section["footprint"]["half_width"] + section["footprint"]["shift"]


def site_reads(sites: Sites, partners: tuple[np.ndarray, np.ndarray], section: Mapping[str, Any],
               scales: Mapping[str, float], truth: str) -> np.ndarray:
    """Expected reads each site brings, at its centre, per locus and base of the output window
    (n, out_window): its terms of :func:`rates`, a product term shared half and half between the
    two windows (super: each GATA1 window ``o·T/2``, each TAL1 window ``o·G/2``)."""
    r = section["rates"]
    n, out = len(next(iter(sites.occ.values()))), section["out_window"]
    amount = np.zeros((n, out))
    s = scales[truth]
    c = {"additive": 0.0, "super": r["super"], "spacing": r["spacing"]}[truth]
    other = {"gata": sites.total("tal"), "tal": sites.total("gata")}
    for key, occ in sites.occ.items():
        both = occ.sum(axis=2)
        if key in ("gata", "tal"):
            per = s * r["effect"] * both
            if truth == "super":
                per = per + s * c * r["effect"] * both * other[key][:, None] / 2
            elif truth == "spacing":
                mine = partners[0] if key == "gata" else partners[1]
                per = per + s * c * r["effect"] * (occ * mine).sum(axis=2) / 2
        else:
            per = section["distractors"]["effect"] * both
        centre = sites.margin + sites.widths[key] // 2
        amount[:, centre:centre + per.shape[1]] += per
    return amount


def profiles(amount: np.ndarray, section: Mapping[str, Any]) -> np.ndarray:
    """Expected reads per base of each locus's output window on both strands (n, 2, out_window):
    the flat background plus each site's reads as its footprint, half on each strand, shifted
    upstream on + and downstream on −."""
    shape, half, shift = footprint(section), section["footprint"]["half_width"], section["footprint"]["shift"]
    n, out = amount.shape
    prof = np.full((n, 2, out), section["rates"]["base"] / (2 * out))
    for offset, weight in zip(range(-half, half + 1), shape, strict=True):
        for strand, move in ((0, offset - shift), (1, offset + shift)):
            prof[:, strand] += _shifted(amount, move) * weight / 2
    return prof
