"""The scan (lookloss.scan, `lookloss scan`) on known truths, its false-discovery control and its bad input.

Tiny oracles stand in for trained models: a motif is an exact 8-bp consensus (FIMO at
p < 1e-4 calls exactly those), and the rate is a sum of main effects plus, where a test
says so, an interaction confined to one orientation and one spacing window, a spurious
product term, or a quadratic term whose targets make every Δ symmetric about zero.
The genomic route reuses tests/test_genomic.py's synthetic genome, bigWigs and
BPNet-shaped oracles.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from test_genomic import IN, OUT, oracles, truth_signal, world  # noqa: F401  (the genomic fixtures)

from lookloss import cli, io, motifs, scan
from lookloss.scanpairs import find_instances, instance_pairs
from lookloss.transforms import anscombe, inverse_anscombe

#: Motifs with no overlap between any suffix and any prefix of themselves, each other, or their reverse
#: complements, so that planting one never makes another.
CONSENSUS = {"A": "TCGCTAAA", "B": "CACCTTGG", "C": "TCCGGCGG"}
COMPLEMENT = {"A": "T", "C": "G", "G": "C", "T": "A"}
KINDS = {(True, True): "A>B>", (True, False): "B>A>", (False, True): "A><B", (False, False): "<BA>"}
BINS = (0, 20, 50, 100)
FAST = {"trace": False, "batch_size": 1024}  # tiny models: no tracing, big batches


def revcomp(seq: str) -> str:
    return "".join(COMPLEMENT[b] for b in reversed(seq))


def ppm(consensus: str, p: float = 0.94) -> np.ndarray:
    out = np.full((4, len(consensus)), (1 - p) / 3)
    out[["ACGT".index(b) for b in consensus], np.arange(len(consensus))] = p
    return out


PPMS = {m: ppm(c) for m, c in CONSENSUS.items()}


class ScanOracle(torch.nn.Module):
    """``rate = base + main * instances + quadratic * C(instances, 2) + product * c_a * c_b`` plus, per
    window ``(a, b, orientation, lo, hi, gamma)``, gamma for every instance pair of a and b in that
    orientation with centre spacing in ``[lo, hi)`` (on sequences of ``length`` bases); Anscombe output,
    or counts with ``link="identity"``."""

    def __init__(self, base=20.0, main=10.0, quadratic=0.0, products=(), windows=(), link="anscombe", length=160):
        super().__init__()
        self.names = list(CONSENSUS)
        kernels = torch.zeros(2 * len(self.names), 4, 8)
        for i, m in enumerate(self.names):
            for s, seq in enumerate((CONSENSUS[m], revcomp(CONSENSUS[m]))):
                kernels[2 * i + s, ["ACGT".index(b) for b in seq], torch.arange(8)] = 1
        self.register_buffer("kernels", kernels)
        self.base, self.main, self.quadratic, self.link = base, main, quadratic, link
        self.products = [(self.names.index(a), self.names.index(b), gamma) for a, b, gamma in products]
        self.windows = [(self.names.index(a), self.names.index(b), gamma, self.masks(length - 7, orientation, lo, hi))
                        for a, b, orientation, lo, hi, gamma in windows]

    @staticmethod
    def masks(p: int, orientation: str, lo: float, hi: float) -> torch.Tensor:
        """``(2, 2, p, p)``: per strand of A and B (0 +, 1 -), the start pairs (i of A, j of B) in the window."""
        d = torch.arange(p)[None, :] - torch.arange(p)[:, None]
        out = torch.zeros(2, 2, p, p, dtype=torch.float64)
        for ia, sa in ((0, 1), (1, -1)):
            for ib, sb in ((0, 1), (1, -1)):
                for ahead in (True, False):
                    if KINDS[(sa == sb, ahead)] == orientation:
                        out[ia, ib][((d * sa > 0) == ahead) & (d.abs() >= lo) & (d.abs() < hi)] = 1.0
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        match = (torch.nn.functional.conv1d(x.float(), self.kernels) > 7.5).float()  # (N, 2 motifs, positions)
        count = match.sum(dim=2).reshape(-1, len(self.names), 2).sum(dim=2).double()
        total = count.sum(dim=1)
        rate = self.base + self.main * total + self.quadratic * total * (total - 1) / 2
        for a, b, gamma in self.products:
            rate = rate + gamma * count[:, a] * count[:, b]
        for a, b, gamma, masks in self.windows:
            for ia in range(2):
                for ib in range(2):
                    near = match[:, 2 * a + ia].double() @ masks[ia, ib]
                    rate = rate + gamma * (near * match[:, 2 * b + ib].double()).sum(dim=1)
        return anscombe(rate) if self.link == "anscombe" else rate


def plant(n: int, length: int, seed: int, pick, spacing=(16, 100)) -> np.ndarray:
    """``n`` random sequences, each with two planted instances (motifs ``pick(rng)``), random strands,
    centre spacing uniform in ``spacing``, B on a random side."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, size=(n, length)).astype(np.int8)
    for i in range(n):
        a, b = pick(rng)
        while True:
            sa = int(rng.integers(0, length - 8))
            sb = sa + int(rng.integers(*spacing)) * (1 if rng.random() < 0.5 else -1)
            if 0 <= sb <= length - 8:
                break
        for m, s in ((a, sa), (b, sb)):
            seq = CONSENSUS[m] if rng.random() < 0.5 else revcomp(CONSENSUS[m])
            codes[i, s:s + 8] = ["ACGT".index(c) for c in seq]
    return codes


def poisson_targets(model: torch.nn.Module, X: np.ndarray, seed: int) -> np.ndarray:
    with torch.no_grad():
        rate = inverse_anscombe(model(torch.from_numpy(X)).numpy())
    return np.random.default_rng(seed).poisson(rate).astype(np.float64)


@pytest.fixture(scope="module")
def planted() -> np.ndarray:
    """800 sequences of 160 bp, each with an A and a B (and the occasional chance instance)."""
    return motifs.to_onehot(plant(800, 160, 1, lambda rng: ("A", "B")))


WINDOW = ("A", "B", "A>B>", 20, 50, 40.0)  # the one orientation and spacing window that interacts
TARGET = ("A", "B", "A>B>", "[20,50)")


def called(cells: pd.DataFrame) -> set[tuple]:
    rows = cells[cells["call"] == "interaction"]
    return set(zip(rows["motif_a"], rows["motif_b"], rows["orientation"], rows["spacing_bin"], strict=True))


# ----------------------------------------------------------------------------- known truths
def test_an_interaction_in_one_orientation_and_spacing_window_is_called_there_and_in_the_pooled_pair_only(planted):
    truth = ScanOracle(windows=[WINDOW])
    result = scan.run(truth, planted, poisson_targets(truth, planted, 2), PPMS, spacing_bins=BINS, **FAST)
    cells = result.cells
    assert called(cells) == {TARGET, ("A", "B", "all", "all")}
    target = cells.set_index(["motif_a", "motif_b", "orientation", "spacing_bin"]).loc[TARGET]
    assert target["n"] >= 50 and target["mean_I"] == pytest.approx(40.0) and target["median_delta"] > 0
    assert max(target[["p_paired", "p_unpaired", "p_magnitude", "p_randpos"]]) < 1e-6
    others = cells[(cells["n"] >= 30) & (cells["orientation"] != "all")
                   & ~((cells["orientation"] == "A>B>") & (cells["spacing_bin"] == "[20,50)"))]
    assert len(others) >= 6 and (others["mean_abs_I"] == 0).all() and (others["p_paired"] == 1).all()
    # every row of every motif pair and cell is there, the too-small ones untested
    assert len(cells) == 3 * (4 * 3 + 1) + 3 * (3 * 3 + 1)
    few = cells[cells["n"] < 30]
    assert (few["call"] == "too few pairs").all() and few["q"].isna().all() and few["p_paired"].isna().all()
    # BH over the tested rows: q >= p, monotone in p
    tested = cells.dropna(subset=["q"]).sort_values("p_paired")
    assert (tested["q"] >= tested["p_paired"] - 1e-15).all() and tested["q"].is_monotonic_increasing
    s = result.summary
    assert s["spacing"].startswith("centre to centre") and "paired test" in s["family"]
    passes = s["models"][0]["passes"]
    pairs = result.pairs
    assert passes["double_knockouts"] == len(pairs) and passes["originals"] == pairs["name"].nunique()
    assert passes["total"] == 2 * (passes["originals"] + passes["single_knockouts"] + len(pairs)) + 3 * len(pairs)
    assert s["passes"] == passes["total"] < s["passes_pair_by_pair"] == 11 * (len(pairs) + pairs["pooled"].sum())


def test_a_spurious_product_term_fools_the_magnitude_test_but_no_cell_is_called(planted):
    additive = ScanOracle()
    spurious = ScanOracle(products=[("A", "B", 30.0)])
    cells = scan.run(spurious, planted, poisson_targets(additive, planted, 3), PPMS, spacing_bins=BINS,
                     **FAST).cells
    assert called(cells) == set()
    ab = cells[(cells["motif_a"] == "A") & (cells["motif_b"] == "B") & (cells["n"] >= 30)]
    assert len(ab) >= 7 and (ab["p_magnitude"] < 1e-6).all() and np.allclose(ab["mean_I"], 30.0)
    assert (ab["median_delta"] < 0).all() and (ab["p_paired"] > 0.5).all()


def test_with_every_null_true_the_share_of_replicates_with_any_discovery_stays_near_alpha():
    """20 replicates (new sequences, targets and draws each), 3 motifs, every pair planted: a model whose
    interaction helps exactly as often as it hurts (targets half-way between the predictions with and
    without it, plus symmetric noise), so every paired test's null holds. BH's FDR is then its
    family-wise rate: the share of replicates with any discovery must stay near alpha, while the
    uncorrected tests find something in most replicates."""
    model = ScanOracle(base=100.0, quadratic=30.0, link="identity")
    alpha, replicates, any_bh, any_raw, tested = 0.05, 20, 0, 0, []
    for seed in range(replicates):
        X = motifs.to_onehot(plant(700, 140, 100 + seed, lambda rng: tuple(rng.choice(list("ABC"), 2)),
                                   spacing=(16, 100)))
        with torch.no_grad():
            f = model(torch.from_numpy(X)).numpy()
        y = f - 15.0 + np.random.default_rng(seed).normal(0, 5, len(f))
        cells = scan.scan(model, X, y, PPMS, spacing_bins=(0, 100), min_pairs=15, alpha=alpha,
                          link="identity", seed=seed, **FAST)
        rows = cells[cells["n"] >= 15]
        tested.append(len(rows))
        any_bh += bool((rows["q"] < alpha).any())
        any_raw += bool((rows["p_paired"] < alpha).any())
    print(f"null scan: {replicates} replicates, {np.mean(tested):.1f} rows tested each, alpha {alpha}: "
          f"any BH discovery in {any_bh} ({any_bh / replicates:.2f}), any uncorrected p < alpha in {any_raw}")
    assert min(tested) >= 20
    assert any_bh <= 4  # P(>= 5 of 20 | rate 0.05) = 0.003
    assert any_raw >= 10  # the family is large enough for the correction to matter


# ----------------------------------------------------------------------------- pieces
def test_instances_are_fimos_hits_and_pairs_get_their_orientation_spacing_and_gap_rule():
    codes = np.zeros((4, 60), dtype=np.int8)  # all A: no chance hit of these motifs
    layouts = [("A", 5, "+", "B", 25, "+"), ("A", 25, "+", "B", 5, "+"), ("A", 5, "+", "B", 25, "-"),
               ("A", 25, "-", "B", 5, "+")]
    for row, (a, sa, stra, b, sb, strb) in enumerate(layouts):
        for m, s, strand in ((a, sa, stra), (b, sb, strb)):
            seq = CONSENSUS[m] if strand == "+" else revcomp(CONSENSUS[m])
            codes[row, s:s + 8] = ["ACGT".index(c) for c in seq]
    inst = find_instances(motifs.to_onehot(codes), [PPMS["A"], PPMS["B"]], 1e-4, (0, 60))
    assert inst[["locus", "motif", "start", "strand"]].values.tolist() == [
        [0, 0, 5, 1], [0, 1, 25, 1], [1, 1, 5, 1], [1, 0, 25, 1], [2, 0, 5, 1], [2, 1, 25, -1], [3, 1, 5, 1],
        [3, 0, 25, -1]]
    pairs = instance_pairs(inst, np.array([0.0, 20.0, 50.0]))
    # read on A's strand: B downstream (same strand), upstream, downstream on the other strand (convergent),
    # and A on the minus strand with B to its left in the genome: downstream of A, opposite: convergent
    assert [scan.ORIENTATIONS[o] for o in pairs["orientation"]] == ["A>B>", "B>A>", "A><B", "A><B"]
    assert (pairs["spacing"] == 20).all() and (pairs["bin"] == 1).all()
    assert instance_pairs(inst, np.array([0.0, 20.0])).empty  # a spacing of 20 is beyond [0, 20)
    assert len(instance_pairs(inst, np.array([0.0, 50.0]), min_gap=13)) == 0  # 12 bases between them
    # a motif with itself: same strand is one orientation whichever is first
    codes = np.zeros((2, 60), dtype=np.int8)
    for row, strand in enumerate("+-"):
        seq = CONSENSUS["A"] if strand == "+" else revcomp(CONSENSUS["A"])
        codes[row, 5:13] = codes[row, 30:38] = ["ACGT".index(c) for c in seq]
    pairs = instance_pairs(find_instances(motifs.to_onehot(codes), [PPMS["A"]], 1e-4, (0, 60)), np.array([0.0, 50.0]))
    assert [scan.ORIENTATIONS[o] for o in pairs["orientation"]] == ["A>B>", "A>B>"]


def test_no_sequence_is_predicted_twice_and_the_passes_are_counted(planted):
    seen: list[bytes] = []
    model = ScanOracle(windows=[WINDOW])

    def predictor(codes: np.ndarray, rows: np.ndarray) -> np.ndarray:
        seen.extend(r.tobytes() + c.tobytes() for r, c in zip(rows.astype(np.int64), codes, strict=True))
        with torch.no_grad():
            return model(torch.from_numpy(motifs.to_onehot(codes))).numpy()

    result = scan.run(predictor, planted[:200], poisson_targets(model, planted[:200], 2), PPMS, spacing_bins=BINS,
                      min_pairs=5)
    checks = 2  # the model is checked on two sequences first
    assert len(seen) - checks == result.summary["passes"] == len(set(seen[checks:]))


def test_several_models_get_their_own_rows_q_values_and_the_consistency_rule(planted):
    truth, additive = ScanOracle(windows=[WINDOW]), ScanOracle()
    y = poisson_targets(truth, planted, 2)
    halves = [np.arange(len(y)) % 2 == 0, np.arange(len(y)) % 2 == 1]
    result = scan.run([truth, additive], planted, y, PPMS, spacing_bins=BINS, held_out=halves,
                      labels=["truth", "additive"], arch=["one", "two"], min_pairs=20, **FAST)
    cells = result.cells.set_index(["model", "motif_a", "motif_b", "orientation", "spacing_bin"])
    assert cells.loc[("truth", *TARGET), "call"] == "interaction"
    assert cells.loc[("additive", *TARGET), "call"] == "no interaction"
    assert cells.loc[("consensus", *TARGET), "call"] == "inconsistent"  # one architecture supports it
    assert cells.loc[("consensus", *TARGET), "n"] == cells.loc[("truth", *TARGET), "n"] + \
        cells.loc[("additive", *TARGET), "n"]
    assert [m["n_sequences"] for m in result.summary["models"]] == [400, 400]
    same = scan.run([truth, truth], planted, y, PPMS, spacing_bins=BINS, held_out=halves, min_pairs=20,
                    **FAST).cells
    assert called(same[same["model"] == "consensus"]) == {TARGET, ("A", "B", "all", "all")}


def test_lookloss_scan_is_the_function_and_the_module():
    import lookloss

    codes = plant(300, 120, 5, lambda rng: ("A", "B"))
    X = torch.from_numpy(motifs.to_onehot(codes)).float()
    model = ScanOracle(windows=[WINDOW], length=120)
    cells = lookloss.scan(model, X, poisson_targets(model, X.numpy().astype(np.uint8), 1), PPMS,
                          spacing_bins=BINS, batch_size=256, device="cpu")
    assert list(cells.columns) == scan.COLUMNS and cells.attrs["summary"]["n_sequences"] == 300
    assert lookloss.scan.scan is scan.scan and "scan" in lookloss.__all__


# ----------------------------------------------------------------------------- the command
def write_meme(path: Path, records: dict[str, np.ndarray]) -> None:
    text = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", ""]
    for key, matrix in records.items():
        text += [f"MOTIF {key}", f"letter-probability matrix: alength= 4 w= {matrix.shape[1]}"]
        text += [" ".join(f"{p:.6f}" for p in column) for column in matrix.T] + [""]
    path.write_text("\n".join(text))


@pytest.fixture(scope="module")
def fasta_inputs(tmp_path_factory, planted):
    """The planted sequences as FASTA and TSV, the motifs (and two sharing a name) as MEME, the oracle as TorchScript."""
    folder = tmp_path_factory.mktemp("scan")
    truth = ScanOracle(windows=[WINDOW])
    names = [f"s{i}" for i in range(len(planted))]
    codes = motifs.to_codes(planted)
    io.write_fasta(folder / "seqs.fa", [(n, "".join("ACGT"[b] for b in row)) for n, row in zip(names, codes,
                                                                                             strict=True)])
    y = poisson_targets(truth, planted, 2)
    pd.DataFrame({"name": names, "target": y}).to_csv(folder / "targets.tsv", sep="\t", index=False)
    write_meme(folder / "motifs.meme", {"M.A A": PPMS["A"], "M.B B": PPMS["B"], "M.C C": PPMS["C"],
                                        "X.1 Dup": PPMS["A"], "X.2 Dup": PPMS["B"]})
    torch.jit.trace(truth, torch.from_numpy(planted[:2]).float()).save(str(folder / "oracle.ts"))
    return folder, y


def run_fasta(folder: Path, out: Path, *extra: str) -> int:
    return cli.main(["scan", "--model", str(folder / "oracle.ts"), "--sequences", str(folder / "seqs.fa"),
                     "--targets", str(folder / "targets.tsv"), "--motifs", str(folder / "motifs.meme"),
                     "--out", str(out), "--no-trace", "--batch-size", "1024", *extra])


def test_the_command_on_fasta_input_writes_the_table_summary_and_figure(fasta_inputs, planted, tmp_path, capsys):
    folder, y = fasta_inputs
    assert run_fasta(folder, tmp_path / "out", "--motif", "A", "B", "C", "--spacing-bins", "0,20,50,100") == 0
    printed = capsys.readouterr().out
    assert "2 cell(s) called interaction" in printed and "forward passes:" in printed
    table = pd.read_csv(tmp_path / "out" / "scan.tsv", sep="\t")
    assert list(table.columns) == scan.COLUMNS and called(table) == {TARGET, ("A", "B", "all", "all")}
    api = scan.run(ScanOracle(windows=[WINDOW]), planted, y, PPMS, spacing_bins=BINS, **FAST).cells
    np.testing.assert_allclose(table["p_paired"], api["p_paired"], rtol=1e-4)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["n_called"] == 2 and summary["passes"] < summary["passes_pair_by_pair"]
    assert [m["name"] for m in summary["motifs"]] == ["A", "B", "C"]
    pairs = pd.read_parquet(tmp_path / "out" / "pairs.parquet")
    assert len(pairs) == summary["models"][0]["n_pairs_tested"] and pairs["name"].str.startswith("s").all()
    assert (tmp_path / "out" / "scan.png").stat().st_size > 10_000 and not list(tmp_path.glob(".out.*"))


def test_the_command_on_genomic_input_with_two_folds(world, oracles, tmp_path, capsys):  # noqa: F811
    folder = world["folder"]
    (tmp_path / "f0.json").write_text(json.dumps({"test": ["chr1", "chr2"]}))
    (tmp_path / "f1.json").write_text(json.dumps({"test": ["chr2", "chr3"]}))
    status = cli.main(["scan", "--model", str(folder / "oracle.ts"), "--model", str(folder / "oracle.ts"),
                       "--fold", str(tmp_path / "f0.json"), "--fold", str(tmp_path / "f1.json"),
                       "--loci", str(folder / "peaks.narrowPeak"), "--summits", "--genome", str(folder / "genome.fa"),
                       "--signal", *truth_signal(world, "pos"), "--control", str(folder / "control_+.bw"),
                       str(folder / "control_-.bw"), "--in-window", str(IN), "--out-window", str(OUT),
                       "--motifs", str(folder / "motifs.meme"), "--motif", "Gata1", "Tal1", "--output", "1",
                       "--link", "log1p", "--p-value", "1e-3", "--spacing-bins", "0,40,100", "--min-pairs", "10",
                       "--out", str(tmp_path / "out")])
    assert status == 0, capsys.readouterr().err
    table = pd.read_csv(tmp_path / "out" / "scan.tsv", sep="\t")
    assert set(table["model"]) == {"0-oracle", "1-oracle", "consensus"}
    pooled = table[(table["motif_a"] == "Gata1") & (table["motif_b"] == "Tal1") & (table["orientation"] == "all")]
    assert (pooled["n"].iloc[:2] >= 10).all() and (pooled["call"] == "interaction").all(), pooled
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["n_models"] == 2 and summary["test_chroms"] == [["chr1", "chr2"], ["chr2", "chr3"]]
    assert summary["n_skipped_off_chromosome"] == 1 and (tmp_path / "out" / "scan.png").is_file()


def bad_inputs() -> list[tuple[list[str], str]]:
    """Each bad scan input: its arguments and what the one-line message must say."""
    return [
        (["--motif", "A"], "--motif: 1 motif given (['A']); expected at least two"),
        (["--motif", "A", "Nope"], "motif 'Nope' not found in"),
        (["--motif", "Dup", "A"], "motif name 'Dup' is ambiguous"),
        (["--motif", "A", "M.A"], "--motif: ['A', 'M.A'] name the same motif ('M.A A')"),
        (["--spacing-bins", "0,20,10"], "--spacing-bins 0,20,10: expected at least two increasing, non-negative"),
        (["--spacing-bins=-5,10"], "--spacing-bins -5,10: expected at least two increasing, non-negative"),
        (["--spacing-bins", "10"], "--spacing-bins 10: expected at least two increasing"),
        (["--spacing-bins", "0,ten"], "--spacing-bins 0,ten: expected comma-separated numbers"),
        (["--min-pairs", "0"], "--min-pairs 0: expected a whole number of at least 1"),
        (["--max-motifs", "4"], "holds 5 motifs, more than --max-motifs 4; name the ones to scan with --motif"),
        (["--motif", "A", "B", "C", "--max-motifs", "2"], "--motif: 3 motifs named, more than --max-motifs 2"),
        (["--p-value", "0"], "--p-value 0.0: expected a FIMO p-value threshold"),
        (["--motif", "A", "B", "--chroms", "chr1"], "--chroms: only for genomic input"),
    ]


def test_each_bad_input_gets_one_message_naming_the_option_status_2_and_no_output(fasta_inputs, tmp_path, capsys):
    folder, _ = fasta_inputs
    for extra, message in bad_inputs():
        out = tmp_path / "out"
        status = run_fasta(folder, out, *extra)
        error = capsys.readouterr().err
        assert status == 2, (extra, error)
        assert message in error and error.count("\n") == 1, (extra, error)
        assert not out.exists() and not list(tmp_path.glob(".out.*")), extra
