"""What a published run cost to train, by the commit that trained each model and by CPU model.

Reads the manifest of a published folder (``paper/manifest.json``): each model's record
holds the commit it was trained at, its device and CPU model, its threads, its training
wall time (``train_seconds``), its process's CPU time where recorded (``cpu_seconds``)
and its epochs. Each working session trains from its own commit, so a commit stands for
one session's machine. Models reused from another folder (``reused_from``) are left out:
their cost is that run's. Prints two Markdown tables (per commit, per CPU model) and
writes them as JSON with ``--out``.

Usage::

    python benchmarks/run_cost.py [--published paper] [--out benchmarks/run_cost.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def _group(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Models, medians of seconds per epoch (wall and CPU) and summed hours of one group."""
    records = list(records)
    timed = [r for r in records if r.get("cpu_seconds") is not None]
    return {"models": len(records),
            "cpus": sorted({str(r.get("cpu")) for r in records}),
            "wall_s_per_epoch": round(statistics.median(r["train_seconds"] / r["epochs_run"] for r in records), 2),
            "cpu_s_per_epoch": (round(statistics.median(r["cpu_seconds"] / r["epochs_run"] for r in timed), 2)
                                if timed else None),
            "wall_h": round(sum(r["train_seconds"] for r in records) / 3600, 1),
            "cpu_h": round(sum(r["cpu_seconds"] for r in timed) / 3600, 1) if timed else None,
            "models_with_cpu_time": len(timed)}


def _committed_at(commit: str) -> int:
    """Seconds since the epoch of a commit of this repository (0 if git does not know it)."""
    run = subprocess.run(["git", "show", "-s", "--format=%ct", commit], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1])
    return int(run.stdout.strip() or 0) if run.returncode == 0 else 0


def cost(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Per commit (oldest first) and per CPU model, from a manifest."""
    trained = [r for r in manifest["models"].values() if not r.get("reused_from")]
    commits: dict[str, list[Mapping[str, Any]]] = {}
    cpus: dict[str, list[Mapping[str, Any]]] = {}
    for record in trained:
        commits.setdefault(str(record.get("commit"))[:7], []).append(record)
        cpus.setdefault(f"{record.get('device')}: {record.get('cpu')}", []).append(record)
    return {"n_models": manifest["n_models"], "n_grid": manifest["n_grid"], "trained": len(trained),
            "by_commit": {c: _group(commits[c]) for c in sorted(commits, key=_committed_at)},
            "by_cpu": {c: _group(rs) for c, rs in sorted(cpus.items())},
            "total": _group(trained) if trained else None}


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def markdown(result: Mapping[str, Any]) -> str:
    """The two tables."""
    head = "| {} | models | wall s/epoch | CPU s/epoch | training wall, h | CPU, h |\n|---|---|---|---|---|---|\n"
    lines = [head.format("commit (CPU)")]
    for commit, g in result["by_commit"].items():
        lines.append(f"| {commit} ({'; '.join(g['cpus'])}) | {g['models']} | {g['wall_s_per_epoch']} | "
                     f"{g['cpu_s_per_epoch'] or '-'} | {_hours(g['wall_h'])} | {_hours(g['cpu_h'])} |\n")
    lines.append("\n" + head.format("device: CPU model"))
    for cpu, g in [*result["by_cpu"].items(), ("**all**", result["total"])]:
        cpu_h = _hours(g["cpu_h"]) + (f" (over {g['models_with_cpu_time']})"
                                      if g["cpu_h"] is not None and g["models_with_cpu_time"] < g["models"] else "")
        lines.append(f"| {cpu} | {g['models']} | {g['wall_s_per_epoch']} | {g['cpu_s_per_epoch'] or '-'} | "
                     f"{_hours(g['wall_h'])} | {cpu_h} |\n")
    return "".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--published", type=Path, default=Path("paper"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    manifest = json.loads((args.published / "manifest.json").read_text())
    result = cost(manifest)
    print(f"{result['n_models']} of {result['n_grid']} models in {args.published}, {result['trained']} trained there\n")
    print(markdown(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
