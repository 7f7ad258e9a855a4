"""The loss test on a user's model and data (lookloss.losstest, `lookloss loss-test`) on known truths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lookloss import cli, inference, interactions, io, layout, losstest, motifs
from lookloss.transforms import LINKS, anscombe

from oracles import Oracle  # tests/oracles.py

ROOT = Path(__file__).resolve().parents[1]
MOTIFS = ROOT / "resources" / "motifs.meme"
PAIR = ["GATA_disc1", "TAL1_known1"]


@pytest.fixture(scope="module")
def data(simulated):
    """The smoke simulation's test sequences (valid padding) with both controls' counts."""
    split = simulated["valid"]["test"]
    return split[layout.ONEHOT], {c: split[layout.counts_key(c)] for c in ("neg", "pos")}


@pytest.fixture(scope="module")
def ppms():
    return motifs.read_motifs(MOTIFS, PAIR)


def run(model, data, ppms, control, **options):
    onehot, counts = data
    return losstest.loss_test(model, onehot, counts[control], ppms[PAIR[0]], ppms[PAIR[1]],
                              motif_names=tuple(PAIR), **options)


def test_an_additive_truth_and_a_spurious_interaction_is_no_interaction(sim, data, ppms):
    """The model adds a product term the data do not have: large |I|, but it costs loss."""
    result = run(Oracle(sim, "neg", product=50.0), data, ppms, "neg")
    s = result.summary
    assert s["n_pairs"] > 50 and s["mean_abs_I"] > 5
    assert s["p_magnitude"] < 1e-6  # fooled: |I| far above the shuffled null
    assert s["p_paired"] > 0.05 and s["median_delta"] < 0 and s["call"] == "no interaction"
    assert list(result.pairs.columns) == losstest.PAIR_COLUMNS


def test_a_super_additive_truth_and_its_oracle_is_an_interaction(sim, data, ppms):
    result = run(Oracle(sim, "pos"), data, ppms, "pos")
    s = result.summary
    assert s["p_paired"] < 1e-6 and s["median_delta"] > 0 and s["call"] == "interaction"
    assert s["mean_I"] > 0  # super-additive


def test_the_pairs_are_the_simulations_and_the_numbers_its_analysis(sim, simulated, data, ppms):
    """Every analysed pair of the simulation is found where it was embedded, and the loss
    test computes there what the workflow's analysis computes (same functions)."""
    pairs = simulated["valid"]["pairs_test"]
    model = Oracle(sim, "pos")
    result = run(model, data, ppms, "pos", seed=3)
    found = result.pairs.assign(pair=result.pairs["name"].astype(int)).merge(
        pd.DataFrame({"pair": pairs["index"], "g": pairs["gata_start"], "t": pairs["tal_start"]}), on="pair")
    assert len(found) == len(pairs["index"])
    assert (found["a_start"] == found["g"]).all() and (found["b_start"] == found["t"]).all()
    table = interactions.interaction_table(model, pairs, "pos")
    mine = result.pairs.set_index(result.pairs["name"].astype(int)).loc[pairs["index"]]
    np.testing.assert_allclose(mine["f_ab"], table["f_gt"], rtol=1e-12)
    np.testing.assert_allclose(mine["loss_orig"], table["loss_orig"], rtol=1e-12)
    np.testing.assert_array_equal(mine["target"], table["y"])
    # a seed fixes the knock-outs and nulls: the same seed, the same table
    again = run(model, data, ppms, "pos", seed=3)
    pd.testing.assert_frame_equal(again.pairs, result.pairs)
    assert not run(model, data, ppms, "pos", seed=4).pairs["f_0"].equals(result.pairs["f_0"])


def test_too_few_pairs_to_reach_alpha_is_no_call():
    """With n pairs the one-sided signed-rank test gives no p below 2^-n: 4 pairs, all Δ > 0,
    cannot be significant at 0.05 (1/16), 5 can (1/32)."""
    def summary(n):
        pairs = pd.DataFrame({"interaction": np.ones(n), "delta": np.arange(1.0, n + 1),
                              "loss_main": np.full(n, 2.0), "loss_orig": np.ones(n)})
        return losstest.summarise(pairs, pairs[["interaction"]], pairs[["delta"]] - 1, alpha=0.05)

    assert summary(4)["p_paired"] == pytest.approx(1 / 16) and summary(4)["call"] == "too few pairs"
    assert summary(5)["p_paired"] == pytest.approx(1 / 32) and summary(5)["call"] == "interaction"
    zero = pd.DataFrame({"interaction": np.ones(5), "delta": np.arange(5.0), "loss_main": np.full(5, 2.0),
                         "loss_orig": np.ones(5)})  # Δ = 0 is dropped by the test: 4 pairs count
    assert losstest.summarise(zero, zero[["interaction"]], zero[["delta"]], alpha=0.05)["call"] == "too few pairs"


@pytest.mark.parametrize("link", sorted(LINKS))
def test_each_link_maps_outputs_to_counts_and_measures_the_loss_in_its_space(link):
    spec = LINKS[link]
    counts = np.array([0.0, 3.0, 40.0])
    out = {"anscombe": anscombe(counts), "log1p": np.log1p(counts), "identity": counts}[link]
    np.testing.assert_allclose(spec.to_counts(out), counts, atol=1e-12)
    loss = interactions.losses(np.array([5.0]), np.array([9.0]), np.array([2.0]), spec)
    space = {"anscombe": anscombe, "log1p": np.log1p, "identity": np.asarray}[link]
    clipped = max(5.0 - 9.0, spec.floor)
    assert loss["loss_main"][0] == pytest.approx((space(clipped) - space(2.0)) ** 2)
    assert loss["loss_orig"][0] == pytest.approx((space(5.0) - space(2.0)) ** 2)


# ----------------------------------------------------------------------------- the command
@pytest.fixture(scope="module")
def files(tmp_path_factory, sim, data):
    """FASTA, targets and model files of both truths (TorchScript and a torch.export program)."""
    folder = tmp_path_factory.mktemp("user")
    onehot, counts = data
    codes = motifs.to_codes(onehot)
    names = [f"s{i}" for i in range(len(codes))]
    io.write_fasta(folder / "seqs.fa", [(n, "".join("ACGT"[c] for c in row)) for n, row in zip(names, codes, strict=True)])
    for control in ("neg", "pos"):
        io.write_tsv(folder / f"{control}.tsv", pd.DataFrame({"name": names, "target": counts[control]}))
    example = torch.from_numpy(onehot[:3]).double()
    torch.jit.trace(Oracle(sim, "neg", product=50.0), example).save(str(folder / "spurious.ts"))
    inference.export_model(Oracle(sim, "pos"), folder / "oracle.pt2", onehot.shape[-1])
    return folder


def command(files, out, *extra, model="oracle.pt2", targets="pos.tsv", sequences="seqs.fa", pair=PAIR):
    return cli.main(["loss-test", "--model", str(files / model), "--sequences", str(files / sequences),
                     "--targets", str(files / targets), "--motifs", str(MOTIFS), "--pair", *pair,
                     "--out", str(out), *extra])


@pytest.mark.parametrize(("model", "targets", "call"), [("spurious.ts", "neg.tsv", "no interaction"),
                                                        ("oracle.pt2", "pos.tsv", "interaction")])
def test_the_command_on_both_truths(files, tmp_path, capsys, model, targets, call):
    assert command(files, tmp_path / "out", "--recalibrate", model=model, targets=targets) == 0
    printed = capsys.readouterr().out
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["call"] == call and f'"call": "{call}"' in printed
    assert summary["recalibrated"]["call"] == call and summary["recalibrated"]["calibration"]["n_loci"] > 300
    assert set(summary) >= {"n_sequences", "n_pairs", "mean_abs_I", "mean_I", "median_delta", "p_paired",
                            "p_unpaired", "p_magnitude", "p_randpos", "alpha", "call"}
    pairs = pd.read_parquet(tmp_path / "out" / "pairs.parquet")
    assert list(pairs.columns) == losstest.PAIR_COLUMNS and len(pairs) == summary["n_pairs"]
    assert (tmp_path / "out" / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".out.*"))  # no staging folder left behind


def write(folder: Path, name: str, text: str) -> str:
    (folder / name).write_text(text)
    return name


def bad_inputs(files, folder):
    """Each bad input: (command keywords, what the message must say)."""
    seqs = (files / "seqs.fa").read_text().splitlines()
    short = write(folder, "short.fa", ">a\nACGTACGTAC\n>b\nACGTACGTAA\n")
    targets_ab = write(folder, "ab.tsv", "name\ttarget\na\t1\nb\t2\n")
    ragged = write(folder, "ragged.fa", "\n".join(seqs[:2] + [">x", "ACGT"]) + "\n")
    with_n = write(folder, "n.fa", "\n".join(seqs[:4] + [">x", "N" * 100]) + "\n")
    few = write(folder, "few.tsv", "name\ttarget\ns0\t3\n")
    extra = write(folder, "extra.tsv", (files / "pos.tsv").read_text() + "ghost\t4\n")
    broken = write(folder, "broken.ts", "not a model")
    torch.jit.trace(TwoOutputs(), torch.zeros(2, 4, 100)).save(str(folder / "two.ts"))
    return [
        ({"pair": ["GATA_disc1", "NOPE"]}, "not found in"),
        ({"sequences": ragged}, "sequences differ in length"),
        ({"sequences": short, "targets": targets_ab}, "shorter than motif 'TAL1_known1'"),
        ({"sequences": with_n, "extra": ["--non-acgt", "fail"]}, "characters other than ACGT"),
        ({"targets": few}, "has no target"),
        ({"targets": extra}, "target 'ghost'"),
        ({"extra": ["--min-logodds", "100"]}, "no sequence holds both motifs with log-odds > 100"),
        ({"model": "two.ts"}, "expected (2,) or (2, 1)"),
        ({"model": broken}, "cannot read model file"),
        ({"model": "missing.pt2"}, "does not exist"),
    ]


class TwoOutputs(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=2)[:, :2]


def test_each_bad_input_gets_one_clear_message_status_2_and_no_output(files, tmp_path, capsys):
    for case, message in bad_inputs(files, tmp_path):
        case = dict(case)
        extra = case.pop("extra", [])
        for key in ("model", "sequences", "targets"):
            if key in case and (tmp_path / case[key]).exists():
                case[key] = str(tmp_path / case[key])
        out = tmp_path / "out"
        status = command(files, out, *extra, **case)
        error = capsys.readouterr().err
        assert status == 2, (case, error)
        assert message in error and error.count("\n") == 1, (case, error)
        assert not out.exists(), case


def test_sequences_with_other_characters_are_skipped_and_counted(files, tmp_path, capsys):
    seqs = (files / "seqs.fa").read_text()
    (tmp_path / "n.fa").write_text(seqs.replace(">s5\n", ">s5\n" + "N" * 100 + "\n>s5_orig\n", 1))
    assert command(files, tmp_path / "out", sequences=str(tmp_path / "n.fa")) == 2  # s5_orig has no target
    capsys.readouterr()
    text = "\n".join(line for line in seqs.splitlines())
    (tmp_path / "n2.fa").write_text(text.replace(">s7\n", ">s7\nNNN", 1) + "\n")
    assert command(files, tmp_path / "out", sequences=str(tmp_path / "n2.fa")) == 0
    printed = capsys.readouterr().out
    assert "skipped 1 sequence(s) with characters other than ACGT (first: 's7')" in printed
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["n_skipped_non_acgt"] == 1


def test_the_scan_window_and_max_gap_bound_the_pairs_of_fasta_input(files, tmp_path, capsys):
    """--scan-window 60 --max-gap 30: every pair lies in the centred 60 bp, at most 30 bases apart,
    and fewer sequences qualify than with the study's defaults (the whole 100 bp, any gap)."""
    assert command(files, tmp_path / "all") == 0
    assert command(files, tmp_path / "out", "--scan-window", "60", "--max-gap", "30") == 0
    capsys.readouterr()
    pairs = pd.read_parquet(tmp_path / "out" / "pairs.parquet")
    widths = {k: v.shape[1] for k, v in motifs.read_motifs(MOTIFS, PAIR).items()}
    a_end, b_end = pairs["a_start"] + widths[PAIR[0]], pairs["b_start"] + widths[PAIR[1]]
    assert (pairs[["a_start", "b_start"]] >= 20).all().all() and (a_end <= 80).all() and (b_end <= 80).all()
    gap = np.where(pairs["a_start"] < pairs["b_start"], pairs["b_start"] - a_end, pairs["a_start"] - b_end)
    assert gap.max() <= 30 and gap.min() >= max(widths.values()) - 1
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["scan_window"] == 60 and summary["max_gap"] == 30
    assert 0 < summary["n_pairs"] < json.loads((tmp_path / "all" / "summary.json").read_text())["n_pairs"]


