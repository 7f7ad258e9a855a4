"""What running the analysis in float64 costs (lookloss.jobs.for_analysis, issue 38).

The analysis of a published model (:func:`lookloss.jobs.analyse_model`: four variants of
every pair of the four pair sets) and the detectors on it (each of
:data:`lookloss.detectors.MODEL_DETECTORS`) run the model's float32 weights in float64, so
that the tables are the same bytes on any x86-64 instruction set. This script times both in
float32 and in float64, side by side on the same published models (one per architecture x
padding from ``paper/``) and the default configuration's held-out pair sets, alternating the
two precisions within each repeat; one torch thread; CPU seconds (``time.process_time``),
which other work on the machine disturbs less than the wall time. The study's cost is
projected as ``180 x median CPU s per model / 2 cores``.

Usage::

    python benchmarks/analysis_precision.py [--repeats 3] [--out benchmarks/analysis_precision.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/machine.py
from machine import cpu_count, cpu_model  # noqa: E402

STUDY_MODELS = 180
CORES = 2


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--detector-repeats", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    import torch

    from lookloss import config, jobs, layout, models, simulation
    from lookloss.detectors import MODEL_DETECTORS
    from lookloss.detectors.explain import explainable

    torch.set_num_threads(1)
    settings = config.check(config.read_files([ROOT / "config.yaml"]), base_dir=ROOT)
    settings["simulation"]["n_train"] = 1000  # the held-out pairs do not depend on it
    sim = simulation.Simulation.from_config(settings["simulation"], base_dir=ROOT)
    rows = []
    for padding in layout.PADDINGS:
        data = simulation.simulate(sim, padding)
        sets = {s: data[layout.pairs_name(s)] for s in layout.PAIR_SETS}
        inputs = {d.name: d.load().prepare(sim, sets["test"], sets["shuffled"], settings["detectors"])
                  for d in MODEL_DETECTORS}
        for arch in models.ARCHS:
            path = ROOT / "paper" / "models" / "neg" / padding / f"{arch}-l1_0-seed_100" / "model.pt"
            with tempfile.TemporaryDirectory() as tmp:
                tmp = Path(tmp)
                (tmp / "metrics.json").write_text(json.dumps({"best_epoch": 1, "epochs_run": 1, "test_mse": 0.0}))
                identity = {"control": "neg", "padding": padding, "arch": arch, "l1": 0.0, "seed": 100}
                for repeat in range(args.repeats):
                    for dtype in (torch.float32, torch.float64):
                        original = jobs.for_analysis
                        jobs.for_analysis = lambda model, dtype=dtype: model.to(dtype)  # noqa: E731
                        try:
                            cpu = time.process_time()
                            jobs.analyse_model(path, tmp / "metrics.json", sets,
                                               {s: tmp / f"{s}.parquet" for s in sets}, tmp / "stats.json", identity)
                            analysis = time.process_time() - cpu
                        finally:
                            jobs.for_analysis = original
                        detect = None
                        if repeat < args.detector_repeats:
                            net = explainable(models.load(path).to(dtype))
                            cpu = time.process_time()
                            for d in MODEL_DETECTORS:
                                d.load().run(net, inputs[d.name])
                            detect = time.process_time() - cpu
                        rows.append({"arch": arch, "padding": padding, "dtype": str(dtype).removeprefix("torch."),
                                     "repeat": repeat, "analysis_cpu_s": analysis, "detectors_cpu_s": detect})
                        print(json.dumps(rows[-1]), flush=True)
    summary = {}
    for dtype in ("float32", "float64"):
        mine = [r for r in rows if r["dtype"] == dtype]
        analysis = statistics.median(r["analysis_cpu_s"] for r in mine)
        detect = statistics.median(r["detectors_cpu_s"] for r in mine if r["detectors_cpu_s"] is not None)
        summary[dtype] = {"median_analysis_cpu_s": analysis, "median_detectors_cpu_s": detect,
                          "projected_study_s": STUDY_MODELS * (analysis + detect) / CORES}
    record = {"date": date.today().isoformat(), "cpu": cpu_model(), "cpus": cpu_count(),
              "repeats": args.repeats, "detector_repeats": args.detector_repeats, "rows": rows, "summary": summary}
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
