"""A simulated genome with a known interaction truth, written as a BPNet user's files.

The study's question at genome scale (docs/genome.md): do BPNet-class models learn false
interactions, and does the loss test catch them? Answering it needs data whose truth is
known exactly, in the form a BPNet is trained on. :func:`simulate` builds it from the
``genome`` config section and one seed:

- **Genome.** ``chromosomes`` chromosomes of loci ``locus_spacing`` bases apart. The
  background is a first-order Markov chain (dinucleotide model) whose GC content varies
  along each chromosome in segments of ``background.segment`` bases (GC fraction drawn
  from a beta distribution of mean ``gc_mean`` and sd ``gc_sd``), with CpG depleted to
  ``cpg_ratio`` of its expected frequency, as in vertebrate genomes.
- **Peaks.** ``n_peaks`` loci, each of a class: both GATA1 and TAL1 (the study's motifs),
  one of them, or none; every peak also carries each distractor motif (additive effects
  of their own) with probability ``distractors.probability``, and a peak of the class
  ``none`` carries one of them, chosen uniformly, for sure (a peak is a bound site). Instances are sampled from
  their PPMs and planted on a random strand, single motifs within ``single_range`` bases of
  the summit, pairs with a recorded edge-to-edge gap and orientation. A fraction
  ``composite_fraction`` of pairs is planted in the composite arrangement of the spacing
  truth (TAL1's E-box ``composite.gap`` bases upstream of GATA1 on the same strand, as in
  the erythroid E-box–GATA element); the rest get a uniform gap in 0..``max_gap`` and
  independent strands and order. ``n_negatives`` background loci carry no planted motif
  (bpnet-lite's ``PeakGenerator`` samples them as negatives).
- **Reads.** Each truth gives a locus's expected reads over the ``out_window`` centred on
  its summit from the occupancies (Zhao & Stormo) of every window of each motif in the
  locus's core, read on both strands, planted or not (:func:`rates`), as the study sums
  them: the truth is a function of the sequence, so a model can learn it. Each motif's
  ``mu`` is set so that background sequence (the negatives' windows) holds a summed
  occupancy of ``background_occupancy`` per window (:func:`calibrated_mus`): a planted
  site counts about 1, chance matches a little. Each site's reads are laid around its
  centre by a footprint (a discretised Gaussian of sd ``footprint.sd``, shifted
  ``footprint.shift`` bases upstream on the + strand and downstream on the − strand) over a
  flat background (``rates.base`` reads per ``out_window``); read counts are one Poisson
  draw per base and strand, so a locus's total is Poisson with the truth's rate. A control
  track (input) is a flat Poisson background of its own.
- **Three truths** on the same sequences: ``additive`` (true interaction exactly 0),
  ``super`` (a GATA1 x TAL1 product term everywhere) and ``spacing`` (products only of
  GATA1 and TAL1 windows in the composite arrangement). The super and spacing truths' motif terms are scaled so
  that peaks holding both motifs have the additive truth's mean rate, as the power sweep
  does: only the interaction differs.

Files (``write``): ``genome.fa``, ``peaks.narrowPeak`` (with summits), ``negatives.bed``,
``signal/{truth}_{plus,minus}.bw``, ``control_{plus,minus}.bw``, ``fold_0.json``
(ChromBPNet's splits format), ``motifs.meme`` (the planted motifs), ``loci.tsv`` (every
locus: class, instances, occupancies, expected and drawn reads of each truth) and
``pairs.tsv`` (every planted pair: gap, orientation, true main effects and interaction of
each truth in reads).

Randomness comes from independent streams of the seed (:func:`lookloss.simulation.stream`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pandas as pd

from lookloss import io, motifs, simulation
from lookloss.genometruth import (
    Sites,
    calibrated_mus,
    composite_partners,
    effects,
    equal_mean_scales,
    margin,
    profiles,
    rates,
    site_occupancies,
    site_reads,
)

#: The truths, in the order their reads are drawn.
TRUTHS = ("additive", "super", "spacing")
#: Peak classes: which of GATA1 (g) and TAL1 (t) a peak carries.
CLASSES = ("both", "gata", "tal", "none")
#: IUPAC codes to the bases they stand for.
IUPAC = {"A": "A", "C": "C", "G": "G", "T": "T", "R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT",
         "M": "AC", "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT"}
#: Random streams (keys of :func:`lookloss.simulation.stream`).
_GENOME, _LAYOUT, _INSTANCES, _READS, _CONTROL = range(11, 16)
#: Smallest gap between two planted motifs of a peak that are not a pair (distractors).
_CLEARANCE = 5


def consensus_ppm(consensus: str, weight: float) -> np.ndarray:
    """A PPM (4, w) from an IUPAC consensus: ``weight`` shared by the bases a letter allows,
    the rest spread evenly over all four."""
    ppm = np.full((4, len(consensus)), (1.0 - weight) / 4)
    for j, letter in enumerate(consensus.upper()):
        if letter not in IUPAC:
            raise ValueError(f"consensus {consensus!r}: {letter!r} is not an IUPAC base code")
        for base in IUPAC[letter]:
            ppm["ACGT".index(base), j] += weight / len(IUPAC[letter])
    return ppm


def planted_motifs(config: Mapping[str, Any], base_dir: str | Path = ".") -> dict[str, simulation.Motif]:
    """GATA1 and TAL1 as the study simulates them (``simulation`` section), then the distractors."""
    sim = simulation.Simulation.from_config(config["simulation"], base_dir=base_dir)
    section = config["genome"]["distractors"]
    out = {"gata": sim.gata, "tal": sim.tal}
    for name, consensus in section["motifs"].items():
        ppm = consensus_ppm(consensus, section["consensus_weight"])
        out[name] = simulation.Motif(name, ppm, motifs.ddg_matrix(ppm, sim.background))
    return out


# ----------------------------------------------------------------------------- background
@numba.njit(cache=True)
def _markov(u: np.ndarray, segment_of: np.ndarray, cdfs: np.ndarray, first: np.ndarray) -> np.ndarray:
    out = np.empty(u.shape[0], np.int8)
    prev = np.searchsorted(first, u[0], side="right")
    out[0] = min(prev, 3)
    for i in range(1, u.shape[0]):
        row = cdfs[segment_of[i], out[i - 1]]
        b = 0
        while b < 3 and u[i] >= row[b]:
            b += 1
        out[i] = b
    return out


def transition_cdfs(gc: np.ndarray, cpg_ratio: float) -> np.ndarray:
    """Cumulative first-order transition probabilities (n, 4, 4) for each GC fraction: bases
    drawn with that GC content, C followed by G ``cpg_ratio`` times as often, renormalised."""
    p = np.stack([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2], axis=1)  # A C G T
    trans = np.repeat(p[:, None, :], 4, axis=1)
    trans[:, 1, 2] *= cpg_ratio
    trans /= trans.sum(axis=2, keepdims=True)
    cdf = np.cumsum(trans, axis=2)
    cdf[..., -1] = 1.0
    return cdf


def background(rng: np.random.Generator, length: int, section: Mapping[str, Any]) -> np.ndarray:
    """One chromosome's background, as codes (length,): see the module's docstring."""
    n_segments = -(-length // section["segment"])
    mean, sd = section["gc_mean"], section["gc_sd"]
    common = mean * (1 - mean) / sd**2 - 1  # beta distribution of this mean and sd
    gc = rng.beta(mean * common, (1 - mean) * common, size=n_segments)
    cdfs = transition_cdfs(gc, section["cpg_ratio"])
    segment_of = (np.arange(length) // section["segment"]).astype(np.int64)
    u = rng.random(length)
    return _markov(u, segment_of, cdfs, cdfs[0, 0])


# ----------------------------------------------------------------------------- layout
def reverse_complement(codes: np.ndarray) -> np.ndarray:
    """Reverse complement of codes (..., w)."""
    return (3 - codes[..., ::-1]).astype(np.int8)


def _layout(rng: np.random.Generator, config: Mapping[str, Any], planted: Mapping[str, simulation.Motif]) -> pd.DataFrame:
    """Class, summit offset within the slot, and each motif's start (relative to the summit;
    absent: missing) and strand of every peak and negative."""
    section = config["genome"]
    place = section["placement"]
    n, n_neg = section["n_peaks"], section["n_negatives"]
    fractions = np.array([section["classes"][c] for c in CLASSES], dtype=float)
    kind = rng.choice(len(CLASSES), size=n, p=fractions / fractions.sum())
    wg, wt = planted["gata"].width, planted["tal"].width
    rows: list[dict[str, Any]] = []
    composite = section["composite"]
    distractors = list(section["distractors"]["motifs"])
    for i in range(n):
        cls = CLASSES[kind[i]]
        row: dict[str, Any] = {"class": cls}
        spans: list[tuple[int, int]] = []
        if cls == "both":
            if rng.random() < place["composite_fraction"]:
                strand = "+" if rng.random() < 0.5 else "-"
                gap = int(rng.integers(composite["gap"][0], composite["gap"][1] + 1))
                tal_first = strand == "+"  # TAL1 upstream of GATA1 on its own strand
                strands = (strand, strand)
            else:
                gap = int(rng.integers(0, place["max_gap"] + 1))
                tal_first = bool(rng.random() < 0.5)
                strands = tuple("+" if rng.random() < 0.5 else "-" for _ in range(2))
            total = wg + wt + gap
            left = -total // 2 + int(rng.integers(-place["pair_jitter"], place["pair_jitter"] + 1))
            if tal_first:
                t_start, g_start = left, left + wt + gap
            else:
                g_start, t_start = left, left + wg + gap
            row.update(gata_start=g_start, gata_strand=strands[0], tal_start=t_start, tal_strand=strands[1])
            spans += [(g_start, g_start + wg), (t_start, t_start + wt)]
        elif cls in ("gata", "tal"):
            w = planted[cls].width
            start = int(rng.integers(-place["single_range"], place["single_range"] - w + 1))
            row.update({f"{cls}_start": start, f"{cls}_strand": "+" if rng.random() < 0.5 else "-"})
            spans.append((start, start + w))
        # a peak is a bound site: one without GATA1 and TAL1 carries a distractor for sure
        forced = distractors[int(rng.integers(len(distractors)))] if cls == "none" else None
        for name in distractors:
            if name != forced and rng.random() >= section["distractors"]["probability"]:
                continue
            w = planted[name].width
            while True:
                start = int(rng.integers(-place["distractor_range"], place["distractor_range"] - w + 1))
                if all(start + w + _CLEARANCE <= a or b + _CLEARANCE <= start for a, b in spans):
                    break
            row.update({f"{name}_start": start, f"{name}_strand": "+" if rng.random() < 0.5 else "-"})
            spans.append((start, start + w))
        rows.append(row)
    rows += [{"class": "negative"} for _ in range(n_neg)]
    table = pd.DataFrame(rows)
    for name in planted:
        if f"{name}_start" not in table:
            table[f"{name}_start"] = np.nan
            table[f"{name}_strand"] = None
        table[f"{name}_start"] = table[f"{name}_start"].astype("Int64")
    return table


def _starts(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """GATA1 and TAL1 starts as floats, NaN where absent."""
    return (table["gata_start"].astype("float64").to_numpy(na_value=np.nan),
            table["tal_start"].astype("float64").to_numpy(na_value=np.nan))


def orientation(table: pd.DataFrame) -> np.ndarray:
    """Each pair's arrangement along the genome: the motifs in genome order with their strands,
    e.g. ``tal+gata+`` (TAL1 upstream of GATA1, both on +). Rows must hold both motifs."""
    g, t = _starts(table)
    gs, ts = "gata" + table["gata_strand"].astype(str).to_numpy(), "tal" + table["tal_strand"].astype(str).to_numpy()
    return np.where(g < t, np.char.add(gs.astype(str), ts.astype(str)), np.char.add(ts.astype(str), gs.astype(str)))


def edge_gap(table: pd.DataFrame, wg: int, wt: int) -> np.ndarray:
    """Bases between the end of the first motif of a pair and the start of the second (NaN: no pair)."""
    g, t = _starts(table)
    return np.where(g < t, t - (g + wg), g - (t + wt))


def in_composite(table: pd.DataFrame, wg: int, wt: int, section: Mapping[str, Any]) -> np.ndarray:
    """Pairs in the spacing truth's cooperative arrangement: same strand, TAL1 upstream of GATA1
    on that strand, edge-to-edge gap within ``composite.gap`` (inclusive)."""
    g, t = _starts(table)
    gap = edge_gap(table, wg, wt)
    strand_g, strand_t = table["gata_strand"].to_numpy(), table["tal_strand"].to_numpy()
    upstream = np.where(strand_g == "+", t < g, g < t)
    lo, hi = section["composite"]["gap"]
    with np.errstate(invalid="ignore"):
        return ~np.isnan(g) & ~np.isnan(t) & (strand_g == strand_t) & upstream & (gap >= lo) & (gap <= hi)


@dataclass
class Genome:
    """A simulated genome: chromosome codes, loci and what was planted."""

    names: list[str]
    codes: list[np.ndarray]
    loci: pd.DataFrame
    pairs: pd.DataFrame
    expected: dict[str, list[np.ndarray]]  # truth -> per chromosome (2, length) reads per base
    reads: dict[str, list[np.ndarray]]
    control: list[np.ndarray]
    scales: dict[str, float]
    mus: dict[str, float]
    folds: dict[str, list[str]]
    planted: dict[str, simulation.Motif]


def simulate(config: Mapping[str, Any], base_dir: str | Path = ".") -> Genome:
    """The genome, peaks, reads and truth of the ``genome`` section (see the module docstring)."""
    section = config["genome"]
    seed = section["seed"]
    planted = planted_motifs(config, base_dir)
    layout_rng = simulation.stream(seed, _LAYOUT)
    table = _layout(layout_rng, config, planted)
    n_chrom, spacing, out_window = section["chromosomes"], section["locus_spacing"], section["out_window"]
    # loci round-robin over chromosomes, so that every chromosome holds every class alike
    order = simulation.stream(seed, _LAYOUT, 1).permutation(len(table))
    table = table.iloc[order].reset_index(drop=True)
    chrom_index = np.arange(len(table)) % n_chrom
    slot = np.arange(len(table)) // n_chrom
    names = [f"chr{i + 1}" for i in range(n_chrom)]
    # every chromosome of one length (they hold the same number of loci, give or take one)
    lengths = np.full(n_chrom, (int(slot.max()) + 2) * spacing)
    table.insert(0, "chrom", [names[c] for c in chrom_index])
    table.insert(1, "summit", (slot + 1) * spacing)
    table.insert(2, "name", [f"{'peak' if c != 'negative' else 'neg'}{i}" for i, c in enumerate(table["class"])])

    genome_rng = simulation.stream(seed, _GENOME)
    codes = [background(genome_rng, int(length), section["background"]) for length in lengths]
    inst_rng = simulation.stream(seed, _INSTANCES)
    chrom_of = {name: i for i, name in enumerate(names)}
    for key, motif in planted.items():
        present = table[f"{key}_start"].notna().to_numpy()
        instances = simulation.sample_instances(inst_rng, motif.ppm, int(present.sum()))
        for k, i in enumerate(np.flatnonzero(present)):
            seq = instances[k] if table.at[i, f"{key}_strand"] == "+" else reverse_complement(instances[k])
            start = int(table.at[i, "summit"] + table.at[i, f"{key}_start"])
            codes[chrom_of[table.at[i, "chrom"]]][start:start + motif.width] = seq
    wg, wt = planted["gata"].width, planted["tal"].width
    lo, hi = out_window // 2, out_window - out_window // 2
    windows = np.stack([codes[chrom_of[c]][m - lo:m + hi] for c, m in zip(table["chrom"], table["summit"], strict=True)])
    edge = margin(section)
    negative = (table["class"] == "negative").to_numpy()
    mus = calibrated_mus(windows[negative], planted, edge, section["background_occupancy"])
    sites = site_occupancies(windows, planted, mus, edge)
    partners = composite_partners(sites, section)
    totals = {key: sites.total(key) for key in planted}
    composite_sum = (sites.occ["gata"] * partners[0]).sum(axis=(1, 2))
    both = (table["class"] == "both").to_numpy()
    scales = equal_mean_scales(totals, composite_sum, both, section)
    lam = rates(totals, composite_sum, section, scales)
    for key in planted:
        start = table[f"{key}_start"].astype("float64").to_numpy(na_value=np.nan) + lo
        table[f"{key}_occupancy"] = sites.at(key, start)
        table[f"{key}_total"] = totals[key]
    table["composite_products"] = composite_sum
    for truth in TRUTHS:
        table[f"rate_{truth}"] = lam[truth]
    table["composite"] = in_composite(table, wg, wt, section)

    per_base = section["rates"]["base"] / (2 * out_window)
    expected = {truth: [np.full((2, int(length)), per_base) for length in lengths] for truth in TRUTHS}
    for truth in TRUTHS:
        prof = profiles(site_reads(sites, partners, section, scales, truth), section)
        for i, (c, m) in enumerate(zip(table["chrom"], table["summit"], strict=True)):
            expected[truth][chrom_of[c]][:, m - lo:m + hi] = prof[i]
    reads_rng = simulation.stream(seed, _READS)
    reads = {truth: [reads_rng.poisson(track).astype(np.float32) for track in expected[truth]] for truth in TRUTHS}
    control_rng = simulation.stream(seed, _CONTROL)
    control = [control_rng.poisson(section["control_rate"], size=(2, int(length))).astype(np.float32)
               for length in lengths]
    lo, hi = out_window // 2, out_window - out_window // 2
    for truth in TRUTHS:
        table[f"reads_{truth}"] = [
            reads[truth][chrom_of[c]][:, m - lo:m + hi].sum() for c, m in zip(table["chrom"], table["summit"], strict=True)]
    folds = {"train": [n for n in names if n not in section["folds"]["test"] + section["folds"]["valid"]],
             "valid": list(section["folds"]["valid"]), "test": list(section["folds"]["test"])}
    pairs = pair_table(table, sites, partners, section, scales, wg, wt, lo)
    return Genome(names, codes, table, pairs, expected, reads, control, scales, mus, folds, planted)


def pair_table(table: pd.DataFrame, sites: Sites, partners: tuple[np.ndarray, np.ndarray],
               section: Mapping[str, Any], scales: Mapping[str, float], wg: int, wt: int, lo: int) -> pd.DataFrame:
    """Every planted GATA1–TAL1 pair: where, gap, orientation, and each truth's true effects."""
    both = (table["class"] == "both").to_numpy()
    g_start = table["gata_start"].astype("float64").to_numpy(na_value=np.nan) + lo
    t_start = table["tal_start"].astype("float64").to_numpy(na_value=np.nan) + lo
    planted_occ = {"gata": table["gata_occupancy"].to_numpy(), "tal": table["tal_occupancy"].to_numpy()}
    totals = {"gata": sites.total("gata"), "tal": sites.total("tal")}
    # the composite products that involve each planted window, and the planted pair's own
    partner = {"gata": _window_products(sites, "gata", partners[0], g_start),
               "tal": _window_products(sites, "tal", partners[1], t_start)}
    composite = table["composite"].to_numpy()
    strands = table["gata_strand"].to_numpy()
    own = np.where(composite, sites.at("gata", g_start, strands) * sites.at("tal", t_start, strands), 0.0)
    truth = effects(planted_occ, totals, partner, own, section, scales)
    out = table.loc[both, ["chrom", "summit", "name", "gata_start", "gata_strand", "tal_start", "tal_strand",
                           "gata_occupancy", "tal_occupancy", "gata_total", "tal_total"]].copy()
    out["gap"] = edge_gap(out, wg, wt).astype(np.int64)
    out["orientation"] = orientation(out)
    out["composite"] = composite[both]
    for name in TRUTHS:
        for k, values in truth[name].items():
            out[f"{k}_{name}"] = values[both]
    return out.reset_index(drop=True)


def _window_products(sites: Sites, key: str, partner: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per locus, the composite products of the window of ``key`` at ``starts`` (both strands)."""
    k = np.where(np.isnan(starts), 0, starts - sites.margin).astype(np.int64)
    ok = ~np.isnan(starts) & (k >= 0) & (k < partner.shape[1])
    k = np.clip(k, 0, partner.shape[1] - 1)
    rows = np.arange(len(k))
    return np.where(ok, (sites.occ[key][rows, k] * partner[rows, k]).sum(axis=1), 0.0)


# ----------------------------------------------------------------------------- files
def write_meme(path: Path, planted: Mapping[str, simulation.Motif]) -> None:
    """The planted motifs as a MEME minimal file, under their names."""
    text = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", "",
            "Background letter frequencies", "A 0.25 C 0.25 G 0.25 T 0.25", ""]
    for motif in planted.values():
        text += [f"MOTIF {motif.name}", f"letter-probability matrix: alength= 4 w= {motif.width}"]
        text += [" ".join(f"{p:.6f}" for p in column) for column in motif.ppm.T] + [""]
    with io.atomic_path(path) as tmp:
        tmp.write_text("\n".join(text))


#: The files :func:`write` makes, relative to its folder (bigWigs per truth added).
def files(truths: tuple[str, ...] = TRUTHS) -> list[str]:
    names = ["genome.fa", "peaks.narrowPeak", "negatives.bed", "control_plus.bw", "control_minus.bw",
             "fold_0.json", "motifs.meme", "loci.tsv", "pairs.tsv", "summary.json"]
    return names + [f"signal/{t}_{s}.bw" for t in truths for s in ("plus", "minus")]


def write(genome: Genome, folder: str | Path) -> None:
    """Write every file of :func:`files` into ``folder``; ``summary.json`` last."""
    import figwig

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    text = ["".join(np.array(list("ACGT"))[c]) for c in genome.codes]
    io.write_fasta(folder / "genome.fa", list(zip(genome.names, text, strict=True)))
    (folder / "genome.fa.fai").unlink(missing_ok=True)  # pyfaidx rebuilds it for the new file
    sizes = {name: len(c) for name, c in zip(genome.names, genome.codes, strict=True)}
    loci = genome.loci
    peaks = loci[loci["class"] != "negative"]
    half = 100
    bed = pd.DataFrame({"chrom": peaks["chrom"], "start": peaks["summit"] - half, "end": peaks["summit"] + half,
                        "name": peaks["name"], "score": 0, "strand": ".",
                        "signal": peaks["reads_additive"].round(1), "p": -1, "q": -1, "peak": half})
    with io.atomic_path(folder / "peaks.narrowPeak") as tmp:
        bed.to_csv(tmp, sep="\t", header=False, index=False)
    neg = loci[loci["class"] == "negative"]
    with io.atomic_path(folder / "negatives.bed") as tmp:
        pd.DataFrame({"chrom": neg["chrom"], "start": neg["summit"] - half, "end": neg["summit"] + half}).to_csv(
            tmp, sep="\t", header=False, index=False)

    def bigwigs(paths: list[Path], tracks: list[np.ndarray]) -> None:
        # one window per chromosome, each whole; written beside and renamed into place
        tmps = [p.with_name(f".{p.stem}.tmp.bw") for p in paths]
        figwig.write_bigwig([str(t) for t in tmps], sizes, genome.names, [0] * len(genome.names),
                            np.stack(tracks))
        for t, p in zip(tmps, paths, strict=True):
            t.replace(p)

    (folder / "signal").mkdir(exist_ok=True)
    for truth in genome.reads:
        bigwigs([folder / "signal" / f"{truth}_plus.bw", folder / "signal" / f"{truth}_minus.bw"], genome.reads[truth])
    bigwigs([folder / "control_plus.bw", folder / "control_minus.bw"], genome.control)
    io.write_json(folder / "fold_0.json", genome.folds)
    write_meme(folder / "motifs.meme", genome.planted)
    io.write_tsv(folder / "loci.tsv", genome.loci)
    io.write_tsv(folder / "pairs.tsv", genome.pairs)
    io.write_json(folder / "summary.json", summary(genome))


def summary(genome: Genome) -> dict[str, Any]:
    """Counts and means a reader checks the simulation by."""
    loci = genome.loci
    out: dict[str, Any] = {"scales": genome.scales, "mus": genome.mus, "folds": genome.folds,
                           "chromosome_lengths": {n: len(c) for n, c in zip(genome.names, genome.codes, strict=True)},
                           "classes": loci["class"].value_counts().sort_index().to_dict(),
                           "pairs": len(genome.pairs), "composite_pairs": int(genome.pairs["composite"].sum()),
                           "gc": float(np.mean([np.isin(c, (1, 2)).mean() for c in genome.codes]))}
    for truth in TRUTHS:
        out[f"mean_rate_{truth}"] = loci.groupby("class")[f"rate_{truth}"].mean().round(4).to_dict()
    return json.loads(json.dumps(out))
