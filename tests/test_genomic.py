"""The loss test on genomic input (lookloss.genomic, `lookloss loss-test --loci`) on known truths.

A synthetic genome holds the smoke simulation's held-out sequences, each the centre of a
locus with random flanks; a bigWig pair (+ and - strands) holds each sequence's count at
its centre, so the target of a locus is its simulated count. Models with known answers
(tests/oracles.py) see the sequences as a BPNet does, and a small bpnet-lite BPNet is
run as its users save it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lookloss import cli, genomic, io, layout, losstest, motifs, simulation
from lookloss.head import Head, load_model
from lookloss.loci import GenomicError, read_loci, read_pair

from oracles import GenomicOracle  # tests/oracles.py

ROOT = Path(__file__).resolve().parents[1]
IN, OUT, BLOCK = 140, 100, 200  # input and output windows; bases per locus in the genome
OFFSET = (IN - OUT) // 2  # where the simulated 100-bp sequence starts in the input window
CHROMS = ["chr1", "chr2", "chr3"]
NAMES = {"GATA_disc1": "MA0035.4 Gata1", "TAL1_known1": "MA0140.3 Tal1"}


def write_meme(path: Path) -> None:
    """The study's two motifs under JASPAR-style IDs and names, and two motifs sharing a name."""
    ppms = motifs.read_motifs(ROOT / "resources" / "motifs.meme", list(NAMES))
    records = [*((NAMES[k], v) for k, v in ppms.items()), ("X.1 Dup", ppms["GATA_disc1"]),
               ("X.2 Dup", ppms["TAL1_known1"])]
    text = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: +", ""]
    for key, ppm in records:
        text += [f"MOTIF {key}", f"letter-probability matrix: alength= 4 w= {ppm.shape[1]}"]
        text += [" ".join(f"{p:.6f}" for p in column) for column in ppm.T] + [""]
    path.write_text("\n".join(text))


@pytest.fixture(scope="module")
def world(tmp_path_factory, simulated):
    """Genome, narrowPeak BED, signal and control bigWigs, motifs, and what was planted where."""
    import figwig

    folder = tmp_path_factory.mktemp("genomic")
    split = simulated["valid"]["test"]
    codes = motifs.to_codes(split[layout.ONEHOT])
    n, per = len(codes), -(-len(codes) // 3)
    length = (per + 2) * BLOCK  # block 0: a locus that runs off; the last block: a locus with an N
    rng = np.random.default_rng(7)
    genome = rng.integers(0, 4, size=(3, length)).astype(np.int8)
    signal = np.zeros((3, 2, length), np.float32)
    control = rng.uniform(0, 3, size=(3, 2, length)).astype(np.float32)
    where = pd.DataFrame({"chrom": np.arange(n) % 3, "centre": BLOCK * (np.arange(n) // 3 + 1) + BLOCK // 2})
    for i, (c, centre) in enumerate(zip(where["chrom"], where["centre"], strict=True)):
        genome[c, centre - 50:centre + 50] = codes[i]
        signal[c, 0, centre] = signal[c, 1, centre + 1] = split[layout.counts_key("pos")][i] / 2
    text = ["".join("ACGT"[b] for b in row) for row in genome]
    text[2] = text[2][:BLOCK].lower() + text[2][BLOCK:]  # soft-masked bases are read as upper case
    n_centre = (per + 1) * BLOCK + BLOCK // 2
    text[1] = text[1][:n_centre] + "N" + text[1][n_centre + 1:]
    io.write_fasta(folder / "genome.fa", list(zip(CHROMS, text, strict=True)))
    sizes = {c: length for c in CHROMS}
    for name, values in (("signal", signal), ("control", control)):
        figwig.write_bigwig([folder / f"{name}_{s}.bw" for s in "+-"], sizes, CHROMS, [0, 0, 0], values)
    figwig.write_bigwig(folder / "partial.bw", {c: length for c in CHROMS[:2]}, CHROMS[:2], [0, 0], signal[:2, 0])
    bed = [(CHROMS[c], centre - 30, centre + 70, f"s{i}", 0, ".", 0, 0, 0, 30)
           for i, (c, centre) in enumerate(zip(where["chrom"], where["centre"], strict=True))]
    bed += [("chr1", 0, 40, "off", 0, ".", 0, 0, 0, 10), ("chr2", n_centre - 30, n_centre + 70, "withN", 0, ".", 0, 0, 0, 30)]
    pd.DataFrame(bed).to_csv(folder / "peaks.narrowPeak", sep="\t", header=False, index=False)
    write_meme(folder / "motifs.meme")
    return {"folder": folder, "codes": codes, "where": where, "genome": genome, "control": control,
            "counts": {c: split[layout.counts_key(c)] for c in ("neg", "pos")}}


def truth_signal(world, control: str) -> list[str]:
    """Signal bigWigs of one control's counts (the fixture's are the 'pos' control's)."""
    import figwig

    folder, where = world["folder"], world["where"]
    if control == "pos":
        return [str(folder / f"signal_{s}.bw") for s in "+-"]
    values = np.zeros((3, 2, world["genome"].shape[1]), np.float32)
    for i, (c, centre) in enumerate(zip(where["chrom"], where["centre"], strict=True)):
        values[c, 0, centre] = values[c, 1, centre + 1] = world["counts"][control][i] / 2
    paths = [folder / f"{control}_{s}.bw" for s in "+-"]
    if not paths[0].exists():
        figwig.write_bigwig(paths, {c: values.shape[-1] for c in CHROMS}, CHROMS, [0, 0, 0], values)
    return [str(p) for p in paths]


@pytest.fixture(scope="module")
def oracles(world, sim):
    """Both truths' oracles as BPNet-shaped TorchScript (profile, log counts), taking control tracks."""
    folder = world["folder"]
    x, ctl = torch.zeros(3, 4, IN, dtype=torch.float64), torch.zeros(3, 2, IN, dtype=torch.float64)
    x[:, 0] = 1
    torch.jit.trace(GenomicOracle(sim, "neg", product=50.0), (x, ctl)).save(str(folder / "spurious.ts"))
    torch.jit.trace(GenomicOracle(sim, "pos"), (x, ctl)).save(str(folder / "oracle.ts"))
    return folder


def run_genomic(world, out, *extra, models=("oracle.ts",), signal=None, pair=("Gata1", "tal1"), loci="peaks.narrowPeak"):
    folder = world["folder"]
    model_args = [a for m in models for a in ("--model", str(folder / m))]
    return cli.main(["loss-test", *model_args, "--loci", str(folder / loci), "--summits",
                     "--genome", str(folder / "genome.fa"), "--signal", *(signal or truth_signal(world, "pos")),
                     "--control", str(folder / "control_+.bw"), str(folder / "control_-.bw"),
                     "--in-window", str(IN), "--out-window", str(OUT), "--motifs", str(folder / "motifs.meme"),
                     "--pair", *pair, "--link", "log1p", "--out", str(out), *extra])


# ----------------------------------------------------------------------------- known truths
@pytest.mark.parametrize(("model", "control", "call"), [("spurious.ts", "neg", "no interaction"),
                                                        ("oracle.ts", "pos", "interaction")])
def test_both_truths_through_the_genomic_route_with_a_tuple_output_model(world, oracles, tmp_path, capsys,
                                                                         model, control, call):
    status = run_genomic(world, tmp_path / "out", "--output", "1", "--recalibrate", models=(model,),
                         signal=truth_signal(world, control))
    assert status == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["call"] == call and summary["n_models"] == 1
    assert summary["recalibrated"]["call"] == call  # the oracles keep their calls when recalibrated
    assert summary["n_skipped_off_chromosome"] == 1 and summary["n_skipped_non_acgt"] == 1
    assert summary["n_sequences"] == len(world["codes"]) and summary["motif_a"] == "Gata1"
    assert summary["strands"] == "both" and summary["knockout_min_ddg"] == 10  # every setting is recorded
    if control == "neg":  # a spurious product term: the magnitude test is fooled, the loss test is not
        assert summary["p_magnitude"] < 1e-6 and summary["mean_abs_I"] > 5
        assert summary["p_paired"] > 0.05 and summary["median_delta"] < 0
    else:
        assert summary["p_paired"] < 1e-6 and summary["mean_I"] > 0
    pairs = pd.read_parquet(tmp_path / "out" / "pairs.parquet")
    assert list(pairs.columns) == ["model", "chrom", "centre", *losstest.PAIR_COLUMNS]
    assert (tmp_path / "out" / "loss.png").is_file() and not list(tmp_path.glob(".out.*"))


def test_the_pairs_are_where_the_simulation_planted_them_and_targets_are_the_signal(world, oracles, simulated,
                                                                                     tmp_path):
    assert run_genomic(world, tmp_path / "out", "--output", "1") == 0
    pairs = pd.read_parquet(tmp_path / "out" / "pairs.parquet")
    index = pairs["name"].str[1:].astype(int).to_numpy()
    np.testing.assert_array_equal(pairs["target"], world["counts"]["pos"][index])
    np.testing.assert_array_equal(pairs["centre"], world["where"]["centre"].to_numpy()[index])
    planted = simulated["valid"]["pairs_test"]
    found = pd.DataFrame({"i": index, "a": pairs["a_start"] - OFFSET, "b": pairs["b_start"] - OFFSET}).merge(
        pd.DataFrame({"i": planted["index"], "g": planted["gata_start"], "t": planted["tal_start"]}), on="i")
    assert len(found) >= 0.95 * len(planted["index"])
    assert ((found["a"] == found["g"]) & (found["b"] == found["t"])).mean() > 0.95


def test_each_model_is_tested_on_its_own_fold_and_the_consistency_rule_combines_them(world, oracles, tmp_path):
    folder = world["folder"]
    (folder / "fold_0.json").write_text(json.dumps({"train": ["chr2"], "valid": ["chr3"], "test": ["chr1"]}))
    (folder / "fold_1.json").write_text(json.dumps({"train": ["chr1"], "valid": ["chr3"], "test": ["chr2", "chr3"]}))
    status = run_genomic(world, tmp_path / "out", "--output", "1", "--fold", str(folder / "fold_0.json"),
                         "--fold", str(folder / "fold_1.json"), models=("oracle.ts", "spurious.ts"))
    assert status == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    pairs = pd.read_parquet(tmp_path / "out" / "pairs.parquet")
    assert set(pairs.loc[pairs["model"] == "oracle", "chrom"]) == {"chr1"}
    assert set(pairs.loc[pairs["model"] == "spurious", "chrom"]) == {"chr2", "chr3"}
    rows = {m["model"]: m for m in summary["models"]}
    assert rows["oracle"]["call"] == "interaction" and rows["oracle"]["test_chroms"] == ["chr1"]
    assert rows["oracle"]["n_pairs"] == (pairs["model"] == "oracle").sum()
    # one of two models significant: not more than half, so the one architecture does not support it
    assert summary["n_sig_paired"] == 1 and summary["call"] == "no interaction"
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"pairs.parquet", "summary.json", "loss-oracle.png",
                                                              "loss-spurious.png"}


def test_the_consistency_rule_across_architectures():
    def result(p):  # "few": a model whose paired test could not reach alpha (p = 1/16 from 4 pairs)
        return None, None, losstest.LossTestResult(pd.DataFrame(), {"p_paired": 1 / 16 if p == "few" else p,
                                                                    "motif_a": "A", "motif_b": "B", "link": "log1p",
                                                                    "alpha": 0.05, "min_logodds": 2, "seed": 0,
                                                                    "call": "too few pairs" if p == "few" else "-"},
                                                   None, None)

    def call(ps, arch):
        runs = [(genomic.ModelRun(Path(f"m{i}"), f"m{i}", a, None), *result(p)[1:]) for i, (p, a) in enumerate(zip(ps, arch))]
        return genomic.summary_across_models(runs, 0.05)["call"]

    assert call([0.01, 0.01, 0.2], ["x"] * 3) == "interaction"  # 2 of 3 > half
    assert call([0.01, 0.2], ["x"] * 2) == "no interaction"  # 1 of 2 is not more than half
    assert call([0.01, 0.01, 0.2, 0.3], ["x", "x", "y", "y"]) == "inconsistent"
    assert call([0.01, 0.01, 0.01, 0.3], ["x", "x", "y", "y"]) == "inconsistent"
    assert call([0.01, 0.01, 0.01, 0.01], ["x", "x", "y", "y"]) == "interaction"
    # a model with too few pairs leaves the call open only when its test could have changed it
    assert call(["few"], ["x"]) == "too few pairs"
    assert call([0.01, 0.01, "few"], ["x"] * 3) == "interaction"  # 2 of 3 either way
    assert call([0.3, 0.2, "few"], ["x"] * 3) == "no interaction"  # at most 1 of 3
    assert call([0.01, 0.2, "few"], ["x"] * 3) == "too few pairs"  # 1 or 2 of 3
    assert call([0.01, 0.01, 0.01, "few"], ["x", "x", "y", "y"]) == "too few pairs"  # inconsistent, or interaction
    assert call([0.01, 0.01, 0.3, "few"], ["x", "x", "y", "y"]) == "inconsistent"  # y: 0 or 1 of 2, never > half


# ----------------------------------------------------------------------------- the pieces
class Echo(torch.nn.Module):
    """Returns (profile, (N, 3) tasks): task k = k + sum of the control tracks + 10 * (G+C content)."""

    def forward(self, x: torch.Tensor, ctl: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        value = ctl.sum(dim=(1, 2)) + 10 * x[:, 1:3].sum(dim=(1, 2))
        return x, torch.stack([value, value + 1, value + 2], dim=1)


def test_the_head_passes_each_rows_controls_unchanged_and_picks_output_and_task():
    rng = np.random.default_rng(0)
    control_tracks = rng.uniform(size=(5, 2, 30)).astype(np.float32)
    codes = rng.integers(0, 4, size=(12, 30)).astype(np.int8)
    rows = rng.integers(0, 5, size=12)
    head = Head(Echo(), "echo", output=1, task=2, control_tracks=control_tracks, batch_size=5)
    expected = control_tracks[rows].astype(np.float64).sum(axis=(1, 2)) + 10 * np.isin(codes, (1, 2)).sum(axis=1) + 2
    np.testing.assert_allclose(head(codes, rows), expected, rtol=1e-6)
    # reverse complement: G+C content is kept, the control_tracks' sum too: the average is the same value
    rc = Head(Echo(), "echo", output=1, task=2, control_tracks=control_tracks, rc_average=True, batch_size=7)
    np.testing.assert_allclose(rc(codes, rows), expected, rtol=1e-6)
    for kwargs, message in (({"output": None}, "choose one with --output"), ({"output": 2}, "--output 2 is out of range"),
                            ({"output": 1, "task": None}, "choose one with --task"),
                            ({"output": 1, "task": 3}, "--task 3 is out of range"),
                            ({"output": 0, "task": 0}, "expected one value per sequence")):
        with pytest.raises(GenomicError, match=message.replace("(", r"\(")):
            Head(Echo(), "echo", control_tracks=control_tracks, **kwargs)(codes, rows)


def test_a_profile_of_another_length_than_the_out_window_is_refused_a_binned_one_is_not():
    head = Head(torch.nn.Identity(), "m", output=1, out_window=100)
    counts = torch.zeros(2, 1)
    for profile in (torch.zeros(2, 2, 100), torch.zeros(2, 2, 50), torch.zeros(2, 100, 2)):  # bins of 2; channels last
        assert head.pick((profile, counts), 2).shape == (2,)
    with pytest.raises(GenomicError, match="covers 80 bases .* give --out-window 80"):
        head.pick((torch.zeros(2, 2, 80), counts), 2)


def test_motifs_by_id_or_name_case_insensitive_and_ambiguous_names(world):
    path = world["folder"] / "motifs.meme"
    ppms, labels = read_pair(path, ["ma0035.4", "TAL1"])
    assert labels == ("MA0035.4", "Tal1")
    np.testing.assert_array_equal(ppms[0], motifs.read_motifs(ROOT / "resources" / "motifs.meme", ["GATA_disc1"])["GATA_disc1"])
    with pytest.raises(GenomicError, match=r"'dup' is ambiguous .* \['X.1 Dup', 'X.2 Dup'\]"):
        read_pair(path, ["dup", "Tal1"])
    assert read_pair(path, ["X.2", "Tal1"])[1] == ("X.2", "Tal1")


def test_scan_window_and_max_gap_bound_the_pairs_and_the_random_windows(sim):
    rng = np.random.default_rng(1)
    a, b = sim.gata, sim.tal
    codes = rng.integers(0, 4, size=(400, 300)).astype(np.int8)
    for row in range(400):  # several instances of each, anywhere
        for k, start in enumerate(rng.choice(np.arange(0, 300 - 16, 16), size=6, replace=False)):
            motif = a if k % 2 else b
            codes[row, start:start + motif.width] = motif.ppm.argmax(axis=0)
    rows, sa, sb, _ = losstest.find_pairs(codes, a, b, 2.0, bounds=(100, 200), max_gap=30)
    assert len(rows) > 20
    gaps = simulation.gap(sa, a.width, sb, b.width)
    assert (sa >= 100).all() and (sa + a.width <= 200).all() and (sb >= 100).all() and (sb + b.width <= 200).all()
    assert (gaps >= simulation.min_gap(a.width, b.width)).all() and (gaps <= 30).all()
    everywhere = losstest.find_pairs(codes, a, b, 2.0)[0]
    assert set(rows) <= set(everywhere) and len(everywhere) > len(rows)
    ra, rb = losstest.random_windows(np.random.default_rng(2), 5000, 300, (a.width, b.width), (100, 200), 30)
    gaps = simulation.gap(ra, a.width, rb, b.width)
    assert ra.min() == 100 and rb.min() == 100 and (ra + a.width).max() == 200 and (rb + b.width).max() == 200
    assert gaps.min() == simulation.min_gap(a.width, b.width) and gaps.max() == 30
    # unbounded, it is the study's own draw
    np.testing.assert_array_equal(losstest.random_windows(np.random.default_rng(3), 50, 100, (10, 16))[0],
                                  simulation.random_windows(np.random.default_rng(3), 50, 100, 10, 16)[0])


def test_loci_are_centred_on_summits_or_midpoints(world):
    bed = world["folder"] / "peaks.narrowPeak"
    summits, middles = read_loci(bed, True), read_loci(bed, False)
    n = len(world["codes"])
    np.testing.assert_array_equal(summits["centre"][:n], world["where"]["centre"])
    np.testing.assert_array_equal(middles["centre"][:n] - summits["centre"][:n], 20)
    assert summits["name"].iloc[0] == "s0" and summits["line"].iloc[0] == 1


def test_a_summit_of_minus_one_is_the_midpoint_and_shared_names_are_told_apart(tmp_path):
    rows = ["chr1\t100\t200\tpeak\t0\t.\t1\t1\t1\t30", "chr1\t300\t400\tpeak\t0\t.\t1\t1\t1\t-1",
            "chr2\t100\t200\tother\t0\t.\t1\t1\t1\t0"]
    (tmp_path / "peaks.narrowPeak").write_text("\n".join(rows) + "\n")
    loci = read_loci(tmp_path / "peaks.narrowPeak", True)
    assert loci["centre"].tolist() == [130, 350, 100]  # narrowPeak's -1: no summit called
    assert loci["name"].tolist() == ["peak (line 1)", "peak (line 2)", "other"]
    (tmp_path / "bad.narrowPeak").write_text(rows[0].replace("\t30", "\t100") + "\n")  # past the end
    with pytest.raises(GenomicError, match="line 1: expected 10 tab-separated columns .* or -1 for none"):
        read_loci(tmp_path / "bad.narrowPeak", True)


# ----------------------------------------------------------------------------- bpnet-lite
@pytest.fixture(scope="module")
def bpnet(world):
    """A small bpnet-lite BPNet saved as its users save it (torch.save), and its count head exported."""
    from bpnetlite.bpnet import BPNet, CountWrapper

    torch.manual_seed(0)
    model = BPNet(n_filters=8, n_layers=2, n_outputs=2, n_control_tracks=2, trimming=(IN - OUT) // 2,
                  verbose=False).eval()
    with torch.no_grad():  # a count head that is not flat (the bases matter), at about e^4 counts
        model.linear.weight.mul_(20)
        model.linear.bias.sub_(20.6)
    folder = world["folder"]
    torch.save(model, folder / "bpnet.torch")
    batch = torch.export.Dim("batch", min=1)
    example = (torch.zeros(2, 4, IN), torch.zeros(2, 2, IN))
    program = torch.export.export(CountWrapper(model), example, dynamic_shapes=({0: batch}, {0: batch}))
    torch.export.save(program, str(folder / "bpnet_counts.pt2"))
    return model


def test_a_bpnet_saved_by_its_users_and_its_exported_count_head_give_the_same_test(world, bpnet, tmp_path):
    assert run_genomic(world, tmp_path / "saved", "--trust-pickle", "--output", "1", models=("bpnet.torch",)) == 0
    assert run_genomic(world, tmp_path / "export", models=("bpnet_counts.pt2",)) == 0
    saved = pd.read_parquet(tmp_path / "saved" / "pairs.parquet")
    exported = pd.read_parquet(tmp_path / "export" / "pairs.parquet")
    assert len(saved) > 100
    pd.testing.assert_frame_equal(saved.drop(columns="model"), exported.drop(columns="model"), rtol=1e-4,
                                  atol=1e-4 * saved["f_ab"].abs().max())  # fused or eager float32 predictions
    # f_ab is the BPNet's own count prediction on the locus, from the genome and control as written
    where, genome, control = world["where"], world["genome"], world["control"]
    index = saved["name"].str[1:].astype(int).to_numpy()
    chrom, centre = where["chrom"].to_numpy()[index], where["centre"].to_numpy()[index]
    windows = np.stack([genome[c, m - IN // 2:m + IN // 2] for c, m in zip(chrom, centre, strict=True)])
    ctl = np.stack([control[c, :, m - IN // 2:m + IN // 2] for c, m in zip(chrom, centre, strict=True)])
    with torch.no_grad():
        direct = bpnet(torch.from_numpy(motifs.to_onehot(windows)).float(), torch.from_numpy(ctl))[1][:, 0]
    np.testing.assert_allclose(saved["f_ab"], np.expm1(direct.double().numpy()), rtol=1e-4)
    assert saved["f_ab"].std() > 0 and saved["interaction"].abs().max() > 0


def test_the_fused_model_gives_the_eager_predictions(world, bpnet):
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 4, size=(50, IN)).astype(np.int8)
    control_tracks = rng.uniform(0, 3, size=(10, 2, IN)).astype(np.float32)
    rows = rng.integers(0, 10, size=50)
    eager = Head(bpnet, "bpnet", output=1, control_tracks=control_tracks, batch_size=16)
    fused = Head(bpnet, "bpnet", output=1, control_tracks=control_tracks, batch_size=16, trace=True)
    np.testing.assert_allclose(fused(codes, rows), eager(codes, rows), rtol=1e-5)
    assert isinstance(fused._runner, torch.jit.ScriptModule)
    # the chosen count head only: the profile head's convolution is dead code, removed by freezing
    kinds = [node.kind() for node in fused._runner.graph.nodes()]
    assert kinds.count("aten::_convolution") == 1 + len(bpnet.rconvs)  # iconv and the dilated layers
    exported = load_model(world["folder"] / "bpnet_counts.pt2")
    head = Head(exported, "pt2", control_tracks=control_tracks, batch_size=16, trace=True)
    head(codes[:2], rows[:2])  # traced on a batch padded to 16 sequences, as every batch is
    np.testing.assert_allclose(head(codes, rows), eager(codes, rows), rtol=1e-5)
    for trace in (False, True):  # a model of control tracks given none: the message says what it was given
        with pytest.raises(GenomicError, match=r"'bpnet' fails on one-hot sequences of shape \(batch, 4, "
                           rf"{IN}\) and no control tracks \(a model trained with them needs --control"):
            Head(bpnet, "bpnet", output=1, batch_size=16, trace=trace)(codes[:2], rows[:2])


# ----------------------------------------------------------------------------- bad input
def bad_inputs(world, folder: Path):
    """Each bad genomic input: (extra arguments, keywords, what the one-line message must say)."""
    base = world["folder"]
    lines = (base / "peaks.narrowPeak").read_text().splitlines()
    (folder / "chrx.bed").write_text("\n".join(lines[:3] + ["chrX\t100\t200\tx\t0\t.\t0\t0\t0\t50"]) + "\n")
    (folder / "nofold.json").write_text(json.dumps({"train": ["chr1"], "valid": ["chr2"]}))
    (folder / "fold.json").write_text(json.dumps({"test": ["chr3"]}))
    return [
        ([], {"loci": str(folder / "chrx.bed")}, "line 4: chromosome 'chrX' is not in the genome"),
        ([], {"signal": [str(base / "partial.bw")]}, "chromosome 'chr3' is not in the bigWig"),
        (["--output", "2"], {}, "--output 2 is out of range"),
        (["--output", "1", "--task", "1"], {}, "--task 1 is out of range"),
        ([], {}, "choose one with --output"),
        (["--output", "1", "--scan-window", "141"], {}, "larger than the input window"),
        (["--output", "1", "--fold", str(folder / "nofold.json")], {}, "has no 'test' list"),
        (["--output", "1", "--fold", str(folder / "fold.json"), "--fold", str(folder / "fold.json")], {},
         "2 fold file(s) for 1 model(s)"),
        (["--output", "1"], {"pair": ("dup", "Tal1")}, "is ambiguous"),
        (["--output", "1"], {"models": ("bpnet.torch",)}, "pass --trust-pickle"),
        (["--output", "1", "--chroms", "chr9"], {}, "no locus of BED file"),
        (["--output", "1", "--max-gap", "3"], {}, "below the gap rule's minimum"),
        (["--output", "1", "--non-acgt", "fail"], {}, f"(withN): its {IN}-base window of"),
        (["--output", "1", "--out-window", str(OUT - 20)], {},
         f"1)]) but the targets sum over --out-window {OUT - 20}; give --out-window {OUT}"),
    ]


def test_each_bad_genomic_input_gets_one_clear_message_status_2_and_no_output(world, oracles, bpnet, tmp_path,
                                                                              capsys):
    for extra, keywords, message in bad_inputs(world, tmp_path):
        out = tmp_path / "out"
        status = run_genomic(world, out, *extra, **keywords)
        error = capsys.readouterr().err
        assert status == 2, (extra, keywords, error)
        assert message in error and error.count("\n") == 1, (extra, keywords, error)
        assert not out.exists() and not list(tmp_path.glob(".out.*")), (extra, keywords)


def test_the_fasta_route_refuses_genomic_options_and_takes_motif_names(world, oracles, tmp_path, capsys):
    folder = world["folder"]
    io.write_fasta(tmp_path / "s.fa", [("a", "ACGT" * 25)])
    (tmp_path / "t.tsv").write_text("name\ttarget\na\t1\n")
    common = ["loss-test", "--model", str(folder / "oracle.ts"), "--sequences", str(tmp_path / "s.fa"), "--targets",
              str(tmp_path / "t.tsv"), "--motifs", str(folder / "motifs.meme"), "--out", str(tmp_path / "out")]
    assert cli.main([*common, "--pair", "Gata1", "Tal1", "--summits"]) == 2
    assert "--summits: only for genomic input" in capsys.readouterr().err
    assert cli.main([*common, "--pair", "Gata1", "Nope"]) == 2
    assert "motif 'Nope' not found in" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_genomic_input_needs_its_files_and_a_usable_device(world, oracles, tmp_path, capsys):
    folder = world["folder"]
    base = ["loss-test", "--model", str(folder / "oracle.ts"), "--loci", str(folder / "peaks.narrowPeak"),
            "--motifs", str(folder / "motifs.meme"), "--pair", "Gata1", "Tal1", "--out", str(tmp_path / "out")]
    assert cli.main([*base, "--signal", *truth_signal(world, "pos")]) == 2
    assert "--loci needs --genome FASTA and --signal" in capsys.readouterr().err
    assert cli.main([*base, "--genome", str(folder / "genome.fa"), "--signal", str(tmp_path / "missing.bw")]) == 2
    assert "bigWig file" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert run_genomic(world, tmp_path / "out", "--output", "1", "--device", "cuda") == 2
        assert "--device: device 'cuda' requested but CUDA is not available" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_run_takes_typed_options_as_the_command_line_gives_them(world, oracles, tmp_path):
    """genomic.run(Options(...)) from Python is the command's run: the same summary."""
    folder = world["folder"]
    assert run_genomic(world, tmp_path / "cli", "--output", "1") == 0
    options = genomic.Options(model=[folder / "oracle.ts"], loci=folder / "peaks.narrowPeak", summits=True,
                              genome=folder / "genome.fa", signal=[Path(p) for p in truth_signal(world, "pos")],
                              control=[folder / "control_+.bw", folder / "control_-.bw"], in_window=IN,
                              out_window=OUT, motifs=folder / "motifs.meme", pair=("Gata1", "tal1"), link="log1p",
                              output=1)
    report = genomic.run(options)
    from_cli = json.loads((tmp_path / "cli" / "summary.json").read_text())
    assert report.summary["p_paired"] == from_cli["p_paired"] and report.summary["call"] == from_cli["call"]
    assert len(report.pairs) == from_cli["n_pairs"]
