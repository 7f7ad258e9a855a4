"""``lookloss scan``: the scan (:mod:`lookloss.scan`) on FASTA and TSV input or on genomic input (docs/scan.md).

The inputs are ``lookloss loss-test``'s (:mod:`lookloss.genomic` for ``--loci``); instead of
``--pair`` the command takes ``--motifs MEME`` with ``--motif NAME ...`` (or every motif of
the file up to ``--max-motifs``), ``--spacing-bins``, ``--min-pairs`` and ``--p-value``. It
writes ``scan.tsv``, ``pairs.parquet``, ``summary.json`` and ``scan.png`` to ``--out``, whole
or not at all. Heavy modules are imported when the command runs, so that ``lookloss --help``
stays fast.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The default ``--spacing-bins``, as written on the command line.
BINS = "0,10,20,50,100,200,500"


@dataclass
class Report:
    """What the command writes: the cell table, the pair table, the summary and the figure."""

    cells: Any
    pairs: Any
    summary: dict[str, Any]
    figure: Any


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The ``scan`` subcommand and its arguments (the dispatch is the caller's ``set_defaults``)."""
    scan = commands.add_parser(
        "scan", allow_abbrev=False, help="the loss test of every motif pair, orientation and spacing, with FDR control",
        description="Every unordered pair of the chosen motifs (a motif with itself included), split by relative "
        "orientation and spacing (centre to centre), gets the study's four tests; Benjamini-Hochberg q-values "
        "over every cell tested per model; a cell with fewer than --min-pairs pairs is 'too few pairs'. Each "
        "sequence, knock-out and null is predicted once. docs/scan.md.")
    scan.add_argument("--model", required=True, type=Path, action="append",
                      help="as for loss-test: TorchScript, torch.export (.pt2), lookloss checkpoint, or (with "
                      "--trust-pickle) a torch.save module; repeat it for several models (--loci)")
    scan.add_argument("--sequences", type=Path, help="FASTA, every sequence of one length (or use --loci)")
    scan.add_argument("--targets", type=Path, help="TSV with columns 'name' and 'target' (observed counts)")
    genomic = scan.add_argument_group("genomic input (instead of --sequences/--targets; docs/genomic.md)")
    genomic.add_argument("--loci", type=Path, help="BED file of loci (e.g. peaks); windows centred on each")
    genomic.add_argument("--genome", type=Path, help="genome FASTA (indexed by pyfaidx)")
    genomic.add_argument("--signal", type=Path, nargs="+", help="bigWig track(s); target = their sum over the "
                         "centred output window")
    genomic.add_argument("--control", type=Path, nargs="+", help="control bigWig track(s), the model's second input")
    genomic.add_argument("--in-window", type=int, help="bases the model sees (2114)")
    genomic.add_argument("--out-window", type=int, help="bases the target sums over (1000)")
    genomic.add_argument("--summits", action="store_true", help="centre on start + BED column 10 (narrowPeak)")
    held = genomic.add_mutually_exclusive_group()
    held.add_argument("--chroms", nargs="+", help="test only loci on these chromosomes")
    held.add_argument("--fold", type=Path, action="append",
                      help="ChromBPNet splits JSON: test on its 'test' chromosomes; one per --model, in order")
    genomic.add_argument("--arch", nargs="+", help="an architecture label per model, for the consistency rule")
    head = scan.add_argument_group("model outputs and running")
    head.add_argument("--output", type=int, help="element of a tuple output (a BPNet's log counts: 1)")
    head.add_argument("--task", type=int, help="column of an (N, tasks) output")
    head.add_argument("--rc-average", action="store_true", help="average with the reverse complement's prediction")
    head.add_argument("--device", help="cpu (default), cuda, cuda:K or auto")
    head.add_argument("--batch-size", type=int, help="sequences per forward pass (64)")
    head.add_argument("--no-fuse", action="store_true", dest="no_trace", help=argparse.SUPPRESS)  # its old name
    head.add_argument("--no-trace", action="store_true", help="run the model eagerly (default on the CPU: traced, "
                      "frozen and fused by oneDNN where that gives the same answer)")
    head.add_argument("--trust-pickle", action="store_true",
                      help="accept a pickled torch.save module: loading it runs code from the file")
    scan.add_argument("--non-acgt", choices=["skip", "fail"], default="skip",
                      help="sequences (or windows) with other characters: leave them out (skip) or stop (fail)")
    scan.add_argument("--out", required=True, type=Path,
                      help="folder for scan.tsv, pairs.parquet, summary.json, scan.png")
    grid = scan.add_argument_group("the motifs, the cells and the tests")
    grid.add_argument("--motifs", required=True, type=Path, help="MEME motif file")
    grid.add_argument("--motif", nargs="+", metavar="NAME",
                      help="the motifs to scan, each by ID or name (case-insensitive); default every motif of the "
                      "file, up to --max-motifs")
    grid.add_argument("--max-motifs", type=int, default=25,
                      help="most motifs scanned (25): the pairs, and the cells, grow as its square")
    grid.add_argument("--spacing-bins", default=BINS,
                      help=f"edges of the spacing bins in bases, CENTRE TO CENTRE (|centre_B - centre_A|, centre = "
                      f"start + width / 2), bins [lo, hi); pairs beyond the last edge are left out ({BINS})")
    grid.add_argument("--min-pairs", type=int, default=30,
                      help="fewest pairs (one per sequence) for a cell to be tested; smaller: 'too few pairs' (30)")
    grid.add_argument("--p-value", type=float, default=1e-4,
                      help="FIMO p-value threshold for a motif instance (memelite; 1e-4)")
    grid.add_argument("--link", default="anscombe", choices=["anscombe", "log1p", "identity"],
                      help="the model's output space, as for loss-test")
    grid.add_argument("--strands", choices=["both", "forward"], default="both",
                      help="scan both strands (four orientations) or the forward one only")
    grid.add_argument("--knockout-min-ddg", type=float, default=10.0,
                      help="a knock-out's random bases must score ΔΔG above this against the motif (10)")
    grid.add_argument("--scan-window", type=int, help="instances and random windows lie in the centred N bases "
                      "(genomic default: the output window; FASTA default: the whole sequence)")
    grid.add_argument("--min-gap", type=int, help="at least this many bases between two instances (default: the "
                      "study's rule, the wider motif's width minus one)")
    grid.add_argument("--alpha", type=float, default=0.05, help="a cell is called where its q-value is below (0.05)")
    grid.add_argument("--seed", type=int, default=0, help="seeds the knock-outs and the nulls (0)")
    return scan


def command(args: argparse.Namespace) -> Report:
    """Run the scan the command line asks for; raise :class:`lookloss.losstest.LossTestError` on bad input,
    before anything is written."""
    from lookloss import scan

    edges = scan.check_settings(scan.parse_bins(args.spacing_bins), args.min_pairs, args.alpha, args.p_value)
    if args.max_motifs < 2:
        raise scan.ScanError(f"--max-motifs {args.max_motifs}: expected at least 2")
    ppms = scan.read_motifs(args.motifs, args.motif, args.max_motifs)
    settings = {"spacing_bins": edges, "min_pairs": args.min_pairs, "alpha": args.alpha, "p_value": args.p_value,
                "link": args.link, "strands": args.strands, "min_gap": args.min_gap,
                "knockout_min_ddg": args.knockout_min_ddg, "seed": args.seed, "max_motifs": args.max_motifs,
                "progress": True}
    result, extra = (_genomic if args.loci is not None else _fasta)(args, ppms, settings)
    from lookloss import io, scanfigure

    summary = io.plain({**result.summary, **extra})
    return Report(result.cells, result.pairs, summary, scanfigure.figure(result.cells, summary))


def _fasta(args: argparse.Namespace, ppms: dict, settings: dict) -> tuple[Any, dict]:
    """FASTA and TSV input: one model on every sequence."""
    import numpy as np

    from lookloss import genomic, motifs, scan
    from lookloss.head import BATCH, load_model
    from lookloss.loci import read_sequences, read_targets

    if args.sequences is None or args.targets is None:
        raise scan.ScanError("give --sequences FASTA and --targets TSV, or genomic input: --loci BED --genome FASTA "
                             "--signal BW")
    names, seqs, skipped = read_sequences(args.sequences, args.non_acgt)
    targets = read_targets(args.targets, names, skipped)
    model = genomic.fasta_model(args, load_model(args.model[0], args.trust_pickle))
    codes = np.frombuffer("".join(seqs).encode(), dtype=np.uint8).reshape(len(seqs), -1)
    onehot = motifs.to_onehot(np.searchsorted(np.frombuffer(b"ACGT", dtype=np.uint8), codes).astype(np.int8))
    result = scan.run(model, onehot, np.asarray(targets), ppms, names=names, labels=[args.model[0].stem],
                      scan_window=args.scan_window, batch_size=args.batch_size or BATCH, trace=not args.no_trace,
                      **settings)
    return result, {"n_skipped_non_acgt": len(skipped), "files": [str(args.model[0])]}


def _genomic(args: argparse.Namespace, ppms: dict, settings: dict) -> tuple[Any, dict]:
    """Genomic input: every model on its held-out loci (:mod:`lookloss.genomic`'s reading of the inputs)."""
    from lookloss import genomic, scan
    from lookloss.head import BATCH, Head
    from lookloss.loci import GenomicError

    if args.targets is not None or args.sequences is not None:
        raise GenomicError("--targets and --sequences are for FASTA input; with --loci the targets come from --signal")
    if args.genome is None or not args.signal:
        raise GenomicError("--loci needs --genome FASTA and --signal BW [BW ...] (the targets' tracks)")
    in_window, out_window, window = genomic.geometry(args)
    runs, models, loci, used, windows = genomic.read_inputs(args, in_window, out_window)
    masks = [genomic.held_out(windows, run, args.loci) for run in runs]
    heads = [Head(model, str(run.path), output=args.output, task=args.task, control_tracks=windows.control_tracks,
                  rc_average=args.rc_average, batch_size=args.batch_size or BATCH, trace=not args.no_trace,
                  out_window=out_window)
             for run, model in zip(runs, models, strict=True)]
    result = scan.run(heads, windows.onehot, windows.targets, ppms, held_out=masks, labels=[r.label for r in runs],
                      arch=[r.arch for r in runs], names=windows.loci["name"].tolist(), scan_window=window, **settings)
    extra = {"n_loci": len(loci), "n_loci_held_out": len(used), "in_window": in_window, "out_window": out_window,
             "files": [str(r.path) for r in runs], "test_chroms": [r.chroms for r in runs],
             **{f"n_skipped_{k}": v for k, v in windows.skipped.items()}}
    return result, extra


def write(report: Report, out: Path) -> list[Path]:
    """``scan.tsv``, ``pairs.parquet``, ``summary.json`` and ``scan.png`` into ``out``, whole or not at all."""
    from lookloss import io

    return io.write_together(out, {
        "scan.tsv": lambda path: io.write_tsv(path, report.cells),
        "pairs.parquet": lambda path: io.write_parquet(path, report.pairs),
        "summary.json": lambda path: io.write_json(path, report.summary),
        "scan.png": lambda path: report.figure.savefig(path, dpi=150, metadata={"Software": None})})


def describe(report: Report) -> str:
    """What the command prints: the cells called and the forward passes."""
    s = report.summary
    tested = sum(m["n_rows_tested"] for m in s["models"])
    few = sum(m["n_rows_too_few"] for m in s["models"])
    head = (f"{s['n_called']} cell(s) called interaction at q < {s['alpha']:g} (BH over each model's tested rows; "
            f"{tested} tested, {few} with too few pairs)")
    lines = [head]
    lines += [f"  {c['motif_a']} · {c['motif_b']}  {c['orientation']:>5}  {c['spacing_bin']:>10}  n={c['n']}"
              + (f"  q={c['q']:.3g}" if c.get("q") == c.get("q") and c.get("q") is not None else "")
              for c in s["called"]]
    lines.append(f"forward passes: {s['passes']:,} (a pair-by-pair run: {s['passes_pair_by_pair']:,}); "
                 f"{s['seconds']:.1f} s")
    return "\n".join(lines)
