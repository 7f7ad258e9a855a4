"""The loss test on a genomics model: peaks in a BED file, a genome FASTA and bigWig tracks.

`lookloss loss-test --loci BED --genome FASTA --signal BW ...` (docs/genomic.md) runs
the study's test (:func:`lookloss.losstest.loss_test`) where a researcher's data live:
the loci and their windows come from :mod:`lookloss.loci`, the model runs through
:class:`lookloss.head.Head`, and several models (e.g. one per fold) each get their own
four tests, combined by the study's consistency rule
(:func:`lookloss.tables.consistency_table`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from lookloss import devices, io, losstest
from lookloss.head import BATCH, Head, load_model
from lookloss.loci import GenomicError, Windows, check_chromosomes, extract, read_fold, read_loci, read_pair

#: Fraction of one architecture's models that must have a significant paired test.
CONSISTENCY_FRACTION = 0.5


# ----------------------------------------------------------------------------- the command
#: Options of the genomic input alone, with the flag that sets each (for the FASTA route's check).
GENOMIC_ONLY = {"genome": "--genome", "signal": "--signal", "control": "--control", "fold": "--fold",
                "chroms": "--chroms", "summits": "--summits", "in_window": "--in-window",
                "out_window": "--out-window", "arch": "--arch"}


@dataclass(frozen=True)
class Options:
    """What a genomic run is given (``lookloss loss-test --loci``; the scan takes the same), typed.

    The names are those of the command's options (``model`` and ``fold`` repeat: one per
    model); :func:`run` checks them and says which option is wrong.
    """

    model: list[Path]
    loci: Path
    genome: Path | None
    signal: list[Path]
    motifs: Path
    pair: tuple[str, str]
    control: list[Path] | None = None
    summits: bool = False
    chroms: list[str] | None = None
    fold: list[Path] | None = None
    arch: list[str] | None = None
    in_window: int | None = None
    out_window: int | None = None
    scan_window: int | None = None
    max_gap: int | None = None
    min_gap: int | None = None
    output: int | None = None
    task: int | None = None
    rc_average: bool = False
    device: str | None = None
    batch_size: int | None = None
    no_trace: bool = False
    trust_pickle: bool = False
    non_acgt: str = "skip"
    link: str = "anscombe"
    min_logodds: float = 2.0
    alpha: float = 0.05
    seed: int = 0
    strands: str = "both"
    knockout_min_ddg: float = 10.0
    recalibrate: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Options:
        """The options of a parsed ``lookloss loss-test`` command line."""
        names = [f.name for f in fields(cls)]
        return cls(**{name: getattr(args, name) for name in names if hasattr(args, name)})


@dataclass
class Report:
    """What the genomic command writes: the pair table of every model, the summary, one figure per model."""

    pairs: pd.DataFrame
    summary: dict[str, Any]
    figures: dict[str, Any]


@dataclass
class ModelRun:
    """One model to test: its file, how it is named, its architecture label and held-out chromosomes."""

    path: Path
    label: str
    arch: str
    chroms: list[str] | None


def model_runs(args: Options) -> list[ModelRun]:
    """The models to test, each with its held-out chromosomes (``--fold``: one file per model)."""
    paths = list(args.model)
    folds = list(args.fold or [])
    if folds and len(folds) != len(paths):
        raise GenomicError(f"--fold: {len(folds)} fold file(s) for {len(paths)} model(s); expected one per model, "
                           "in the order of --model")
    arch = list(args.arch or ["model"] * len(paths))
    if len(arch) != len(paths):
        raise GenomicError(f"--arch: {len(arch)} label(s) for {len(paths)} model(s); expected one per model")
    labels = [p.stem for p in paths]
    labels = [f"{i}-{s}" for i, s in enumerate(labels)] if len(set(labels)) < len(labels) else labels
    chroms = [read_fold(f) for f in folds] if folds else [list(args.chroms) if args.chroms else None] * len(paths)
    return [ModelRun(p, lab, a, c) for p, lab, a, c in zip(paths, labels, arch, chroms, strict=True)]


def geometry(args: Options) -> tuple[int, int, int]:
    """``(in_window, out_window, scan_window)``, checked: positive (the batch size too), the scan window
    inside the input window."""
    in_window = 2114 if args.in_window is None else args.in_window
    out_window = 1000 if args.out_window is None else args.out_window
    scan = out_window if args.scan_window is None else args.scan_window
    checked = (("--in-window", in_window), ("--out-window", out_window), ("--scan-window", scan),
               ("--batch-size", args.batch_size or BATCH))
    for flag, value in checked:
        if value < 1:
            raise GenomicError(f"{flag} {value}: expected a positive number")
    if scan > in_window:
        raise GenomicError(f"--scan-window {scan} is larger than the input window (--in-window {in_window}); "
                           f"expected at most {in_window}")
    return in_window, out_window, scan


def command(args: argparse.Namespace) -> Report:
    """``lookloss loss-test --loci ...``: :func:`run` with the command line's options."""
    if args.targets is not None or args.sequences is not None:
        raise GenomicError("--targets and --sequences are for FASTA input; with --loci the targets come from "
                           "--signal")
    return run(Options.from_args(args))


def run(args: Options) -> Report:
    """Run the loss test of every model on its held-out loci; raise :class:`GenomicError` on bad input."""
    if args.genome is None or not args.signal:
        raise GenomicError("--loci needs --genome FASTA and --signal BW [BW ...] (the targets' tracks)")
    in_window, out_window, scan = geometry(args)
    ppms, labels = read_pair(args.motifs, list(args.pair))
    runs, models, loci, used, windows = read_inputs(args, in_window, out_window)
    results = []
    for run, model in zip(runs, models, strict=True):
        mask = held_out(windows, run, args.loci)
        sub = windows if mask.all() else windows.subset(mask)
        head = Head(model, str(run.path), args.output, args.task, sub.control_tracks, args.rc_average,
                    args.batch_size or BATCH, progress=True, trace=not args.no_trace, out_window=out_window)
        try:
            result = losstest.loss_test(head, sub.onehot, sub.targets, ppms[0], ppms[1], link=args.link,
                                        min_logodds=args.min_logodds, alpha=args.alpha, seed=args.seed,
                                        names=sub.loci["name"].tolist(), motif_names=labels, scan_window=scan,
                                        max_gap=args.max_gap, min_gap=args.min_gap, strands=args.strands,
                                        knockout_min_ddg=args.knockout_min_ddg, recalibrate=args.recalibrate)
        except GenomicError:
            raise
        except losstest.LossTestError as error:
            raise GenomicError(f"model {str(run.path)!r}: {error}") from None
        results.append((run, sub, result))
    summary = summary_across_models(results, args.alpha)
    summary.update(n_loci=len(loci), n_loci_held_out=len(used), in_window=in_window, out_window=out_window,
                   **{f"n_skipped_{k}": v for k, v in windows.skipped.items()})
    return Report(_pair_table(results), summary, _figures(results))


def read_inputs(args: Any, in_window: int, out_window: int
                ) -> tuple[list[ModelRun], list[torch.nn.Module], pd.DataFrame, pd.DataFrame, Windows]:
    """What every genomic route reads (``loss-test`` and ``scan`` with ``--loci``): the models on their
    device, the loci, those on some model's held-out chromosomes (checked against the genome and the
    tracks), and their windows. ``args`` holds the genomic options (:class:`Options`, or the scan's)."""
    runs = model_runs(args)
    device = device_of(args.device)
    models = [load_model(run.path, args.trust_pickle).to(device) for run in runs]
    loci = read_loci(args.loci, args.summits)
    held = sorted({c for run in runs for c in run.chroms}) if runs[0].chroms is not None else None
    used = loci if held is None else loci[loci["chrom"].isin(held)].reset_index(drop=True)
    if used.empty:
        raise GenomicError(f"no locus of BED file {str(args.loci)!r} lies on the held-out chromosomes {held}; "
                           "expected some (check --chroms or the fold files' 'test' lists)")
    check_chromosomes(used, args.loci, args.genome, [*args.signal, *(args.control or [])])
    windows = extract(used, args.genome, args.signal, args.control, (in_window, out_window), args.non_acgt)
    return runs, models, loci, used, windows


def held_out(windows: Windows, run: ModelRun, bed: Path) -> np.ndarray:
    """Which of ``windows`` the model of ``run`` is tested on (its held-out chromosomes; all without
    them); :class:`GenomicError` when none is."""
    mask = windows.loci["chrom"].isin(run.chroms).to_numpy() if run.chroms is not None else \
        np.ones(len(windows.loci), dtype=bool)
    if not mask.any():
        raise GenomicError(f"model {str(run.path)!r}: no testable locus of {str(bed)!r} on its held-out "
                           f"chromosomes {run.chroms} ({windows.skipped['off_chromosome']} off a chromosome, "
                           f"{windows.skipped['non_acgt']} with other bases than ACGT)")
    return mask


def device_of(name: str | None) -> torch.device:
    """The ``--device`` (default: the CPU), or a one-line error."""
    try:
        return devices.resolve_device(name or "cpu")
    except (RuntimeError, ValueError) as error:
        raise GenomicError(f"--device: {error}") from None


def summary_across_models(results: list[tuple[ModelRun, Windows, losstest.LossTestResult]],
                          alpha: float) -> dict[str, Any]:
    """Every model's summary and the call across them, by the study's consistency rule.

    An architecture (``--arch``; all models one by default) supports an interaction
    when more than :data:`CONSISTENCY_FRACTION` of its models have a significant
    paired test; the call is ``interaction`` when every architecture supports it,
    ``no interaction`` when none does, ``inconsistent`` otherwise. With one model it is
    that model's call. It is ``too few pairs`` when some model's paired test could not
    reach ``alpha`` with the pairs it had (:func:`lookloss.losstest.summarise`) and the
    call would differ had that model been significant.
    """
    from lookloss import tables

    rows = [{"model": run.label, "file": str(run.path), "arch": run.arch, "test_chroms": run.chroms,
             **result.summary} for run, _, result in results]
    table = pd.DataFrame({"control": "-", "padding": "-", "arch": [r["arch"] for r in rows],
                          "p_paired": [r["p_paired"] for r in rows]})
    consistency = tables.consistency_table(table, alpha, CONSISTENCY_FRACTION)
    few = np.array([r["call"] == "too few pairs" for r in rows])
    call = str(consistency["call"].iloc[0])
    if few.any():  # the call stands only if those models' tests could not have changed it
        optimistic = table.assign(p_paired=np.where(few, 0.0, table["p_paired"]))
        if str(tables.consistency_table(optimistic, alpha, CONSISTENCY_FRACTION)["call"].iloc[0]) != call:
            call = "too few pairs"
    first = {k: v for k, v in rows[0].items() if k not in ("model", "file", "arch", "test_chroms")}
    shared = ("motif_a", "motif_b", "link", "alpha", "min_logodds", "seed", "strands", "knockout_min_ddg",
              "scan_window", "max_gap", "min_gap")
    summary = {**(first if len(rows) == 1 else {k: first.get(k) for k in shared}),
               "n_models": len(rows), "n_sig_paired": int(sum(r["p_paired"] < alpha for r in rows)),
               "consistency_fraction": CONSISTENCY_FRACTION,
               "architectures": consistency.drop(columns=["control", "padding", "call"]).to_dict("records"),
               "call": call, "models": rows}
    return io.plain(summary)


def _pair_table(results: list[tuple[ModelRun, Windows, losstest.LossTestResult]]) -> pd.DataFrame:
    """The pair tables of every model, with the model, chromosome and centre of each locus."""
    frames = []
    for run, sub, result in results:
        where = sub.loci.set_index("name")[["chrom", "centre"]]
        where = where[~where.index.duplicated()]
        pairs = result.pairs
        frames.append(pairs.assign(model=run.label, chrom=where.loc[pairs["name"], "chrom"].to_numpy(),
                                   centre=where.loc[pairs["name"], "centre"].to_numpy()))
    table = pd.concat(frames, ignore_index=True)
    return table[["model", "chrom", "centre", *losstest.PAIR_COLUMNS]]


def _figures(results: list[tuple[ModelRun, Windows, losstest.LossTestResult]]) -> dict[str, Any]:
    """``loss.png`` for one model, ``loss-{model}.png`` for each of several."""
    from lookloss import plots

    if len(results) == 1:
        return {"loss.png": plots.loss_test_figure(results[0][2].pairs, results[0][2].summary)}
    return {f"loss-{run.label}.png": plots.loss_test_figure(result.pairs, result.summary)
            for run, _, result in results}


def write(report: Report, out: Path) -> list[Path]:
    """Write ``pairs.parquet``, ``summary.json`` and the figures to ``out``, whole or not at all."""
    writers = {"pairs.parquet": lambda path: io.write_parquet(path, report.pairs),
               "summary.json": lambda path: io.write_json(path, report.summary)}
    for name, figure in report.figures.items():
        writers[name] = lambda path, figure=figure: figure.savefig(path, dpi=150, metadata={"Software": None})
    return io.write_together(out, writers)


def fasta_model(args: argparse.Namespace, model: torch.nn.Module) -> torch.nn.Module | Callable:
    """The FASTA route's model: as it is, or a :class:`Head` when ``--output``, ``--task``, ``--rc-average``,
    ``--device`` or ``--batch-size`` ask for one; genomic-only options are refused."""
    given = [flag for key, flag in GENOMIC_ONLY.items() if getattr(args, key, None) not in (None, False, [])]
    if given:
        raise GenomicError(f"{', '.join(given)}: only for genomic input (--loci BED --genome FASTA --signal BW)")
    if len(args.model) != 1:
        raise GenomicError(f"--model given {len(args.model)} times; FASTA input takes one model (several need --loci)")
    if args.batch_size is not None and args.batch_size < 1:
        raise GenomicError(f"--batch-size {args.batch_size}: expected a positive number of sequences")
    if args.output is None and args.task is None and not args.rc_average and args.device is None \
            and args.batch_size is None:
        return model
    return Head(model.to(device_of(args.device)), str(args.model[0]), args.output, args.task, None,
                args.rc_average, args.batch_size or BATCH, progress=True, trace=not args.no_trace, genomic=False)
