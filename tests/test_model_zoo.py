"""Any model that runs, runs: the zoo of tests/zoo.py through both routes, fused and not.

Each valid model gives the same call and p-values traced as with ``--no-trace`` (p-values to
the precision stated in docs/genomic.md), or a clear one-line error with exit status 2 on
both; never a traceback, never a silently different answer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import zoo  # tests/zoo.py
from lookloss import config as cfg
from lookloss import genomesim, io, motifs
from lookloss.head import Head
from lookloss.loci import extract, read_loci

ROOT = Path(__file__).resolve().parents[1]
#: What each zoo model gets, by route: ok, or exit 2 with the message saying this.
EXPECTED = {
    ("bpnet-controls", "fasta"): "needs genomic input: --loci with --control",  # the FASTA route has none
    ("tuple-output", "fasta"): "fails on one-hot sequences",
    ("list-output", "fasta"): "fails on one-hot sequences",
    ("dict-output", "fasta"): "fails on one-hot sequences",
    ("dict-output", "genomic"): "returns a dict with keys ['profile', 'counts']",
}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    """A small simulated genome (tests/test_genomesim.py's), its peaks as FASTA and targets too."""
    folder = tmp_path_factory.mktemp("zoo")
    config = cfg.check(cfg.read_files([ROOT / "config.yaml", ROOT / "presets" / "genome.yaml",
                                       ROOT / "presets" / "genome-smoke.yaml"]), base_dir=ROOT)
    genomesim.write(genomesim.simulate(config, ROOT), folder)
    loci = read_loci(folder / "peaks.narrowPeak", summits=True)
    loci = loci[loci["chrom"] == "chr1"].reset_index(drop=True)
    signal = [folder / "signal" / f"additive_{s}.bw" for s in ("plus", "minus")]
    windows = extract(loci, folder / "genome.fa", signal, None, (zoo.IN, zoo.OUT))
    names = windows.loci["name"].tolist()
    codes = motifs.to_codes(windows.onehot)
    io.write_fasta(folder / "peaks.fa", [(n, "".join("ACGT"[c] for c in row)) for n, row in zip(names, codes, strict=True)])
    io.write_tsv(folder / "targets.tsv", pd.DataFrame({"name": names, "target": windows.targets}))
    ppms = motifs.read_motifs(folder / "motifs.meme", ["GATA_disc1", "TAL1_known1"])
    models = zoo.build(folder, ppms["GATA_disc1"], ppms["TAL1_known1"])
    return {"folder": folder, "models": models, "peaks": folder / "peaks.narrowPeak", "genome": folder / "genome.fa",
            "signal": signal, "control": [folder / f"control_{s}.bw" for s in ("plus", "minus")],
            "motifs": folder / "motifs.meme", "fasta": folder / "peaks.fa", "targets": folder / "targets.tsv"}


NAMES = ["python-pickled", "scripted-branch", "traced", "export-dynamic", "export-static-64", "pickled-data-dependent",
         "bpnet-controls", "bpnet-no-controls", "chrombpnet", "multi-task", "tuple-output", "list-output",
         "dict-output", "float64", "bfloat16"]


@pytest.mark.slow
@pytest.mark.parametrize("route", ["genomic", "fasta"])
@pytest.mark.parametrize("name", NAMES)
def test_a_valid_model_gives_the_same_answer_fused_and_not_or_a_clear_error(data, tmp_path, name, route):
    entry = data["models"][name]
    fused = zoo.run(entry, route, True, data, tmp_path / "fused")
    plain = zoo.run(entry, route, False, data, tmp_path / "plain")
    expected = EXPECTED.get((name, route))
    for outcome in (fused, plain):
        if expected is None:
            assert outcome["status"] == 0, outcome["stderr"]
        else:
            assert outcome["status"] == 2, outcome["stderr"]
            assert expected in outcome["stderr"] and "Traceback" not in outcome["stderr"]
            assert not (tmp_path / "fused").exists() and not (tmp_path / "plain").exists()  # nothing written
    if expected is not None:
        return
    a, b = fused["summary"], plain["summary"]
    assert a["call"] == b["call"] and a["n_pairs"] == b["n_pairs"]
    for key in ("p_paired", "p_unpaired", "p_randpos", "p_magnitude"):
        assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-12), key
    if name in ("python-pickled", "scripted-branch", "traced", "export-dynamic", "export-static-64",
                "pickled-data-dependent", "multi-task", "float64", "bfloat16", "tuple-output", "list-output"):
        assert a["call"] == "interaction" and a["mean_I"] > 0  # the core's product term, found
    if name == "bfloat16":
        assert "running it in float32" in fused["stderr"]


@pytest.mark.slow
@pytest.mark.parametrize("batch_size", ["1", "7", "64"])
@pytest.mark.parametrize("name", ["bpnet-controls", "tuple-output"])
def test_the_p_values_do_not_move_with_the_batch_size(data, tmp_path, batch_size, name):
    """Float32 models with control tracks, a random BPNet and one with a real interaction: every
    batch size and fusion give the same pairs with zero Δ, and p-values to 1e-6 relative (the
    reference: batch size 64, fused)."""
    entry = data["models"][name]
    reference = zoo.run({**entry, "extra": [*entry["extra"], "--batch-size", "64"]}, "genomic", True, data,
                        tmp_path / "reference")["summary"]
    for trace in (True, False):
        got = zoo.run({**entry, "extra": [*entry["extra"], "--batch-size", batch_size]}, "genomic", trace, data,
                      tmp_path / f"{trace}")
        assert got["status"] == 0, got["stderr"]
        summary = got["summary"]
        assert summary["n_pairs"] == reference["n_pairs"]
        for key in ("p_paired", "p_unpaired", "p_randpos", "p_magnitude"):
            assert summary[key] == pytest.approx(reference[key], rel=1e-6, abs=1e-12), (key, trace)
        pairs = pd.read_parquet(tmp_path / f"{trace}" / "pairs.parquet")
        ref_pairs = pd.read_parquet(tmp_path / "reference" / "pairs.parquet")
        np.testing.assert_array_equal(pairs["delta"] == 0, ref_pairs["delta"] == 0)


def test_non_finite_predictions_stop_the_run_naming_the_link(data, tmp_path, capsys):
    """A count-scale model read as log1p overflows: exit 2, nothing written."""
    from lookloss import cli

    entry = data["models"]["python-pickled"]
    status = cli.main(["loss-test", "--model", str(entry["path"]), "--trust-pickle", "--sequences", str(data["fasta"]),
                       "--targets", str(data["targets"]), "--motifs", str(data["motifs"]), "--pair", "GATA_disc1",
                       "TAL1_known1", "--link", "log1p", "--out", str(tmp_path / "out")])
    assert status == 0  # log counts read as log1p: fine
    torch.save(zoo.CountScale(torch.load(entry["path"], weights_only=False).core), tmp_path / "counts.pt")
    status = cli.main(["loss-test", "--model", str(tmp_path / "counts.pt"), "--trust-pickle", "--sequences",
                       str(data["fasta"]), "--targets", str(data["targets"]), "--motifs", str(data["motifs"]),
                       "--pair", "GATA_disc1", "TAL1_known1", "--link", "log1p", "--out", str(tmp_path / "bad")])
    assert status == 2
    err = capsys.readouterr().err
    assert "non-finite" in err and "--link log1p" in err
    assert not (tmp_path / "bad").exists()


def test_a_fused_model_that_fails_later_falls_back_for_the_rest_of_the_run_and_says_so_once(data, capsys):
    model = torch.load(data["models"]["python-pickled"]["path"], weights_only=False)
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, size=(40, zoo.IN)).astype(np.int8)
    plain = Head(model, "m", batch_size=8, genomic=False)(codes, np.arange(40))
    head = Head(model, "m", batch_size=8, trace=True, genomic=False)
    head(codes[:8], np.arange(8))
    assert isinstance(head._runner, torch.jit.ScriptModule)  # traced and fused

    calls = {"n": 0}

    def flaky(*inputs):
        calls["n"] += 1
        raise RuntimeError("oneDNN says no")

    head._runner = flaky
    got = head(codes, np.arange(40))
    np.testing.assert_allclose(got, plain, rtol=1e-5)
    assert calls["n"] == 1 and not torch.jit.onednn_fusion_enabled()  # never again, fusion off
    err = capsys.readouterr().err
    assert err.count("failed (oneDNN says no); running the model as it is for the rest of the run") == 1


def test_messages_name_the_option_that_fixes_them(data, tmp_path, capsys):
    from lookloss import cli

    fasta = ["--sequences", str(data["fasta"]), "--targets", str(data["targets"]), "--motifs", str(data["motifs"]),
             "--pair", "GATA_disc1", "TAL1_known1", "--link", "log1p"]

    class Tupled(torch.nn.Module):  # a tuple output, given to the FASTA route without --output
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            y = self.inner(x)
            return y, y

    tupled = torch.jit.trace(Tupled(torch.load(data["models"]["python-pickled"]["path"], weights_only=False)),
                             torch.zeros(2, 4, zoo.IN))
    tupled.save(str(tmp_path / "tupled.pt"))
    assert cli.main(["loss-test", "--model", str(tmp_path / "tupled.pt"), *fasta, "--out", str(tmp_path / "a")]) == 2
    assert "choose the count output with --output INDEX" in capsys.readouterr().err
    # an export for 64 sequences at a time, given batches of 7: the message names the dynamic batch
    static = data["models"]["export-static-64"]["path"]
    assert cli.main(["loss-test", "--model", str(static), *fasta, "--batch-size", "7", "--no-trace",
                     "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "export it with a dynamic batch" in err and "--batch-size the size it was exported with; now 7" in err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
