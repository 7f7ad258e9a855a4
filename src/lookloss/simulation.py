"""The study's simulated data (docs/study.md sections 1 and 2).

Sequences carry a GATA1 and/or a TAL1 instance on an i.i.d. background; their
binding strength is an occupancy sum (Zhao & Stormo 2011) turned into a Poisson
rate, additive in the motifs for the negative control and super-additive for the
positive control. Pairs of motifs are then knocked out one at a time so that the
true main effects and the true interaction of every analysed pair are known.

Randomness comes from independent streams of one seed (:func:`stream`), so the
sequences, knock-outs and nulls are the same for both paddings and for any
subset of the outputs a run asks for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tangermeme.ersatz import dinucleotide_shuffle

from lookloss import io, layout, motifs
from lookloss.layout import INDEX, ONEHOT, PADDINGS, PAIR_SETS, SPLITS, VARIANTS, counts_key, rate_key, start_key

# Stream identifiers: one independent random stream per purpose.
_TRAIN_POOL, _TEST_POOL, _COUNTS, _KNOCKOUT, _SHUFFLE, _RANDPOS = range(1, 7)
_SPLIT_ID = {"train": 0, "valid": 1, "test": 2, "shuffled": 3}


def stream(seed: int, *keys: int) -> np.random.Generator:
    """An independent random generator for ``(seed, *keys)``."""
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


@dataclass(frozen=True)
class Motif:
    """A motif as the simulation uses it.

    Attributes
    ----------
    name : str
        Identifier in the motif file.
    ppm : numpy.ndarray, shape=(4, w)
        Smoothed position probability matrix (used to sample and to score).
    ddg : numpy.ndarray, shape=(4, w)
        ΔΔG matrix ``-ln(ppm / background)``.
    """

    name: str
    ppm: np.ndarray
    ddg: np.ndarray

    @property
    def width(self) -> int:
        return self.ppm.shape[1]


@dataclass(frozen=True)
class Simulation:
    """Parameters of the simulation, built from the ``simulation`` config section."""

    seq_len: int
    n_train: int
    n_test: int
    valid_fraction: float
    background: np.ndarray
    gata: Motif
    tal: Motif
    motif_probability: float
    mu: float
    pair_min_logodds: float
    knockout_min_ddg: float
    controls: dict[str, tuple[float, float]]
    seed: int

    @classmethod
    def from_config(cls, section: dict[str, Any], base_dir: str | Path = ".") -> Simulation:
        """Build from the ``simulation`` config section, checked and completed with its
        defaults by :func:`lookloss.config.check`.

        ``motif_file`` is resolved relative to ``base_dir`` unless absolute.
        """
        background = np.array([section["background"][b] for b in layout.ALPHABET], dtype=float)
        names = section["motifs"]
        path = Path(section["motif_file"])
        if not path.is_absolute():
            path = Path(base_dir) / path
        ppms = motifs.read_motifs(path, [names["gata"], names["tal"]])

        def motif(name: str) -> Motif:
            ppm = motifs.smooth(ppms[name], section["pseudocount"])
            return Motif(name, ppm, motifs.ddg_matrix(ppm, background))

        return cls(
            seq_len=section["seq_len"],
            n_train=section["n_train"],
            n_test=section["n_test"],
            valid_fraction=section["valid_fraction"],
            background=background,
            gata=motif(names["gata"]),
            tal=motif(names["tal"]),
            motif_probability=section["motif_probability"],
            mu=section["mu"],
            pair_min_logodds=section["pair_min_logodds"],
            knockout_min_ddg=section["knockout_min_ddg"],
            # by name: the counts are drawn control after control, so their order must not
            # depend on how the configuration files were merged
            controls={k: (v["scale"], v["exponent"]) for k, v in sorted(section["controls"].items())},
            seed=section["seed"],
        )

    @property
    def min_gap(self) -> int:
        """Fewest bases between two analysed motifs: no window of either width spans both."""
        return min_gap(self.gata.width, self.tal.width)

    @property
    def n_fit(self) -> int:
        """Sequences of the training pool used for fitting; the rest validate."""
        return int(round(self.n_train * (1.0 - self.valid_fraction)))


# --------------------------------------------------------------------------- sampling


def random_codes(rng: np.random.Generator, n: int, length: int, probs: np.ndarray) -> np.ndarray:
    """I.i.d. bases with probabilities ``probs`` (A, C, G, T), as codes (n, length)."""
    cdf = np.cumsum(probs)
    cdf[-1] = 1.0
    return np.searchsorted(cdf, rng.random((n, length)), side="right").astype(np.int8)


def sample_instances(rng: np.random.Generator, ppm: np.ndarray, n: int) -> np.ndarray:
    """Sample ``n`` motif instances column by column from a PPM, as codes (n, w)."""
    cdf = np.cumsum(ppm, axis=0)
    cdf[-1] = 1.0
    u = rng.random((n, ppm.shape[1]))
    return (u[:, None, :] >= cdf[None, :, :]).sum(axis=1).astype(np.int8)


def place_second(
    rng: np.random.Generator, first: np.ndarray, w_first: int, w_second: int, length: int
) -> np.ndarray:
    """Uniform start for a second motif that fits wholly and does not overlap the first.

    Parameters
    ----------
    first : numpy.ndarray, shape=(n,)
        Start of the first motif; -1 where there is none (then any start that fits).
    """
    first = np.asarray(first)
    n_left = np.where(first >= 0, np.maximum(first - w_second + 1, 0), length - w_second + 1)
    right_lo = np.where(first >= 0, first + w_first, length)
    n_right = np.maximum(length - w_second - right_lo + 1, 0)
    total = n_left + n_right
    if np.any(total <= 0):
        raise ValueError(f"motifs of widths {w_first} and {w_second} do not fit in {length} bp")
    k = np.floor(rng.random(first.shape) * total).astype(np.int64)
    return np.where(k < n_left, k, right_lo + (k - n_left))


def embed(codes: np.ndarray, starts: np.ndarray, instances: np.ndarray) -> np.ndarray:
    """Write ``instances`` (n, w) into ``codes`` (n, L) at ``starts``; -1 skips a row."""
    out = codes.copy()
    rows = np.flatnonzero(starts >= 0)
    cols = starts[rows, None] + np.arange(instances.shape[1])[None, :]
    out[rows[:, None], cols] = instances[rows]
    return out


def simulate_sequences(sim: Simulation, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Background sequences, each carrying a GATA1 and a TAL1 instance with probability
    ``sim.motif_probability`` each (independently).

    Returns
    -------
    dict
        ``codes`` int8 (n, L), ``gata_start`` and ``tal_start`` int64 (-1: absent).
    """
    codes = random_codes(rng, n, sim.seq_len, sim.background)
    has_gata = rng.random(n) < sim.motif_probability
    has_tal = rng.random(n) < sim.motif_probability
    gata_start = np.where(
        has_gata, place_second(rng, np.full(n, -1), 0, sim.gata.width, sim.seq_len), -1
    )
    tal_start = np.where(
        has_tal, place_second(rng, gata_start, sim.gata.width, sim.tal.width, sim.seq_len), -1
    )
    codes = embed(codes, gata_start, sample_instances(rng, sim.gata.ppm, n))
    codes = embed(codes, tal_start, sample_instances(rng, sim.tal.ppm, n))
    return {"codes": codes, start_key("gata"): gata_start.astype(np.int64),
            start_key("tal"): tal_start.astype(np.int64)}


# --------------------------------------------------------------------------- labels


def occupancy_sum(sim: Simulation, codes: np.ndarray, padding: str) -> np.ndarray:
    """q(s): summed GATA1 plus TAL1 occupancy over all windows of each sequence."""
    q = np.zeros(codes.shape[0])
    for motif in (sim.gata, sim.tal):
        q += motifs.occupancy(motifs.window_ddg(codes, motif.ddg, padding), sim.mu).sum(axis=1)
    return q


def oracle(sim: Simulation, codes: np.ndarray, padding: str) -> dict[str, np.ndarray]:
    """Poisson rate λ = scale · q^exponent of each control, keyed by control name."""
    q = occupancy_sum(sim, codes, padding)
    return {name: scale * q**exponent for name, (scale, exponent) in sim.controls.items()}


def draw_counts(rng: np.random.Generator, lam: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Poisson counts for each control's λ, drawn in the order of ``lam``."""
    return {name: rng.poisson(rate).astype(np.int64) for name, rate in lam.items()}


def equal_mean_scales(sim: Simulation, exponents: list[float], reference_scale: float,
                      padding: str = "valid") -> dict[float, float]:
    """Scales that give controls of other exponents the additive control's mean rate.

    For each exponent e, ``scale_e = reference_scale * mean(q) / mean(q^e)`` over the
    test sequences that carry both motifs (labels scanned with ``padding``): every
    control ``scale_e * q^e`` then has the mean λ of ``reference_scale * q`` there, so a
    sweep over exponents varies the interaction, not the overall count level. Depends
    only on the simulation's sequences, never on a model.
    """
    test = simulate_pools(sim)["test"]
    both = (test[start_key("gata")] >= 0) & (test[start_key("tal")] >= 0)
    q = occupancy_sum(sim, test["codes"][both], padding)
    return {float(e): float(reference_scale * q.mean() / np.mean(q ** e)) for e in exponents}


# --------------------------------------------------------------------------- pairs


def pair_mask(sim: Simulation, codes: np.ndarray, gata_start: np.ndarray,
              tal_start: np.ndarray) -> np.ndarray:
    """Sequences whose two embedded motifs qualify for the interaction analysis.

    Both motifs present, each instance scoring log-odds above ``pair_min_logodds``
    (ΔΔG < -threshold), and at least :attr:`Simulation.min_gap` bases between the
    end of the first and the start of the second.
    """
    both = (gata_start >= 0) & (tal_start >= 0)
    g = np.where(both, gata_start, 0)
    t = np.where(both, tal_start, 0)
    good_g = motifs.instance_ddg(codes, g, sim.gata.ddg) < -sim.pair_min_logodds
    good_t = motifs.instance_ddg(codes, t, sim.tal.ddg) < -sim.pair_min_logodds
    return both & good_g & good_t & (gap(g, sim.gata.width, t, sim.tal.width) >= sim.min_gap)


def gap(a: np.ndarray, w_a: int, b: np.ndarray, w_b: int) -> np.ndarray:
    """Bases between the end of the earlier window and the start of the later one."""
    return np.where(a < b, b - (a + w_a), a - (b + w_b))


def knockouts(rng: np.random.Generator, motif: Motif, n: int, min_ddg: float) -> np.ndarray:
    """Uniform random replacements (n, w), each redrawn until it scores ΔΔG > ``min_ddg``."""
    out = rng.integers(0, 4, size=(n, motif.width), dtype=np.int8)
    bad = motifs.instance_ddg(out, np.zeros(n, dtype=np.int64), motif.ddg) <= min_ddg
    while bad.any():
        rows = np.flatnonzero(bad)
        out[rows] = rng.integers(0, 4, size=(rows.size, motif.width), dtype=np.int8)
        bad[rows] = motifs.instance_ddg(out[rows], np.zeros(rows.size, dtype=np.int64),
                                        motif.ddg) <= min_ddg
    return out


def variants(codes: np.ndarray, gata_start: np.ndarray, tal_start: np.ndarray,
             gata_ko: np.ndarray, tal_ko: np.ndarray) -> dict[str, np.ndarray]:
    """The four knock-out variants; one replacement per motif is shared by all of them.

    ``gt`` keeps both motifs, ``g`` has TAL1 knocked out, ``t`` has GATA1 knocked
    out, ``0`` has both knocked out.
    """
    g = embed(codes, tal_start, tal_ko)
    t = embed(codes, gata_start, gata_ko)
    return dict(zip(VARIANTS, (codes, g, t, embed(g, gata_start, gata_ko)), strict=True))


def min_gap(w_a: int, w_b: int) -> int:
    """Fewest bases between two analysed motifs of these widths: no window of either spans both."""
    return max(w_a, w_b) - 1


def random_windows(rng: np.random.Generator, n: int, length: int, w_a: int, w_b: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Starts of two random windows of widths ``w_a`` and ``w_b`` per sequence, obeying the
    pair separation rule (:func:`min_gap`), redrawn until they do."""
    a = np.zeros(n, dtype=np.int64)
    b = np.zeros(n, dtype=np.int64)
    todo = np.ones(n, dtype=bool)
    while todo.any():
        rows = np.flatnonzero(todo)
        a[rows] = rng.integers(0, length - w_a + 1, size=rows.size)
        b[rows] = rng.integers(0, length - w_b + 1, size=rows.size)
        todo[rows] = gap(a[rows], w_a, b[rows], w_b) < min_gap(w_a, w_b)
    return a, b


def shuffle_dinucleotides(codes: np.ndarray, seed: int) -> np.ndarray:
    """Each sequence (codes ``(n, L)``) shuffled keeping its dinucleotide counts (tangermeme)."""
    if not len(codes):
        return codes
    shuffled = dinucleotide_shuffle(torch.from_numpy(motifs.to_onehot(codes)), n=1, random_state=seed)[:, 0]
    return motifs.to_codes(shuffled.numpy())


def pair_arrays(sim: Simulation, padding: str, index: np.ndarray, gata_start: np.ndarray,
                tal_start: np.ndarray, seqs: dict[str, np.ndarray], y: dict[str, np.ndarray]
                ) -> dict[str, np.ndarray]:
    """Assemble a pair set: one-hot variants, observed counts and the λ of every variant."""
    out: dict[str, np.ndarray] = {
        INDEX: index.astype(np.int64),
        start_key("gata"): gata_start.astype(np.int64),
        start_key("tal"): tal_start.astype(np.int64),
    }
    for v in VARIANTS:
        out[layout.variant_key(v)] = motifs.to_onehot(seqs[v])
    for control in sim.controls:
        out[counts_key(control)] = y[control].astype(np.int64)
    for v in VARIANTS:
        for control, lam in oracle(sim, seqs[v], padding).items():
            out[rate_key(control, v)] = lam
    return out


# --------------------------------------------------------------------------- driver


def simulate_pools(sim: Simulation) -> dict[str, dict[str, np.ndarray]]:
    """The sequences of every split (padding-independent)."""
    pool = simulate_sequences(sim, sim.n_train, stream(sim.seed, _TRAIN_POOL))
    test = simulate_sequences(sim, sim.n_test, stream(sim.seed, _TEST_POOL))
    cut = sim.n_fit
    return {
        "train": {k: v[:cut] for k, v in pool.items()},
        "valid": {k: v[cut:] for k, v in pool.items()},
        "test": test,
    }


def simulate(sim: Simulation, padding: str) -> dict[str, dict[str, np.ndarray]]:
    """Every array of one padding mode: the three splits and the four pair sets.

    Parameters
    ----------
    sim : Simulation
        Parameters.
    padding : {"valid", "same"}
        How labels are scanned.

    Returns
    -------
    dict
        Keys ``train``, ``valid``, ``test`` (split arrays) and ``pairs_test``,
        ``pairs_train``, ``pairs_shuffled``, ``pairs_randpos`` (pair-set arrays),
        each a dict of arrays as written to ``{key}.npz``.
    """
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    pools = simulate_pools(sim)
    out: dict[str, dict[str, np.ndarray]] = {}
    for split, seq in pools.items():
        lam = oracle(sim, seq["codes"], padding)
        y = draw_counts(stream(sim.seed, _COUNTS, _SPLIT_ID[split]), lam)
        out[split] = {ONEHOT: motifs.to_onehot(seq["codes"]),
                      **{counts_key(c): y[c] for c in lam},
                      **{rate_key(c): lam[c] for c in lam},
                      **{start_key(r): seq[start_key(r)] for r in layout.ROLES}}

    ko_rng = stream(sim.seed, _KNOCKOUT)
    for name, split in (("test", "test"), ("train", "train")):
        seq = pools[split]
        g, t = seq[start_key("gata")], seq[start_key("tal")]
        idx = np.flatnonzero(pair_mask(sim, seq["codes"], g, t))
        g, t = g[idx], t[idx]
        gata_ko = knockouts(ko_rng, sim.gata, idx.size, sim.knockout_min_ddg)
        tal_ko = knockouts(ko_rng, sim.tal, idx.size, sim.knockout_min_ddg)
        seqs = variants(seq["codes"][idx], g, t, gata_ko, tal_ko)
        y = {c: out[split][counts_key(c)][idx] for c in sim.controls}
        out[layout.pairs_name(name)] = pair_arrays(sim, padding, idx, g, t, seqs, y)

    test_pairs = out[layout.pairs_name("test")]
    idx, g, t = test_pairs[INDEX], test_pairs[start_key("gata")], test_pairs[start_key("tal")]
    original = pools["test"]["codes"][idx]
    out[layout.pairs_name("shuffled")] = _shuffled_null(sim, padding, idx, g, t, original)

    rp_rng = stream(sim.seed, _RANDPOS)
    rg, rt = random_windows(rp_rng, idx.size, sim.seq_len, sim.gata.width, sim.tal.width)
    seqs = variants(original, rg, rt,
                    knockouts(rp_rng, sim.gata, idx.size, sim.knockout_min_ddg),
                    knockouts(rp_rng, sim.tal, idx.size, sim.knockout_min_ddg))
    y = {c: test_pairs[counts_key(c)] for c in sim.controls}
    out[layout.pairs_name("randpos")] = pair_arrays(sim, padding, idx, rg, rt, seqs, y)
    return out


def shuffle_seed(rng: np.random.Generator) -> int:
    """A seed for tangermeme's shuffle drawn from ``rng`` (the range its RNG accepts)."""
    return int(rng.integers(0, 2**31 - 2**24))


def random_bases(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    """Uniform random bases ``(n, width)``: the shuffled null's plain "knock-outs"."""
    return rng.integers(0, 4, size=(n, width), dtype=np.int8)


def _shuffled_null(sim: Simulation, padding: str, idx: np.ndarray, g: np.ndarray,
                   t: np.ndarray, original: np.ndarray) -> dict[str, np.ndarray]:
    """Dinucleotide-shuffled test pairs, 'knocked out' by plain uniform random bases."""
    rng = stream(sim.seed, _SHUFFLE)
    codes = shuffle_dinucleotides(original, shuffle_seed(rng))
    seqs = variants(codes, g, t, random_bases(rng, idx.size, sim.gata.width),
                    random_bases(rng, idx.size, sim.tal.width))
    y = draw_counts(stream(sim.seed, _COUNTS, _SPLIT_ID["shuffled"]), oracle(sim, codes, padding))
    return pair_arrays(sim, padding, idx, g, t, seqs, y)


def summary_table(data: dict[str, dict[str, np.ndarray]], controls: tuple[str, ...]) -> pd.DataFrame:
    """Counts and mean λ per split and motif category, and the size of every pair set.

    Returns
    -------
    pandas.DataFrame
        Columns ``section`` (split or pairs), ``name`` (split or pair-set name),
        ``category`` (none, gata, tal, both; ``s_gt`` for pair sets), ``n`` and
        ``mean_lam_<control>``.
    """
    rows = []
    for split in SPLITS:
        arrays = data[split]
        has_g, has_t = arrays[start_key("gata")] >= 0, arrays[start_key("tal")] >= 0
        categories = {"none": ~has_g & ~has_t, "gata": has_g & ~has_t,
                      "tal": ~has_g & has_t, "both": has_g & has_t}
        for category, mask in categories.items():
            row = {"section": "split", "name": split, "category": category, "n": int(mask.sum())}
            for c in controls:
                row[f"mean_lam_{c}"] = float(arrays[rate_key(c)][mask].mean()) if mask.any() else np.nan
            rows.append(row)
    for pair_set in PAIR_SETS:
        arrays = data[layout.pairs_name(pair_set)]
        row = {"section": "pairs", "name": pair_set, "category": layout.variant_key("gt"),
               "n": int(arrays[INDEX].size)}
        for c in controls:
            lam = arrays[rate_key(c, "gt")]
            row[f"mean_lam_{c}"] = float(lam.mean()) if lam.size else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def write(sim: Simulation, padding: str, outdir: str | Path) -> pd.DataFrame:
    """Simulate one padding mode and write its ``.npz`` files and ``summary.tsv``.

    Returns the summary table.
    """
    outdir = Path(outdir)
    data = simulate(sim, padding)
    for key, arrays in data.items():
        io.save_npz(outdir / f"{key}.npz", arrays)
    summary = summary_table(data, tuple(sim.controls))
    io.write_tsv(outdir / "summary.tsv", summary)
    return summary
