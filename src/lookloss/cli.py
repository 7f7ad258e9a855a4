"""The ``lookloss`` command.

Subcommands:

- ``lookloss loss-test``: the study's loss test on your own model and data
  (:func:`lookloss.losstest.loss_test`): FASTA sequences, a TSV of their counts, a
  MEME motif file and a model file; writes ``pairs.parquet``, ``summary.json`` and
  ``loss.png`` to ``--out`` and prints the summary. With ``--loci``, genomic input
  instead: a BED file, a genome FASTA and bigWig tracks, BPNet-style models, several
  folds (:mod:`lookloss.genomic`, docs/genomic.md).
- ``lookloss scan``: the loss test of every pair of a set of motifs, by orientation and
  spacing, with Benjamini-Hochberg q-values (:mod:`lookloss.scan`, docs/scan.md); the same
  inputs as ``loss-test``.
- ``lookloss export``: a lookloss checkpoint as a ``torch.export`` program (``.pt2``).
- ``lookloss fasta``: the sequences and counts of a simulated split as FASTA and TSV.
- ``lookloss scales``: the scale of each exponent that gives a control the additive
  control's mean rate (:func:`lookloss.simulation.equal_mean_scales`), for a sweep.
- ``lookloss publish``: copy a finished run's models, tables and figures to a published
  folder with a manifest (:func:`lookloss.checkpoints.publish`), for
  ``models.checkpoints``.
- ``lookloss grow``: train the models a published folder lacks and publish each one as
  it is finished (:func:`lookloss.grow.grow`): a run that grows across sessions.
- ``lookloss reading``: the study's table for the models a published folder holds so
  far, beside the paper's numbers (:mod:`lookloss.reading`).

Errors in what a user gave (a file, a name, a value) end with one line on stderr and
exit status 2; nothing is written then, and outputs appear whole or not at all.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

#: Exit status for bad input, as argparse uses it.
USAGE_ERROR = 2


class UsageError(Exception):
    """Bad input from the user: reported in one line, exit status 2."""


def _clean_checkout(root: Path, out: Path, allow_dirty: bool, flag: str = "") -> None:
    """Refuse to publish from a checkout whose tracked files differ from its commit: the manifest
    would name a commit that is not the code that wrote it."""
    from lookloss import provenance

    state = provenance.commit(root, outputs=[out])
    if state["uncommitted_changes"] and not allow_dirty:
        raise UsageError(f"{flag + ': ' if flag else ''}the checkout at {str(root)!r} has uncommitted changes (git status), so the "
                         f"manifest of {str(out)!r} would name commit {state['commit'][:12]} for code that is not "
                         "it; commit first, or pass --allow-dirty")


def _publish(args: argparse.Namespace) -> None:
    from lookloss import checkpoints

    root = Path(args.root)
    settings = _config(root, args.configfile)
    _clean_checkout(root, args.out, args.allow_dirty)
    try:
        manifest = checkpoints.publish(settings, args.out, root=root)
    except checkpoints.CheckpointError as error:
        raise UsageError(str(error)) from None
    print(f"published {len(manifest['files'])} files of {settings['results_dir']} to {args.out} "
          f"(commit {manifest['commit'][:12] or 'unknown'}{', with uncommitted changes' if manifest['uncommitted_changes'] else ''})")


def _grow(args: argparse.Namespace) -> None:
    from lookloss import checkpoints, grow
    from lookloss.logs import job_logger

    if args.jobs < 1 or (args.limit is not None and args.limit < 0):
        raise UsageError(f"--jobs must be at least 1 and --limit at least 0; got {args.jobs} and {args.limit}")
    until = _next_time_of_day(args.until) if args.until is not None else None
    root = Path(args.root)
    settings = _config(root, args.configfile)
    job_logger(None)
    if "genome" in settings:  # the genome-scale run (presets/genome.yaml)
        from lookloss import genomegrow

        if args.reuse is not None:
            raise UsageError("--reuse applies to the study's grids, not to the genome-scale run")
        try:
            manifest = genomegrow.grow(settings, args.into, jobs=args.jobs, root=root, limit=args.limit, until=until)
        except checkpoints.CheckpointError as error:
            raise UsageError(str(error)) from None
        print(f"{args.into} holds {manifest['n_models']} of {manifest['n_grid']} models"
              f"{' (complete)' if manifest['complete'] else ''}")
        return
    try:
        manifest = grow.grow(settings, args.into, jobs=args.jobs, root=root, limit=args.limit, until=until,
                             reuse_from=args.reuse)
    except checkpoints.CheckpointError as error:
        raise UsageError(str(error)) from None
    print(f"{args.into} holds {manifest['n_models']} of {manifest['n_grid']} models"
          f"{' (complete)' if manifest['complete'] else ''}")


def _next_time_of_day(text: str, now: float | None = None) -> float:
    """``HH:MM`` as the next such moment in the machine's local time, in ``time.time()`` seconds."""
    import datetime as dt

    try:
        hour, minute = (int(part) for part in text.split(":"))
        wall = dt.time(hour, minute)
    except ValueError:
        raise UsageError(f"--until must be a time of day HH:MM, e.g. 16:45; got {text!r}") from None
    start = dt.datetime.fromtimestamp(now) if now is not None else dt.datetime.now()
    moment = dt.datetime.combine(start.date(), wall)
    if moment <= start:
        moment += dt.timedelta(days=1)
    return moment.timestamp()


def _reading(args: argparse.Namespace) -> None:
    import pandas as pd

    from lookloss import checkpoints, reading, report
    from lookloss.logs import job_logger

    root = Path(args.root)
    settings = _config(root, args.configfile)
    if args.write_tables:
        _clean_checkout(root, args.published, args.allow_dirty, "--write-tables")
    job_logger(None)
    if "genome" in settings:  # the genome-scale run (presets/genome.yaml)
        from lookloss import genometables

        if args.power:
            raise UsageError("--power reads a power sweep (presets/power.yaml), not the genome-scale run")
        if args.results is not None:
            settings["results_dir"] = str(args.results)
        try:
            text, front = genometables.read_published(settings, args.published, root, args.write_tables)
        except checkpoints.CheckpointError as error:
            raise UsageError(str(error)) from None
        block = "genome"
    else:
        settings["results_dir"] = str(args.results or Path(settings["results_dir"], "reading"))
        results = root / settings["results_dir"]
        try:
            models = reading.analyse_published(settings, args.published, root=root)
            manifest = checkpoints.read_manifest(args.published)
            if args.write_tables:
                digest = checkpoints.simulation_digest(settings, results)
                manifest = checkpoints.add_files(args.published, results,
                                                 [f"tables/{name}.tsv" for name in reading.TABLES], settings, digest,
                                                 root)
        except checkpoints.CheckpointError as error:
            raise UsageError(str(error)) from None
        tables = {name: pd.read_csv(results / "tables" / f"{name}.tsv", sep="\t")
                  for name in ("summary", "detectors", *(("power",) if args.power else ()))}
        try:
            text, found = report.study_text(models, tables["summary"], tables["detectors"],
                                            reading.as_read(manifest, models, args.published), settings,
                                            args.published, Path(args.readme or ".").parent, root, tables.get("power"))
        except ValueError as error:
            raise UsageError(f"--power: {error}") from None
        front, block = report.markdown(found), "power" if args.power else "reading"
    print(text, end="")
    blocks = [] if args.readme is None else [(args.readme, text, block)]
    if args.front is not None:  # the front page's table: what each detector flags
        blocks.append((args.front, front, "genome" if block == "genome" else "answer"))
    for path, text_, name in blocks:
        try:
            report.write_readme_block(path, text_, name)
        except (OSError, ValueError) as error:
            raise UsageError(str(error)) from None


def _loss_test(args: argparse.Namespace) -> None:
    """``lookloss loss-test``: FASTA and TSV input here, genomic input (``--loci``) in :mod:`lookloss.genomic`."""
    import numpy as np

    from lookloss import genomic, io, losstest, motifs, plots
    from lookloss.head import load_model
    from lookloss.loci import read_pair, read_sequences, read_targets

    if args.loci is not None:
        try:
            report = genomic.command(args)
        except losstest.LossTestError as error:
            raise UsageError(str(error)) from None
        written = genomic.write(report, args.out)
        print(json.dumps(report.summary, indent=2))
        print(f"wrote {', '.join(str(p) for p in written)}")
        if args.chroms is None and args.fold is None:
            print("note: every locus was tested, those the model trained on included; --chroms or --fold tests "
                  "held-out chromosomes only", file=sys.stderr)
        return
    if args.sequences is None or args.targets is None:
        raise UsageError("give --sequences FASTA and --targets TSV, or genomic input: --loci BED --genome FASTA "
                         "--signal BW")
    try:
        names, seqs, skipped = read_sequences(args.sequences, args.non_acgt)
        targets = read_targets(args.targets, names, skipped)
        (ppm_a, ppm_b), labels = read_pair(args.motifs, list(args.pair))
        model = genomic.fasta_model(args, load_model(args.model[0], args.trust_pickle))
    except losstest.LossTestError as error:
        raise UsageError(str(error)) from None
    codes = np.frombuffer("".join(seqs).encode(), dtype=np.uint8).reshape(len(seqs), -1)
    onehot = motifs.to_onehot(np.searchsorted(np.frombuffer(b"ACGT", dtype=np.uint8), codes).astype(np.int8))
    try:
        result = losstest.loss_test(model, onehot, np.asarray(targets), ppm_a, ppm_b,
                                    link=args.link, min_logodds=args.min_logodds, alpha=args.alpha, seed=args.seed,
                                    names=names, motif_names=labels, scan_window=args.scan_window,
                                    max_gap=args.max_gap, min_gap=args.min_gap, strands=args.strands,
                                    knockout_min_ddg=args.knockout_min_ddg, recalibrate=args.recalibrate)
    except losstest.LossTestError as error:
        raise UsageError(str(error)) from None
    summary = {**result.summary, "n_skipped_non_acgt": len(skipped)}
    figure = plots.loss_test_figure(result.pairs, summary)
    io.write_together(args.out, {  # whole or not at all
        "pairs.parquet": lambda path: io.write_parquet(path, result.pairs),
        "summary.json": lambda path: io.write_json(path, summary),
        "loss.png": lambda path: figure.savefig(path, dpi=150, metadata={"Software": None})})
    if skipped:
        print(f"skipped {len(skipped)} sequence(s) with characters other than ACGT (first: {skipped[0]!r})")
    print(json.dumps(summary, indent=2))
    print(f"wrote {args.out / 'pairs.parquet'}, {args.out / 'summary.json'}, {args.out / 'loss.png'}")


def _scan(args: argparse.Namespace) -> None:
    """``lookloss scan``: every motif pair, orientation and spacing (:mod:`lookloss.scancommand`)."""
    from lookloss import losstest, scancommand

    try:
        report = scancommand.command(args)
    except losstest.LossTestError as error:
        raise UsageError(str(error)) from None
    written = scancommand.write(report, args.out)
    print(scancommand.describe(report))
    print(f"wrote {', '.join(str(p) for p in written)}")
    if args.loci is not None and args.chroms is None and args.fold is None:
        print("note: every locus was tested, those the model trained on included; --chroms or --fold tests "
              "held-out chromosomes only", file=sys.stderr)


def _export(args: argparse.Namespace) -> None:
    from lookloss import inference, models

    try:
        model = models.load(args.model)
    except (OSError, ValueError) as error:
        raise UsageError(str(error)) from None
    inference.export_model(model, args.out, model.seq_len)
    print(f"exported {args.model} ({model.arch}, {model.padding} padding) to {args.out}")


def _fasta(args: argparse.Namespace) -> None:
    import pandas as pd

    from lookloss import io, layout, motifs

    try:
        arrays = io.load_npz(args.split)
    except (OSError, ValueError) as error:
        raise UsageError(str(error)) from None
    key = layout.counts_key(args.control)
    if layout.ONEHOT not in arrays or key not in arrays:
        raise UsageError(f"{str(args.split)!r} holds no {layout.ONEHOT!r} and {key!r} arrays: expected a simulated "
                         f"split (simulation/{{padding}}/{{split}}.npz) and a control it has")
    codes = motifs.to_codes(arrays[layout.ONEHOT])
    names = [f"seq{i}" for i in range(len(codes))]
    io.write_fasta(args.out, [(n, "".join(layout.ALPHABET[c] for c in row)) for n, row in zip(names, codes, strict=True)])
    io.write_tsv(args.targets, pd.DataFrame({"name": names, "target": arrays[key]}))
    print(f"wrote {len(names)} sequences to {args.out} and their {args.control} counts to {args.targets}")


def _config(root: Path, configfiles: Sequence[Path]) -> dict:
    """config.yaml of ``root`` with the given config files merged on, checked."""
    from lookloss import config

    files = [root / "config.yaml", *configfiles]
    missing = [str(f) for f in files if not Path(f).is_file()]
    if missing:
        raise UsageError(f"config file(s) {missing} do not exist")
    try:
        return config.check(config.read_files(files), base_dir=root)
    except config.ConfigError as error:
        raise UsageError(str(error)) from None


def _scales(args: argparse.Namespace) -> None:
    from lookloss import simulation

    settings = _config(Path(args.root), args.configfile)
    sim = simulation.Simulation.from_config(settings["simulation"], base_dir=args.root)
    scales = simulation.equal_mean_scales(sim, args.exponents, args.reference_scale, args.padding)
    print(f"# scale = {args.reference_scale:g} * mean(q) / mean(q^e) over the test sequences with both motifs "
          f"({args.padding} padding, simulation seed {sim.seed})")
    for exponent, scale in scales.items():
        print(f"e{exponent:g}: {{scale: {scale:.4g}, exponent: {exponent:g}}}")


def _loss_test_arguments(commands: argparse._SubParsersAction) -> None:
    """The ``loss-test`` subcommand's arguments: FASTA or genomic input, model outputs, geometry."""
    test = commands.add_parser("loss-test", allow_abbrev=False,
                               help="the study's loss test on your own model and data",
                               description="Does the interaction your model learned between two motifs lower its "
                               "loss on held-out data? The study's procedure: pairs of motif instances, knock-outs, "
                               "main and interaction effects, losses with and without the interaction, two nulls, "
                               "four one-sided tests.")
    test.add_argument("--model", required=True, type=Path, action="append",
                      help="TorchScript file, torch.export program (.pt2), lookloss checkpoint, or (with "
                      "--trust-pickle) a torch.save module; maps one-hot (N, 4, L), rows A, C, G, T, to (N,) or "
                      "(N, 1), or see --output/--task; repeat it for several models (--loci)")
    test.add_argument("--sequences", type=Path, help="FASTA, every sequence of one length (or use --loci)")
    test.add_argument("--targets", type=Path,
                      help="TSV with a header: columns 'name' and 'target' (observed counts), one row per sequence")
    genomic = test.add_argument_group("genomic input (instead of --sequences/--targets; docs/genomic.md)")
    genomic.add_argument("--loci", type=Path, help="BED file of loci (e.g. peaks); windows centred on each")
    genomic.add_argument("--genome", type=Path, help="genome FASTA (indexed by pyfaidx)")
    genomic.add_argument("--signal", type=Path, nargs="+", help="bigWig track(s); target = their sum over the "
                         "centred output window")
    genomic.add_argument("--control", type=Path, nargs="+", help="control bigWig track(s), over the input window, "
                         "passed unchanged as the model's second input")
    genomic.add_argument("--in-window", type=int, help="bases the model sees (2114)")
    genomic.add_argument("--out-window", type=int, help="bases the target sums over (1000)")
    genomic.add_argument("--summits", action="store_true", help="centre on start + BED column 10 (narrowPeak)")
    held = genomic.add_mutually_exclusive_group()
    held.add_argument("--chroms", nargs="+", help="test only loci on these chromosomes")
    held.add_argument("--fold", type=Path, action="append",
                      help="ChromBPNet splits JSON: test on its 'test' chromosomes; one per --model, in order")
    genomic.add_argument("--arch", nargs="+", help="an architecture label per model, for the consistency rule "
                         "(default: one architecture)")
    head = test.add_argument_group("model outputs and running")
    head.add_argument("--output", type=int, help="element of a tuple output (a BPNet's log counts: 1)")
    head.add_argument("--task", type=int, help="column of an (N, tasks) output")
    head.add_argument("--rc-average", action="store_true", help="average with the reverse complement's prediction")
    head.add_argument("--device", help="cpu (default), cuda, cuda:K or auto")
    head.add_argument("--batch-size", type=int, help="sequences per forward pass (64; FASTA input without any of "
                      "--output, --task, --rc-average, --device and --batch-size runs the model as it is, in "
                      "batches of 2,500)")
    head.add_argument("--no-fuse", action="store_true", dest="no_trace", help=argparse.SUPPRESS)  # its old name
    head.add_argument("--no-trace", action="store_true", help="run the model eagerly (default on the CPU with --loci, "
                      "or FASTA input with one of the options above: traced, frozen and fused by oneDNN, "
                      "checked against the model on the first batch)")
    head.add_argument("--trust-pickle", action="store_true",
                      help="accept a pickled torch.save module: loading it runs code from the file")
    test.add_argument("--non-acgt", choices=["skip", "fail"], default="skip",
                      help="sequences (or --loci windows) with other characters (N, ...): leave them out and say "
                      "how many (skip, the default), or stop (fail)")
    test.add_argument("--out", required=True, type=Path, help="folder for pairs.parquet, summary.json, loss.png")
    _scan_arguments(test.add_argument_group("the motifs and the test"))
    test.add_argument("--recalibrate", action="store_true",
                      help="also run the tests on the model recalibrated on the tested sequences that hold at most "
                      "one of the two motifs (summary 'recalibrated'; a candidate rule for count heads that cannot "
                      "be additive, being measured in docs/genome.md; the call stays the paired test's)")
    test.set_defaults(run=_loss_test)


def _scan_arguments(scan: argparse._ArgumentGroup) -> None:
    """The loss test's motifs, scan and test options."""
    scan.add_argument("--motifs", required=True, type=Path, help="MEME motif file")
    scan.add_argument("--pair", required=True, nargs=2, metavar=("MOTIF_A", "MOTIF_B"),
                      help="the two motifs, each by ID or name (case-insensitive)")
    scan.add_argument("--link", default="anscombe", choices=["anscombe", "log1p", "identity"],
                      help="the model's output space: anscombe counts = (out/2)^2 - 3/8 (the study's), "
                      "log1p counts = exp(out) - 1, identity counts = out; the loss is the squared error there")
    scan.add_argument("--min-logodds", type=float, default=2.0,
                      help="an instance must score above this log-odds, in natural-log units (2.0)")
    scan.add_argument("--strands", choices=["both", "forward"], default="both",
                      help="scan both strands (the default: a window scores the better of the motif and its reverse "
                      "complement), or the forward strand only, as the study did on its simulated sequences")
    scan.add_argument("--knockout-min-ddg", type=float, default=10.0,
                      help="a knock-out's random bases must score ΔΔG above this against the motif (10, the study's)")
    scan.add_argument("--scan-window", type=int, help="motif instances and random windows lie in the centred N "
                      "bases (genomic default: the output window; FASTA default: the whole sequence)")
    scan.add_argument("--max-gap", type=int, help="at most this many bases between the two motifs")
    scan.add_argument("--min-gap", type=int, help="at least this many bases between the two motifs (default: the "
                      "study's rule, the wider motif's width minus one; 0 tests adjacent instances, such as "
                      "composite elements)")
    scan.add_argument("--alpha", type=float, default=0.05, help="significance level of the call (0.05)")
    scan.add_argument("--seed", type=int, default=0, help="seeds the knock-outs and the nulls (0)")


def parser() -> argparse.ArgumentParser:
    """The command line of ``lookloss``."""
    top = argparse.ArgumentParser(prog="lookloss", allow_abbrev=False, description="Look at the Loss: detect false-positive motif "
                                  "interactions learned by neural networks.")
    commands = top.add_subparsers(dest="command", required=True)
    _loss_test_arguments(commands)
    from lookloss import scancommand

    scancommand.add_parser(commands).set_defaults(run=_scan)
    export = commands.add_parser("export", allow_abbrev=False,
                                 help="a lookloss checkpoint as a torch.export program (.pt2)")
    export.add_argument("model", type=Path, help="model.pt of a lookloss run")
    export.add_argument("out", type=Path, help="the .pt2 file to write")
    export.set_defaults(run=_export)
    fasta = commands.add_parser("fasta", allow_abbrev=False,
                                help="a simulated split's sequences as FASTA and one control's counts as TSV")
    fasta.add_argument("split", type=Path, help="simulation/{padding}/{split}.npz of a lookloss run")
    fasta.add_argument("--control", required=True, help="whose counts (e.g. neg)")
    fasta.add_argument("--out", required=True, type=Path, help="the FASTA file to write")
    fasta.add_argument("--targets", required=True, type=Path, help="the TSV of counts to write")
    fasta.set_defaults(run=_fasta)
    scales = commands.add_parser("scales", allow_abbrev=False,
                                 help="scales that give controls of other exponents the additive control's mean rate")
    scales.add_argument("--exponents", nargs="+", type=float, required=True)
    scales.add_argument("--reference-scale", type=float, default=100.0, help="the additive control's scale (100)")
    scales.add_argument("--padding", choices=["valid", "same"], default="valid", help="how labels are scanned")
    _run_arguments(scales)
    scales.set_defaults(run=_scales)
    _published_arguments(commands)
    return top


def _run_arguments(command: argparse.ArgumentParser) -> None:
    """``--configfile`` and ``--root``: the configuration of a run, as Snakemake is given it."""
    command.add_argument("--configfile", nargs="*", default=[], type=Path,
                         help="config files after config.yaml (as given to snakemake)")
    command.add_argument("--root", default=".", help="the repository (config.yaml, git commit); default: here")


def _published_arguments(commands: argparse._SubParsersAction) -> None:
    """The commands of published folders: publish, grow, reading."""
    publish = commands.add_parser("publish", allow_abbrev=False, help="publish a finished run's models, tables and figures with a "
                                  "manifest (for models.checkpoints)")
    _run_arguments(publish)
    publish.add_argument("--out", required=True, type=Path, help="the published folder, e.g. paper")
    publish.add_argument("--allow-dirty", action="store_true",
                         help="publish although tracked files differ from the commit (the manifest says so)")
    publish.set_defaults(run=_publish)
    grow = commands.add_parser("grow", allow_abbrev=False,
                               help="train the models a published folder lacks, publishing each as it is finished",
                               description="Simulate (or reuse the results folder's simulation, checked against the "
                               "published digest), then train the grid's models that the published folder does not "
                               "hold, seed by seed, JOBS at a time with one thread each, and publish each model the "
                               "moment it is finished. Interrupt it at any time; the next call goes on.")
    grow.add_argument("--into", required=True, type=Path, help="the published folder, e.g. paper (created if new)")
    grow.add_argument("--jobs", type=int, default=2, help="models trained at once, one thread each (2)")
    grow.add_argument("--limit", type=int, default=None, help="train at most this many models, then stop")
    grow.add_argument("--until", metavar="HH:MM", help="start no model after this time of day (the machine's local "
                      "time, its next occurrence): those in flight are finished and published, then the call ends; "
                      "for a machine whose end is known")
    grow.add_argument("--reuse", metavar="FOLDER", type=Path,
                      help="another published folder (e.g. paper): copy the models it holds as the same computation "
                      "(same architecture, padding, L1, seed and training settings, trained on the same kind of device, "
                      "fused or not, on byte-identical data, whatever the control is called) instead of training them")
    _run_arguments(grow)
    grow.set_defaults(run=_grow)
    read = commands.add_parser("reading", allow_abbrev=False,
                               help="the study's table for the models a published folder holds so far",
                               description="Rebuild the simulation, check it and every published model against the "
                               "manifest, analyse each model once, write the study's tables to RESULTS/tables and "
                               "print, per control x padding, how many models each test flags, Spearman rho, the "
                               "median test MSE and epochs, beside the paper's numbers, and how many models each "
                               "detector flags (Markdown).")
    read.add_argument("--published", type=Path, default=Path("paper"), help="the published folder (paper)")
    read.add_argument("--results", type=Path, default=None,
                      help="where the analysis goes (default: the configuration's results_dir + /reading, e.g. "
                      "results/reading)")
    read.add_argument("--write-tables", action="store_true",
                      help="also publish the tables (models, summary, consistency, power, detectors, "
                      "detector_models) into the published folder; refused from a checkout with uncommitted "
                      "changes")
    read.add_argument("--allow-dirty", action="store_true",
                      help="with --write-tables: publish although tracked files differ from the commit")
    read.add_argument("--power", action="store_true",
                      help="read a power sweep (presets/power.yaml): each test's false-positive rate at exponent 1, "
                      "its power above it and where it crosses 80%%, from tables/power.tsv")
    read.add_argument("--readme", type=Path,
                      help="also write the text into this file's <!-- reading:start --> block (with --power: its "
                      "<!-- power:start --> block), e.g. paper/README.md")
    read.add_argument("--front", type=Path,
                      help="also write the table of what each detector flags into this file's <!-- answer:start --> "
                      "block (the front page: README.md)")
    _run_arguments(read)
    read.set_defaults(run=_reading)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit status."""
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except UsageError as error:
        print(f"lookloss {args.command}: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
