"""Speed of the loss test on a user's model: sequences per minute, API and command.

50,000 held-out sequences of the study's simulation (100 bp, the default
configuration's test split, negative-control counts) and a study-sized model
(arch1, 'valid' padding, freshly initialised: the cost does not depend on the
weights), exported as a ``torch.export`` program. Two measurements, each the median
of ``--repeats`` runs:

* ``api``: :func:`lookloss.loss_test` on the arrays in memory (scan, knock-outs, the
  four variants of every pair and of both nulls, tests);
* ``command``: ``lookloss loss-test`` from the FASTA and TSV files to the written
  outputs, a fresh process (imports and model loading included).

Usage::

    python benchmarks/loss_test_speed.py [--threads 2] [--repeats 3] [--out benchmarks/loss_test_speed.json]
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
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/machine.py
from machine import cpu_count, cpu_model  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", type=int, default=50_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    import pandas as pd
    import torch

    import lookloss
    from lookloss import config, inference, io, layout, models, motifs, simulation, training

    torch.set_num_threads(args.threads)
    settings = config.check(config.read_files([ROOT / "config.yaml"]), base_dir=ROOT)
    settings["simulation"]["n_test"] = args.sequences
    sim = simulation.Simulation.from_config(settings["simulation"], base_dir=ROOT)
    codes = simulation.simulate_sequences(sim, args.sequences, simulation.stream(sim.seed, 2))["codes"]
    counts = simulation.draw_counts(simulation.stream(sim.seed, 3, 2), simulation.oracle(sim, codes, "valid"))["neg"]
    onehot = motifs.to_onehot(codes)
    ppms = motifs.read_motifs(ROOT / "resources" / "motifs.meme", ["GATA_disc1", "TAL1_known1"])
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = models.build("arch1", "valid", generator=training.init_generator(1))
        inference.export_model(model, tmp / "model.pt2", 100)
        names = [f"s{i}" for i in range(len(codes))]
        io.write_fasta(tmp / "seqs.fa", [(n, "".join(layout.ALPHABET[c] for c in row)) for n, row in zip(names, codes)])
        io.write_tsv(tmp / "targets.tsv", pd.DataFrame({"name": names, "target": counts}))
        exported = inference.load_model(tmp / "model.pt2")
        api, command, n_pairs = [], [], 0
        for _ in range(args.repeats):
            start = time.perf_counter()
            result = lookloss.loss_test(exported, onehot, counts, ppms["GATA_disc1"], ppms["TAL1_known1"])
            api.append(time.perf_counter() - start)
            n_pairs = result.summary["n_pairs"]
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "lookloss.cli", "loss-test", "--model", str(tmp / "model.pt2"),
                            "--sequences", str(tmp / "seqs.fa"), "--targets", str(tmp / "targets.tsv"),
                            "--motifs", str(ROOT / "resources" / "motifs.meme"), "--pair", "GATA_disc1",
                            "TAL1_known1", "--out", str(tmp / "out")], check=True, capture_output=True,
                           env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
            command.append(time.perf_counter() - start)
    record = {
        "date": date.today().isoformat(),
        "machine": {"cpu": cpu_model(), "cpus": cpu_count(), "threads": args.threads, "torch": torch.__version__},
        "sequences": args.sequences, "pairs": n_pairs,
        "api_s": api, "command_s": command,
        "api_sequences_per_min": args.sequences / statistics.median(api) * 60,
        "command_sequences_per_min": args.sequences / statistics.median(command) * 60,
    }
    print(json.dumps(record, indent=2))
    if args.out:
        args.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
