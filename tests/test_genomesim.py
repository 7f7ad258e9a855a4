"""The simulated genome's truth is exact, and what a BPNet user reads back from its files is it."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lookloss import config as cfg
from lookloss import genomesim, genometruth

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small_config() -> dict:
    """presets/genome.yaml with presets/genome-smoke.yaml: 300 peaks on three chromosomes."""
    return cfg.check(cfg.read_files([ROOT / "config.yaml", ROOT / "presets" / "genome.yaml",
                                     ROOT / "presets" / "genome-smoke.yaml"]), base_dir=ROOT)


@pytest.fixture(scope="module")
def genome(small_config) -> genomesim.Genome:
    return genomesim.simulate(small_config, base_dir=ROOT)


@pytest.fixture(scope="module")
def written(genome, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("genome")
    genomesim.write(genome, folder)
    return folder


def test_the_expected_reads_of_every_locus_are_the_truths_formula(genome, small_config):
    """Summing each truth's per-base rates over a locus's output window gives its rate."""
    section = small_config["genome"]
    half = section["out_window"] // 2
    chrom = {name: i for i, name in enumerate(genome.names)}
    loci = genome.loci
    for truth in genomesim.TRUTHS:
        got = np.array([genome.expected[truth][chrom[c]][:, m - half:m + half].sum()
                        for c, m in zip(loci["chrom"], loci["summit"], strict=True)])
        np.testing.assert_allclose(got, loci[f"rate_{truth}"], rtol=1e-9)
    # and the formula: base + a (G + T) + distractors for the additive truth, by hand, from every
    # site's occupancy (planted or not) summed over the core
    r, d = section["rates"], section["distractors"]
    by_hand = (r["base"] + r["effect"] * (loci["gata_total"] + loci["tal_total"])
               + d["effect"] * (loci["AP1_total"] + loci["CTCF_total"]))
    np.testing.assert_allclose(loci["rate_additive"], by_hand, rtol=1e-12)
    assert (loci["gata_total"] >= loci["gata_occupancy"]).all()  # the planted site is one of the sites
    negative = loci["class"] == "negative"
    # background sequence: each motif's mu gives it the configured summed occupancy on average
    for key in ("gata", "tal", "AP1", "CTCF"):
        assert loci.loc[negative, f"{key}_total"].mean() == pytest.approx(section["background_occupancy"], rel=1e-3)


def test_the_additive_truths_interaction_is_exactly_zero_and_the_spacing_truths_only_in_its_window(genome):
    pairs = genome.pairs
    assert len(pairs) > 50
    assert (pairs["interaction_additive"] == 0).all()
    assert (pairs["interaction_super"] > 0).all()
    inside = pairs["composite"]
    assert inside.sum() > 10 and (~inside).sum() > 10
    assert (pairs.loc[inside, "interaction_spacing"] > 0).all()
    assert (pairs.loc[~inside, "interaction_spacing"] == 0).all()
    # the window: same strand, TAL1 upstream of GATA1 on that strand, gap 7..11
    for _, row in pairs[inside].iterrows():
        assert row["gata_strand"] == row["tal_strand"] and 7 <= row["gap"] <= 11
        assert row["orientation"] in ("tal+gata+", "gata-tal-")
    # main effects in reads: the truth's formula with one motif knocked out
    np.testing.assert_allclose(pairs["main_gata_additive"], 100 * pairs["gata_occupancy"], rtol=1e-12)


def test_the_truths_give_peaks_with_both_motifs_the_same_mean_rate(genome):
    both = genome.loci[genome.loci["class"] == "both"]
    means = [both[f"rate_{t}"].mean() for t in genomesim.TRUTHS]
    np.testing.assert_allclose(means, means[0], rtol=1e-12)
    single = genome.loci[genome.loci["class"] == "gata"]
    assert single["rate_super"].mean() < single["rate_additive"].mean()  # the interaction carries the rest


def test_the_reads_read_back_from_the_bigwigs_are_the_simulated_totals(genome, written, small_config):
    """What a BPNet user's loader (tangermeme's extract_loci, summits) reads is the simulation."""
    from tangermeme.io import extract_loci

    out = small_config["genome"]["out_window"]
    peaks = pd.read_csv(written / "peaks.narrowPeak", sep="\t", header=None)
    for truth in genomesim.TRUTHS:
        signals = [str(written / "signal" / f"{truth}_{s}.bw") for s in ("plus", "minus")]
        _, y = extract_loci(loci=peaks, sequences=str(written / "genome.fa"), signals=signals, in_window=out + 100,
                            out_window=out, summits=True, verbose=False)
        by_name = genome.loci.set_index("name").loc[peaks[3], f"reads_{truth}"].to_numpy()
        np.testing.assert_array_equal(y.sum(dim=(1, 2)).numpy(), by_name)
    assert json.loads((written / "fold_0.json").read_text()) == {"train": ["chr3"], "valid": ["chr2"],
                                                                  "test": ["chr1"]}


def test_planted_instances_are_in_the_genome_on_their_strand(genome):
    codes = dict(zip(genome.names, genome.codes, strict=True))
    motif = genome.planted["gata"]
    rows = genome.loci[genome.loci["gata_start"].notna()]
    for _, row in rows.head(40).iterrows():
        start = int(row["summit"] + row["gata_start"])
        seq = codes[row["chrom"]][start:start + motif.width]
        if row["gata_strand"] == "-":
            seq = genomesim.reverse_complement(seq)
        score = -motif.ddg[seq, np.arange(motif.width)].sum()
        assert score > 0  # a site sampled from the PPM, read in its own orientation


def test_the_background_varies_in_gc_and_depletes_cpg(genome):
    chrom = genome.codes[0]
    segment = 20000
    gc = [np.isin(chrom[i:i + segment], (1, 2)).mean() for i in range(0, len(chrom) - segment, segment)]
    assert np.std(gc) > 0.02  # not one composition
    c, g = chrom[:-1] == 1, chrom[1:] == 2
    observed = (c & g).mean()
    expected = c.mean() * (chrom == 2).mean()
    assert observed < 0.5 * expected


def test_one_seed_gives_the_same_genome_and_another_seed_another(small_config):
    config = copy.deepcopy(small_config)
    config["genome"].update(n_peaks=40, n_negatives=5)
    a, b = genomesim.simulate(config, ROOT), genomesim.simulate(config, ROOT)
    assert all(np.array_equal(x, y) for x, y in zip(a.codes, b.codes, strict=True))
    pd.testing.assert_frame_equal(a.loci, b.loci)
    config["genome"]["seed"] += 1
    c = genomesim.simulate(config, ROOT)
    assert not np.array_equal(a.codes[0], c.codes[0])


def test_a_consensus_becomes_a_ppm_and_a_bad_letter_is_refused():
    ppm = genomesim.consensus_ppm("ASN", 0.8)
    np.testing.assert_allclose(ppm.sum(axis=0), 1)
    np.testing.assert_allclose(ppm[:, 0], [0.85, 0.05, 0.05, 0.05])
    np.testing.assert_allclose(ppm[:, 1], [0.05, 0.45, 0.45, 0.05])
    np.testing.assert_allclose(ppm[:, 2], 0.25)
    with pytest.raises(ValueError, match="'X' is not an IUPAC"):
        genomesim.consensus_ppm("AXA", 0.8)


def test_the_recorded_effects_are_the_rates_with_the_planted_sites_knocked_out(genome, small_config):
    """Removing the planted windows' occupancy (and, for the spacing truth, their composite
    products) from the sums changes each truth's rate by the recorded effects."""
    section, pairs = small_config["genome"], genome.pairs
    loci = genome.loci.set_index("name").loc[pairs["name"]]
    g, t = pairs["gata_occupancy"].to_numpy(), pairs["tal_occupancy"].to_numpy()
    totals = {k: loci[f"{k}_total"].to_numpy() for k in genome.planted}
    products = loci["composite_products"].to_numpy()
    # the spacing truth's products: P_g = main_gata's extra term, p = the pair's own
    s, a, c = genome.scales["spacing"], section["rates"]["effect"], section["rates"]["spacing"]
    own = pairs["interaction_spacing"].to_numpy() / (s * c * a)
    p_g = (pairs["main_gata_spacing"].to_numpy() - s * a * g) / (s * c * a) + own
    p_t = (pairs["main_tal_spacing"].to_numpy() - s * a * t) / (s * c * a) + own

    def lam(knock_g: bool, knock_t: bool) -> dict:
        sums = {**totals, "gata": totals["gata"] - g * knock_g, "tal": totals["tal"] - t * knock_t}
        composite = products - p_g * knock_g - p_t * knock_t + own * (knock_g and knock_t)
        return genometruth.rates(sums, composite, section, genome.scales)

    both, g0, t0, none = lam(False, False), lam(False, True), lam(True, False), lam(True, True)
    for truth in genomesim.TRUTHS:
        scale = np.abs(both[truth]).max()
        np.testing.assert_allclose(pairs[f"main_gata_{truth}"], g0[truth] - none[truth], atol=1e-9 * scale)
        np.testing.assert_allclose(pairs[f"interaction_{truth}"], both[truth] - g0[truth] - t0[truth] + none[truth],
                                   atol=1e-9 * scale)
    for truth in ("additive", "super"):  # no composite products enter these: the check is exact
        np.testing.assert_allclose(pairs[f"main_tal_{truth}"], t0[truth] - none[truth], atol=1e-9)


def test_every_peak_is_a_bound_site_and_negatives_carry_no_motif(genome):
    loci = genome.loci
    starts = loci[[f"{k}_start" for k in genome.planted]].notna()
    peaks = loci["class"] != "negative"
    assert starts[peaks].any(axis=1).all()
    assert not starts[~peaks].any(axis=None)
    none = loci["class"] == "none"
    assert none.sum() > 10 and not starts.loc[none, ["gata_start", "tal_start"]].any(axis=None)


def test_the_fit_ceilings_are_one_for_noiseless_reads_and_a_log_linear_head_misses_the_window(genome):
    from lookloss import genometables

    exact = genome.loci.copy()
    for truth in genomesim.TRUTHS:
        exact[f"reads_{truth}"] = exact[f"rate_{truth}"]
    limits = genometables.ceilings(exact, genomesim.TRUTHS, genome.names).set_index("truth")
    np.testing.assert_allclose(limits["r_truth"], 1.0)
    assert limits.loc["spacing", "r_log_linear"] < 0.99  # the composite window is no product of occupancies
    noisy = genometables.ceilings(genome.loci, genomesim.TRUTHS, ["chr1"])
    assert (noisy["r_truth"] < 1).all() and noisy["peaks"].iloc[0] == (genome.loci["chrom"] == "chr1").sum() - (
        (genome.loci["chrom"] == "chr1") & (genome.loci["class"] == "negative")).sum()
