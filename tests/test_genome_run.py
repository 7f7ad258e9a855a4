"""The genome-scale run end to end, in miniature: simulation, bpnet-lite training, lookloss grow,
the user's loss test on the trained BPNet, and the reading."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lookloss import bpnets, cli, genomegrow, genomesim
from lookloss import config as cfg

ROOT = Path(__file__).resolve().parents[1]
PRESETS = [ROOT / "presets" / "genome.yaml", ROOT / "presets" / "genome-smoke.yaml"]


@pytest.fixture()
def smoke(tmp_path) -> dict:
    """The smoke preset, its results in this test's folder."""
    config = cfg.check(cfg.read_files([ROOT / "config.yaml", *PRESETS]), base_dir=ROOT)
    config["results_dir"] = str(tmp_path / "results")
    return config


def test_the_grid_is_seed_major_and_each_model_has_its_folder(smoke):
    order = genomegrow.grid_order(smoke)
    assert [(i["seed"], i["arch"], i["truth"]) for i in order[:3]] == [(1, "bpnet", t) for t in genomesim.TRUTHS]
    assert genomegrow.key(order[0]) == "additive/bpnet-seed_1"
    assert genomegrow.model_files(order[0])[-1] == "models/additive/bpnet-seed_1/metrics.json"


def test_the_additive_count_head_adds_counts_over_positions():
    """Two motifs far apart: the additive architecture's counts are the sum of each one's
    contribution (receptive fields apart), a BPNet's are not."""
    torch.manual_seed(0)
    model = bpnets.build("additive", 4, 2).eval()
    x = torch.zeros(4, 4, 400)
    x[:, 0] = 1  # all A
    motif = torch.tensor([2, 3, 1, 2, 3, 1])  # GTCGTC
    for row, starts in ((1, [120]), (2, [280]), (3, [120, 280])):
        for s in starts:
            x[row, :, s:s + 6] = 0
            x[row, motif, torch.arange(s, s + 6)] = 1
    ctl = torch.zeros(4, 2, 400)
    with torch.no_grad():
        counts = torch.expm1(model(x, ctl)[1][:, 0].double())
    interaction = counts[3] - counts[1] - counts[2] + counts[0]
    assert abs(float(interaction)) < 1e-4 * float(counts.abs().max())
    assert bpnets.in_window(500, 6) == 846 and bpnets.in_window(1000, 8) == 2114


def test_a_published_bpnet_is_read_by_the_tools_without_trust_pickle(tmp_path):
    """model.pt holds weights and meta only: the loss test's and the scan's loader read it as it is."""
    from lookloss import head, inference

    torch.manual_seed(0)
    model = bpnets.build("additive", 4, 2).eval()
    bpnets.save(model.state_dict(), {"arch": "additive", "n_filters": 4, "n_layers": 2}, tmp_path / "model.pt")
    x, ctl = torch.rand(3, 4, 300), torch.rand(3, 2, 300)
    for loaded in (inference.load_model(tmp_path / "model.pt"), head.load_model(tmp_path / "model.pt")):
        assert isinstance(loaded, bpnets.AdditiveBPNet) and not loaded.training
        with torch.no_grad():
            torch.testing.assert_close(loaded(x, ctl)[1], model(x, ctl)[1], rtol=0, atol=0)
    # a whole module saved with torch.save is still refused without --trust-pickle
    torch.save(model, tmp_path / "whole.torch")
    with pytest.raises(head.GenomicError, match="--trust-pickle"):
        head.load_model(tmp_path / "whole.torch")


@pytest.mark.slow
def test_grow_trains_publishes_and_the_loss_test_runs_on_the_published_bpnet(smoke, tmp_path):
    """One seed's first two models through lookloss grow, then the user's command on one of them."""
    folder = tmp_path / "published"
    manifest = genomegrow.grow(smoke, folder, jobs=1, root=ROOT, limit=2)
    assert manifest["n_models"] == 2 and manifest["n_grid"] == 6 and not manifest["complete"]
    assert manifest["format"] == genomegrow.FORMAT_TAG
    first = folder / "models" / "additive" / "bpnet-seed_1"
    metrics = json.loads((first / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metrics["test_peaks"] > 50 and -1 <= metrics["count_pearson"] <= 1
    assert metrics["count_loss_weight"] > 10  # half the mean total reads, not bpnet-lite's 1
    # a second call trains nothing more when limited to nothing, and keeps the files
    again = genomegrow.grow(smoke, folder, jobs=1, root=ROOT, limit=0)
    assert again["files"] == manifest["files"]

    sim = Path(smoke["results_dir"]) / "simulation"
    out = tmp_path / "test"
    status = cli.main(["loss-test", "--model", str(first / "model.pt"), "--output", "1",
                       "--link", "log1p", "--loci", str(sim / "peaks.narrowPeak"), "--summits",
                       "--genome", str(sim / "genome.fa"), "--signal", str(sim / "signal" / "additive_plus.bw"),
                       str(sim / "signal" / "additive_minus.bw"), "--control", str(sim / "control_plus.bw"),
                       str(sim / "control_minus.bw"), "--fold", str(sim / "fold_0.json"), "--in-window", "606",
                       "--out-window", "500", "--motifs", str(sim / "motifs.meme"), "--pair", "GATA_disc1",
                       "TAL1_known1", "--min-gap", "0", "--no-trace", "--out", str(out)])
    assert status == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["min_gap"] == 0 and summary["n_pairs"] > 10
    pairs = pd.read_parquet(out / "pairs.parquet")
    assert set(pairs["chrom"]) == {"chr1"}  # the fold's test chromosome only
    # the targets are the simulated reads of those peaks
    loci = pd.read_csv(sim / "loci.tsv", sep="\t").set_index("name")
    np.testing.assert_array_equal(pairs["target"].to_numpy(), loci.loc[pairs["name"], "reads_additive"].to_numpy())


@pytest.mark.slow
def test_the_reading_analyses_published_models_and_writes_its_block(smoke, tmp_path, capsys):
    folder = tmp_path / "published"
    genomegrow.grow(smoke, folder, jobs=1, root=ROOT, limit=3)
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- genome:start -->\nold\n<!-- genome:end -->\nend\n")
    args = ["reading", "--configfile", *map(str, PRESETS), "--root", str(ROOT), "--published", str(folder),
            "--results", smoke["results_dir"], "--write-tables", "--allow-dirty", "--readme", str(readme)]
    assert cli.main(args) == 0
    text = readme.read_text()
    assert "3 of 6 models, partial" in text and "old" not in text and text.endswith("end\n")
    flagged = pd.read_csv(folder / "tables" / "flagged.tsv", sep="\t")
    assert set(flagged["truth"]) == set(genomesim.TRUTHS)
    spacing = flagged[(flagged["truth"] == "spacing") & (flagged["arch"] == "all")].set_index("subset")
    assert spacing.loc["outside", "true_mean_I"] == 0 and spacing.loc["inside", "true_mean_I"] > 0
    manifest = json.loads((folder / "manifest.json").read_text())
    assert "tables/flagged.tsv" in manifest["files"] and "figures/genome.png" in manifest["files"]
    summary = json.loads((Path(smoke["results_dir"]) / "analysis" / "super" / "bpnet-seed_1" / "summary.json").read_text())
    assert summary["subsets"]["all"]["true_mean_I"] > 0 and summary["truth"] == "super"
    # the loss tests again on the model recalibrated on peaks with at most one of the motifs: the smoke
    # BPNet, one epoch old, predicts one count everywhere, which no map can be fitted to
    assert summary["recalibrated"]["call"] == "not recalibrated"
    assert summary["recalibrated"]["reason"].startswith("the model predicts the same count on every locus")
    assert "recalibrated paired" in set(pd.read_csv(folder / "tables" / "rules.tsv", sep="\t")["rule"])
    # the pair scan ran on the same windows: every pair of the four motifs, its cells beside the summary
    cells = pd.read_csv(Path(smoke["results_dir"]) / "analysis" / "super" / "bpnet-seed_1" / "scan.tsv", sep="\t")
    assert len(cells.drop_duplicates(["motif_a", "motif_b"])) == 10 and summary["scan"]["passes"] > 0
    assert "tables/scan.tsv" in manifest["files"] and "tables/rules.tsv" in manifest["files"]
    assert {"figures/scan_super_bpnet.png", "figures/scan_additive_bpnet.png"} <= set(manifest["files"])
    assert "The pair scan" in text and "Calls of an interaction under each candidate rule" in text


def test_gia_and_dfim_run_on_a_bpnet_shaped_model_and_gia_sees_a_product_term(tmp_path):
    """The study's GIA through the genome analysis: a count head with a GATA1 x TAL1 product term
    is flagged; one additive in counts has a GIA interaction near 0 (only where an inserted
    consensus changes the other motif's best background site: a real, tiny interaction)."""
    import zoo  # tests/zoo.py

    from lookloss import genomeanalysis, motifs
    from lookloss.loci import extract, read_loci

    config = cfg.check(cfg.read_files([ROOT / "config.yaml", *PRESETS]), base_dir=ROOT)
    genomesim.write(genomesim.simulate(config, ROOT), tmp_path)
    loci = read_loci(tmp_path / "peaks.narrowPeak", summits=True)
    loci = loci[loci["chrom"] == "chr1"].reset_index(drop=True)
    windows = extract(loci, tmp_path / "genome.fa", [tmp_path / "signal" / "super_plus.bw"],
                      [tmp_path / "control_plus.bw", tmp_path / "control_minus.bw"], (zoo.IN, zoo.OUT))
    ppms = motifs.read_motifs(tmp_path / "motifs.meme", ["GATA_disc1", "TAL1_known1"])
    gata, tal = ppms["GATA_disc1"], ppms["TAL1_known1"]
    codes = motifs.to_codes(windows.onehot)
    from lookloss import losstest

    a, b = (losstest.as_motif(m, np.full(4, 0.25), 0.001, n) for m, n in ((gata, "g"), (tal, "t")))
    rows, a_start, b_start, _ = losstest.find_pairs(codes, a, b, 2.0, min_gap=0)
    pairs = pd.DataFrame({"name": windows.loci["name"].to_numpy()[rows], "a_start": a_start, "b_start": b_start,
                          "a_strand": losstest.strand_of(codes[rows], a_start, a),
                          "b_strand": losstest.strand_of(codes[rows], b_start, b)})
    settings = {"gia_backgrounds": 30, "gia_positions": 10, "dfim_pairs": 20, "dfim_references": 4}
    found = {}
    for product in (60.0, 0.0):
        model = zoo.Profiled(zoo.Core(gata, tal, core=zoo.OUT, product=product), "tuple", zoo.OUT).eval()
        found[product] = genomeanalysis.detect(model, windows, pairs, gata, tal, settings)
    assert found[60.0]["p_gia"] < 0.01 and found[60.0]["mean_I_gia"] > 0
    assert found[0.0]["mean_abs_I_gia"] < 0.05 * found[60.0]["mean_abs_I_gia"]
    assert all(np.isfinite(found[p]["mean_fis"]) and 0 <= found[p]["p_dfim"] <= 1 for p in found)
