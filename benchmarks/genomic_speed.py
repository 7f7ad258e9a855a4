"""Time the genomic loss test: N loci through a default-size bpnet-lite BPNet (2,114 -> 1,000).

Writes a synthetic genome (random bases, both study motifs planted in the centre of
every locus, so that every locus is analysed: the slowest case), a BED of the loci, a
signal and a control bigWig pair, and a default ``BPNet`` (64 filters, 8 layers, 2
control tracks) saved with ``torch.save``; then runs ``lookloss loss-test --loci ...``
in this process and records the wall time, the forward passes and the machine.

Usage::

    .venv/bin/python benchmarks/genomic_speed.py --loci 10000 --threads 2 \
        --json benchmarks/genomic_speed.json [--device cuda]

With ``--export`` the count head is given as a ``torch.export`` program (``.pt2``, dynamic
batch) instead of the pickled module. With ``--before COMMIT``, the same run is made with lookloss as it was at COMMIT (a
temporary git worktree's ``src/``) and as it is now, alternating, ``--repeats`` times
each, each in a process of its own; the JSON then holds every run and the medians::

    .venv/bin/python benchmarks/genomic_speed.py --before 7e7a6c2 --loci 300 --repeats 3 \
        --json benchmarks/genomic_speed_compare.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from machine import checkout, cpu_model

ROOT = Path(__file__).resolve().parents[1]
IN, OUT, BLOCK = 2114, 1000, 2200


def write_inputs(folder: Path, n: int, seed: int) -> None:
    """Genome, BED, signal and control bigWigs of ``n`` loci with both motifs planted near each centre."""
    import figwig

    from lookloss import io, motifs

    rng = np.random.default_rng(seed)
    ppms = motifs.read_motifs(ROOT / "resources" / "motifs.meme", ["GATA_disc1", "TAL1_known1"])
    gata, tal = (ppms[k].argmax(axis=0).astype(np.int8) for k in ("GATA_disc1", "TAL1_known1"))
    per = -(-n // 2)
    length = (per + 1) * BLOCK
    genome = rng.integers(0, 4, size=(2, length)).astype(np.int8)
    centres = BLOCK * (np.arange(n) // 2 + 1)
    chroms = np.arange(n) % 2
    for c, m in zip(chroms, centres, strict=True):
        a = m - 300 + rng.integers(0, 200)
        b = m + 50 + rng.integers(0, 200)
        genome[c, a:a + gata.size] = gata
        genome[c, b:b + tal.size] = tal
    names = ["chr1", "chr2"]
    io.write_fasta(folder / "genome.fa", [(names[c], "".join(np.array(list("ACGT"))[genome[c]])) for c in range(2)])
    pd.DataFrame({"chrom": [names[c] for c in chroms], "start": centres - 100, "end": centres + 100}).to_csv(
        folder / "loci.bed", sep="\t", header=False, index=False)
    sizes = dict.fromkeys(names, length)
    counts = rng.poisson(200, size=(n, 2)).astype(np.float32)
    order = np.lexsort((centres, chroms))
    chrom_names = np.array(names)[chroms[order]]
    figwig.write_bigwig([folder / "signal_plus.bw", folder / "signal_minus.bw"], sizes, chrom_names,
                        centres[order], counts[order], ends=centres[order] + 1)
    figwig.write_bigwig([folder / "control_plus.bw", folder / "control_minus.bw"], sizes, chrom_names,
                        centres[order] - 500, counts[order] / 100, ends=centres[order] + 500)


def compare(args: argparse.Namespace) -> dict:
    """The run at ``args.before`` and now, alternating, each in its own process; medians per side."""
    passed = ["--loci", str(args.loci), "--threads", str(args.threads), "--device", args.device,
              "--batch-size", str(args.batch_size), *(["--no-trace"] if args.no_trace else []),
              *(["--export"] if args.export else [])]
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as tmp:
        with checkout(args.before, Path(tmp) / "before") as tree:
            for _ in range(args.repeats):
                for label, src in (("before", tree / "src"), ("after", ROOT / "src")):
                    out = Path(tmp) / f"{label}.json"
                    subprocess.run([sys.executable, __file__, *passed, "--json", str(out)], check=True,
                                   env={**os.environ, "PYTHONPATH": str(src)}, stdout=subprocess.DEVNULL)
                    runs[label].append(json.loads(out.read_text()))
    commits = {"before": args.before, "after": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                                               capture_output=True, text=True).stdout.strip()}
    record = {"commits": commits, "repeats": args.repeats, "runs": runs,
              "median": {label: {key: statistics.median(r[key] for r in rows)
                                 for key in ("wall_s", "cpu_s", "sequences_per_cpu_s")}
                         for label, rows in runs.items()}}
    print(json.dumps(record["median"], indent=2))
    if args.json:
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return record


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loci", type=int, default=10000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--no-trace", action="store_true", help="run the model eagerly (lookloss's --no-trace)")
    parser.add_argument("--export", action="store_true",
                        help="give lookloss the count head as a torch.export program (.pt2, dynamic batch) instead "
                        "of the pickled module")
    parser.add_argument("--json", type=Path, help="where to write the timing (default: print only)")
    parser.add_argument("--before", help="also time lookloss at this commit, alternating with now")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side with --before")
    args = parser.parse_args(argv)
    if args.before:
        return compare(args)
    torch.set_num_threads(args.threads)
    from bpnetlite.bpnet import BPNet

    from lookloss import cli

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        write_inputs(folder, args.loci, seed=0)
        torch.manual_seed(0)
        model = BPNet(n_filters=64, n_layers=8, n_outputs=2, n_control_tracks=2, verbose=False).eval()
        if args.export:
            from bpnetlite.bpnet import CountWrapper

            batch = torch.export.Dim("batch", min=1)
            example = (torch.zeros(2, 4, IN), torch.zeros(2, 2, IN))
            program = torch.export.export(CountWrapper(model), example, dynamic_shapes=({0: batch}, {0: batch}))
            torch.export.save(program, str(folder / "bpnet_counts.pt2"))
            model_args = ["--model", str(folder / "bpnet_counts.pt2")]
        else:
            torch.save(model, folder / "bpnet.torch")
            model_args = ["--model", str(folder / "bpnet.torch"), "--trust-pickle", "--output", "1"]
        prepared = time.perf_counter() - start
        command = ["loss-test", *model_args, "--link", "log1p", "--loci", str(folder / "loci.bed"), "--genome", str(folder / "genome.fa"),
                   "--signal", str(folder / "signal_plus.bw"), str(folder / "signal_minus.bw"),
                   "--control", str(folder / "control_plus.bw"), str(folder / "control_minus.bw"),
                   "--motifs", str(ROOT / "resources" / "motifs.meme"), "--pair", "GATA_disc1", "TAL1_known1",
                   "--device", args.device, "--batch-size", str(args.batch_size),
                   "--out", str(folder / "out"), *(["--no-trace"] if args.no_trace else [])]
        load_before = os.getloadavg()[0]
        start, cpu = time.perf_counter(), time.process_time()
        status = cli.main(command)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        summary = json.loads((folder / "out" / "summary.json").read_text()) if status == 0 else {}
    passes = 11 * summary.get("n_pairs", 0)  # 4 variants of the pairs and of the shuffled null, 3 of randpos
    record = {"n_loci": args.loci, "n_pairs": summary.get("n_pairs"), "forward_passes": passes,
              "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "sequences_per_s": round(passes / wall, 1),
              "sequences_per_cpu_s": round(passes / cpu, 1), "prepare_s": round(prepared, 1), "fused": not args.no_trace,
              "model_file": ".pt2 (torch.export, count head)" if args.export else "pickled module (torch.save)",
              "call": summary.get("call"), "p_paired": summary.get("p_paired"), "threads": args.threads,
              "batch_size": args.batch_size, "device": args.device,
              "cpu": cpu_model(), "cores": os.cpu_count(), "torch": torch.__version__,
              "load_average_before": load_before, "load_average_at_end": os.getloadavg()[0],
              "model": "bpnetlite.BPNet(n_filters=64, n_layers=8, n_outputs=2, n_control_tracks=2), 2114 -> 1000"}
    print(json.dumps(record, indent=2))
    if args.json:
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return record


if __name__ == "__main__":
    result = main()
    sys.exit(0 if result.get("n_pairs") or result.get("median") else 1)
