"""Workflow start-up: ``snakemake -n`` on the default configuration, at two commits side by side.

Each commit is checked out in a temporary git worktree; the dry runs alternate between
the two (``--repeats`` each), and the median wall time of each is reported, with
whether the dry run imported torch or matplotlib (``python -X importtime``).

Usage::

    python benchmarks/dry_run.py --before 6a59567 [--after HEAD] [--repeats 5] [--out benchmarks/dry_run.json]
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
from contextlib import ExitStack
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/machine.py
from machine import checkout, cpu_count, cpu_model  # noqa: E402

HEAVY = ("torch", "matplotlib")


def dry_run(tree: Path, results: Path, importtime: bool = False) -> tuple[float, set[str]]:
    """Seconds of one ``snakemake -n`` in ``tree``, and the heavy modules it imported."""
    flags = ["-X", "importtime"] if importtime else []
    start = time.perf_counter()
    run = subprocess.run([sys.executable, *flags, "-m", "snakemake", "-n", "--quiet", "rules",
                          "--config", f"results_dir={results}"], cwd=tree, capture_output=True, text=True,
                         env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    seconds = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit(f"snakemake -n failed in {tree}:\n{run.stderr[-2000:]}")
    imported = {line.split("|")[-1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")}
    return seconds, {name for name in HEAVY if name in imported}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="commit to compare with")
    parser.add_argument("--after", default="HEAD")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        trees = {label: stack.enter_context(checkout(getattr(args, label), Path(tmp) / label))
                 for label in ("before", "after")}
        times: dict[str, list[float]] = {label: [] for label in trees}
        heavy = {label: sorted(dry_run(tree, Path(tmp) / "results", importtime=True)[1])
                 for label, tree in trees.items()}
        for _ in range(args.repeats):
            for label, tree in trees.items():
                times[label].append(dry_run(tree, Path(tmp) / "results")[0])
    record = {
        "date": date.today().isoformat(), "machine": {"cpu": cpu_model(), "cpus": cpu_count()},
        "repeats": args.repeats,
        "rows": [{"label": label, "commit": getattr(args, label), "median_s": statistics.median(times[label]),
                  "times_s": times[label], "imports": heavy[label]} for label in trees],
    }
    text = json.dumps(record, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
