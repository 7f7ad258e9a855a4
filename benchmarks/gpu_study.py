"""The study on one GPU box: training throughput of both paths, and the whole study's wall time.

Three measurements, in one run on one machine (``--out`` holds them all):

1. ``per_process``: ``--workers`` processes at once, each training one arch1/valid model
   by :func:`lookloss.training.train` (what ``training.fuse: false`` runs: one model
   per job, ``--resources gpu_slots=N``), on random data of the study's size; reported
   as model-steps per second of the whole card.
2. ``fused``: one process training ``--group`` arch1/valid models as one network by
   :func:`lookloss.fused.train` (what ``training.fuse: auto`` runs on a GPU).
3. ``study``: ``snakemake --cores <all>`` on the default configuration from an empty
   results folder (simulation, 180 models, analysis, tables, figures): the wall time,
   and per phase the span from its first job's start to its last job's end (from the
   jobs' benchmark files, :func:`lookloss.checkpoints.phase_spans`), with the models'
   test MSE and epochs.

Usage (on the GPU box, from the repository root; ``gpu/session.sh`` runs it)::

    python benchmarks/gpu_study.py --out benchmarks/gpu_study.json
    python benchmarks/gpu_study.py --smoke --out /tmp/check.json   # every step, tiny, any machine

With ``--results results --deadline 400`` the study is kept in ``results/`` (for
``lookloss publish``) and stopped after 400 s; the same command with
``--skip-throughput`` goes on with it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/machine.py
from machine import cpu_count, cpu_model, random_data  # noqa: E402

from lookloss.checkpoints import phase_spans  # noqa: E402

BATCH = 200


def worker(args: argparse.Namespace) -> None:
    """Train in this process (one model, or one fused group) and print the epoch times as JSON."""
    import torch

    from lookloss import devices, fused, models, training

    device = devices.resolve_device(args.device)
    x, y = random_data(args.n_train + args.n_val, 100, args.seed)
    data = x[:args.n_train], y[:args.n_train], x[args.n_train:], y[args.n_train:]
    settings = {"batch_size": BATCH, "learning_rate": 1e-3, "adam_eps": 1e-7, "max_epochs": args.epochs,
                "patience": args.epochs + 1}
    marks: list[float] = []

    def mark(*_: object) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()
        marks.append(time.perf_counter())

    mark()
    if args.worker == "fused":
        members = [fused.Member("c", 0.0, seed) for seed in range(1, args.group + 1)]
        results = fused.train("arch1", "valid", members, data[0], {"c": data[1]}, data[2], {"c": data[3]},
                                    **settings, device=device, on_epoch=mark)
        graphs = all(r.cuda_graph for r in results)
    else:
        model = models.build("arch1", "valid", generator=training.init_generator(args.seed))
        training.train(model, *data, l1=0.0, seed=args.seed, **settings, device=device, on_epoch=mark)
        graphs = False
    epochs = [b - a for a, b in zip(marks, marks[1:])]
    print(json.dumps({"epoch_s": epochs, "cuda_graph": graphs, "device": str(device)}))


def run_workers(kind: str, count: int, args: argparse.Namespace) -> dict:
    """Start ``count`` worker processes at once; model-steps/s of all of them together."""
    command = [sys.executable, __file__, "--worker", kind, "--device", args.device, "--epochs", str(args.epochs),
               "--n-train", str(args.n_train), "--n-val", str(args.n_val), "--group", str(args.group)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    procs = [subprocess.Popen([*command, "--seed", str(seed)], stdout=subprocess.PIPE, text=True, env=env)
             for seed in range(1, count + 1)]
    outputs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    wall = time.perf_counter() - start
    if any(p.returncode for p in procs):
        raise SystemExit(f"a {kind} worker failed")
    models_per_process = args.group if kind == "fused" else 1
    steps = -(-args.n_train // BATCH)
    # steady state: epochs after the first, while every process was still training
    steady = statistics.median(statistics.median(o["epoch_s"][1:] or o["epoch_s"]) for o in outputs)
    return {"processes": count, "models_per_process": models_per_process, "steps_per_epoch": steps,
            "median_epoch_s": steady, "model_steps_per_s": count * models_per_process * steps / steady,
            "cuda_graph": all(o["cuda_graph"] for o in outputs), "wall_s": wall}


def study(args: argparse.Namespace, earlier: dict | None) -> dict:
    """The whole workflow from an empty results folder, with per-phase spans.

    With ``--deadline`` the run is stopped (SIGTERM to Snakemake and its jobs, which
    leaves no half-written output; fused groups keep their snapshots) once that many
    seconds have passed, and a later call with the same ``--results`` and ``--out`` goes
    on from there: ``runs`` lists each part and ``study_wall_s`` is their sum. A study
    there that is already complete is kept as measured.
    """
    if args.results is None:
        with tempfile.TemporaryDirectory(prefix="lookloss-study-") as tmp:
            return _study(args, Path(tmp) / "results", _command(args, Path(tmp) / "results"), [])
    resolved = args.results.resolve()
    # as `snakemake` names it by default (relative), so that its records of the files match
    results = resolved.relative_to(ROOT) if resolved.is_relative_to(ROOT) else resolved
    command = _command(args, results)
    earlier = earlier if earlier and earlier.get("command") == " ".join(command[1:]) else {}
    if earlier.get("complete"):
        print("the study in", args.results, "is complete; its measurement is kept", flush=True)
        return earlier
    return _study(args, results, command, earlier.get("runs", []))


def _command(args: argparse.Namespace, results: Path) -> list[str]:
    command = [sys.executable, "-m", "snakemake", "--cores", str(args.cores), "--rerun-incomplete",
               "--config", f"results_dir={results}"]
    if args.smoke:
        command += ["--configfile", "presets/smoke.yaml"]
    if args.gpu_slots:
        command += ["--resources", f"gpu_slots={args.gpu_slots}"]
    return command


def _study(args: argparse.Namespace, results: Path, command: list[str], runs: list[dict]) -> dict:
    if runs:  # a stopped run left its lock
        subprocess.run([*command, "--unlock"], cwd=ROOT, capture_output=True, check=True)
    start = time.time()
    (ROOT / results / "logs").mkdir(parents=True, exist_ok=True)
    with open(ROOT / results / "logs" / "gpu_study.snakemake.log", "a") as log:
        run = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            returncode = run.wait(timeout=args.deadline)
            stopped = False
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):  # it may end just then
                os.killpg(run.pid, signal.SIGTERM)  # Snakemake and its jobs: Snakemake removes incomplete outputs
            try:
                returncode = run.wait(timeout=60)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(run.pid, signal.SIGKILL)
                returncode = run.wait()
            stopped = True
    wall = time.time() - start
    if returncode and not stopped:
        raise SystemExit(f"the study failed; see {log.name}")
    runs = [*runs, {"wall_s": round(wall, 1), "stopped_at_deadline": stopped}]
    metrics = [json.loads(p.read_text()) for p in (ROOT / results).glob("models/*/*/*/metrics.json")]
    return {
        "command": " ".join(command[1:]), "complete": not stopped, "runs": runs,
        "study_wall_s": round(sum(r["wall_s"] for r in runs), 1),
        "phases": phase_spans(ROOT / results),
        "models": len(metrics),
        "fused": sorted({m.get("fused", False) for m in metrics}),
        "cuda_graph": sorted({m.get("cuda_graph", False) for m in metrics}),
        "test_mse": _spread([m["test_mse"] for m in metrics]),
        "epochs_run": _spread([m["epochs_run"] for m in metrics]),
        "best_epoch": _spread([m["best_epoch"] for m in metrics]),
    }


def _spread(values: list[float]) -> dict:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)} if values else {}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", choices=["single", "fused"], help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=15, help="concurrent one-model processes")
    parser.add_argument("--group", type=int, default=30, help="models in the fused group")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per throughput run (the first is not counted)")
    parser.add_argument("--n-train", type=int, default=40000)
    parser.add_argument("--n-val", type=int, default=10000)
    parser.add_argument("--cores", type=int, default=cpu_count())
    parser.add_argument("--gpu-slots", type=int, default=0, help="--resources gpu_slots for the study (0: none)")
    parser.add_argument("--skip-study", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true", help="only the study (e.g. to go on with it)")
    parser.add_argument("--results", type=Path, help="keep the study's results here (default: a temporary folder)")
    parser.add_argument("--deadline", type=float, help="stop the study after this many seconds (go on later)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and the smoke preset: checks every step")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return
    if args.smoke:
        args.workers, args.group, args.epochs, args.n_train, args.n_val = 2, 3, 2, 400, 100
    import torch

    earlier = json.loads(args.out.read_text()) if args.out and args.out.exists() else {}
    result = {"date": date.today().isoformat(), "smoke": args.smoke,
              "machine": {"gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                          "cpu": cpu_model(), "cpus": cpu_count(), "torch": torch.__version__,
                          "cuda": torch.version.cuda, "python": sys.version.split()[0]}}
    print(json.dumps(result["machine"]), flush=True)
    if args.skip_throughput:
        result.update({key: earlier[key] for key in ("per_process", "fused", "fused_vs_per_process") if key in earlier})
    else:
        result["per_process"] = run_workers("single", args.workers, args)
        print("per-process:", json.dumps(result["per_process"]), flush=True)
        result["fused"] = run_workers("fused", 1, args)
        print("fused:", json.dumps(result["fused"]), flush=True)
        result["fused_vs_per_process"] = (result["fused"]["model_steps_per_s"]
                                          / result["per_process"]["model_steps_per_s"])
    if not args.skip_study:
        result["study"] = study(args, earlier.get("study"))
    elif "study" in earlier:
        result["study"] = earlier["study"]
    if "study" in result:
        print("study:", json.dumps(result["study"]), flush=True)
    if args.out:  # atomically: a kill while writing leaves the earlier parts readable
        tmp = args.out.with_name(f".{args.out.name}.tmp")
        tmp.write_text(json.dumps(result, indent=2) + "\n")
        os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
