"""Time ``lookloss scan``: N loci and 10 motifs through a default-size bpnet-lite BPNet (2,114 -> 1,000).

Writes a synthetic genome (random bases; in the centred 800 bases of every locus two of ten
synthetic motifs, each a 10-14 bp consensus read at 0.91, at random places and strands), a
BED of the loci, a signal and a control bigWig pair, the ten motifs as MEME and a default
``BPNet`` (64 filters, 8 layers, 2 control tracks) saved with ``torch.save``; then runs
``lookloss scan --loci ...`` in this process (FIMO p < 1e-4 over the 1,000-bp scan window,
the default spacing bins) and records the wall time, the forward passes made and those a
pair-by-pair run would make. It then times plain batched inference of the same model on as
many random sequences as the scan predicted (capped at ``--plain``): the model called
eagerly on batches of ``--batch-size`` (and, as the scan runs it, through
:class:`lookloss.head.Head` traced and fused), for the time per forward pass.

Usage::

    .venv/bin/python benchmarks/scan_speed.py --loci 10000 --threads 2 --json benchmarks/scan_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from machine import cpu_model

ROOT = Path(__file__).resolve().parents[1]
IN, OUT, BLOCK, MOTIFS = 2114, 1000, 2200, 10


def motif_set(seed: int) -> dict[str, np.ndarray]:
    """Ten synthetic motifs: a random consensus of 10-14 bp read with probability 0.91."""
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(MOTIFS):
        width = int(rng.integers(10, 15))
        ppm = np.full((4, width), 0.03)
        ppm[rng.integers(0, 4, width), np.arange(width)] = 0.91
        out[f"M{i}"] = ppm
    return out


def write_inputs(folder: Path, n: int, seed: int) -> None:
    """Genome, BED, signal and control bigWigs of ``n`` loci with two motifs planted near each centre, and the MEME."""
    import figwig

    from lookloss import io

    rng = np.random.default_rng(seed)
    ppms = motif_set(seed)
    consensus = [p.argmax(axis=0).astype(np.int8) for p in ppms.values()]
    per = -(-n // 2)
    length = (per + 1) * BLOCK
    genome = rng.integers(0, 4, size=(2, length)).astype(np.int8)
    centres = BLOCK * (np.arange(n) // 2 + 1)
    chroms = np.arange(n) % 2
    for c, m in zip(chroms, centres, strict=True):
        first, second = rng.choice(MOTIFS, 2, replace=False)
        a = m - 400 + int(rng.integers(0, 350))
        b = m + 20 + int(rng.integers(0, 350))
        for start, k in ((a, first), (b, second)):
            site = consensus[k] if rng.random() < 0.5 else (3 - consensus[k])[::-1]
            genome[c, start:start + site.size] = site
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
    text = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", ""]
    for key, ppm in ppms.items():
        text += [f"MOTIF {key}", f"letter-probability matrix: alength= 4 w= {ppm.shape[1]}"]
        text += [" ".join(f"{p:.6f}" for p in column) for column in ppm.T] + [""]
    (folder / "motifs.meme").write_text("\n".join(text))


def plain_inference(model: torch.nn.Module, n: int, batch_size: int, device: str) -> dict[str, float]:
    """Seconds per sequence of the model on ``n`` random sequences with control tracks: eagerly, batch by
    batch (the profile head computed too, as a user's loop would), and through lookloss's Head (traced,
    frozen and fused on the CPU, count head only), as the scan runs it."""
    from lookloss.head import Head

    rng = np.random.default_rng(1)
    codes = rng.integers(0, 4, size=(n, IN)).astype(np.int8)
    control_tracks = rng.uniform(0, 3, size=(n, 2, IN)).astype(np.float32)
    model = model.to(device)
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, n, batch_size):
            x = torch.nn.functional.one_hot(torch.from_numpy(codes[i:i + batch_size]).long(), 4).transpose(1, 2)
            model(x.float().to(device), torch.from_numpy(control_tracks[i:i + batch_size]).to(device))
    eager = time.perf_counter() - start
    head = Head(model, "bpnet", output=1, control_tracks=control_tracks, batch_size=batch_size, trace=True)
    head(codes[:batch_size], np.arange(batch_size))  # traced and checked once, as in the scan
    start = time.perf_counter()
    for i in range(0, n, 4096):  # the scan's chunks
        head(codes[i:i + 4096], np.arange(i, min(i + 4096, n)))
    fused = time.perf_counter() - start
    return {"plain_sequences": n, "eager_s_per_pass": eager / n, "head_fused_s_per_pass": fused / n}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loci", type=int, default=10000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--p-value", type=float, default=1e-4)
    parser.add_argument("--plain", type=int, default=20000, help="most sequences of the plain-inference timing")
    parser.add_argument("--json", type=Path, help="where to write the timing (default: print only)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from bpnetlite.bpnet import BPNet

    from lookloss import cli

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        write_inputs(folder, args.loci, seed=0)
        torch.manual_seed(0)
        model = BPNet(n_filters=64, n_layers=8, n_outputs=2, n_control_tracks=2, verbose=False).eval()
        torch.save(model, folder / "bpnet.torch")
        prepared = time.perf_counter() - start
        command = ["scan", "--model", str(folder / "bpnet.torch"), "--trust-pickle", "--output", "1",
                   "--link", "log1p", "--loci", str(folder / "loci.bed"), "--genome", str(folder / "genome.fa"),
                   "--signal", str(folder / "signal_plus.bw"), str(folder / "signal_minus.bw"),
                   "--control", str(folder / "control_plus.bw"), str(folder / "control_minus.bw"),
                   "--motifs", str(folder / "motifs.meme"), "--p-value", str(args.p_value),
                   "--device", args.device, "--batch-size", str(args.batch_size), "--out", str(folder / "out")]
        load_before = os.getloadavg()[0]
        start, cpu = time.perf_counter(), time.process_time()
        status = cli.main(command)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        summary = json.loads((folder / "out" / "summary.json").read_text()) if status == 0 else {}
        cells = pd.read_csv(folder / "out" / "scan.tsv", sep="\t") if status == 0 else pd.DataFrame()
    passes = summary.get("passes", 0)
    predicting = sum(m["seconds_predicting"] for m in summary.get("models", []))
    plain = plain_inference(model, min(max(passes, args.batch_size), args.plain), args.batch_size, args.device)
    record = {
        "n_loci": args.loci, "n_motifs": MOTIFS, "p_value": args.p_value,
        "instances": sum(m["instances"] for m in summary.get("motifs", [])),
        "n_instance_pairs": summary.get("n_instance_pairs"),
        "n_pairs_tested": sum(m["n_pairs_tested"] for m in summary.get("models", [])),
        "n_rows": len(cells), "n_rows_tested": int((cells["n"] >= 30).sum()) if len(cells) else 0,
        "n_called": summary.get("n_called"), "passes": passes, "passes_by_kind": summary["models"][0]["passes"]
        if summary else None, "passes_pair_by_pair": summary.get("passes_pair_by_pair"),
        "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "predicting_s": round(predicting, 1),
        "scan_s_per_pass": wall / passes if passes else None,
        "scan_predicting_s_per_pass": predicting / passes if passes else None, **plain,
        "ratio_scan_to_eager": wall / passes / plain["eager_s_per_pass"] if passes else None,
        "ratio_scan_to_head_fused": wall / passes / plain["head_fused_s_per_pass"] if passes else None,
        "prepare_s": round(prepared, 1), "threads": args.threads, "batch_size": args.batch_size,
        "device": args.device, "cpu": cpu_model(), "cores": os.cpu_count(), "torch": torch.__version__,
        "load_average_before": load_before, "load_average_at_end": os.getloadavg()[0],
        "model": "bpnetlite.BPNet(n_filters=64, n_layers=8, n_outputs=2, n_control_tracks=2), 2114 -> 1000"}
    print(json.dumps(record, indent=2))
    if args.json:
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return record


if __name__ == "__main__":
    result = main()
    sys.exit(0 if result.get("passes") else 1)
