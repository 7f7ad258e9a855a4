"""Wall time of re-deriving the study from published checkpoints (presets/paper-checkpoints.yaml).

The route simulates the default data, takes the 180 models from a published folder
(each file checked against its manifest), analyses them and draws every table and
figure. Its cost does not depend on the weights, so this measures it with stand-in
checkpoints: freshly initialised models of the whole default grid, published with a
manifest by :func:`lookloss.checkpoints.publish` into a temporary folder. It then runs
``snakemake --cores <N>`` with the preset, pointed at that folder, from an empty
results folder, and reports the wall time, when the study's tables were ready
(``tables_s``), when its tables and figures were all drawn (``study_s``; the extra
detectors of docs/study.md section 8 may still run then) and each phase's span.

With ``--published paper`` it re-derives the real published run instead, and also
reports whether each re-derived table and figure equals the published one byte for byte
(``--narrow-isa``: with the wider instruction sets masked). With
``--results results/paper-checkpoints`` (the preset's own folder, which must not exist
yet) the re-derived folder is kept, so that ``lookloss publish --configfile
presets/paper-checkpoints.yaml --out paper`` can publish its figures without a second run.

Usage::

    python benchmarks/checkpoint_route.py [--cores 2] [--published paper] [--results DIR]
        [--narrow-isa] [--out benchmarks/checkpoint_route.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/machine.py
from machine import cpu_count, cpu_model  # noqa: E402


def stand_in(config: dict, results: Path) -> None:
    """Freshly initialised models of the grid, with the files a training run writes."""
    import pandas as pd

    from lookloss import checkpoints, io, layout, models, training

    for control, padding, name in checkpoints.grid_models(config):
        model_id = layout.parse_model_id(name)
        identity = {"control": control, "padding": padding, "arch": model_id.arch, "l1": model_id.l1,
                    "seed": model_id.seed}
        folder = results / layout.model_dir("models", control, padding, name)
        model = models.build(model_id.arch, padding, generator=training.init_generator(model_id.seed))
        metrics = {"best_epoch": 1, "epochs_run": 1, "test_mse": 0.0, "device": "stand-in", "val_loss": 0.0}
        models.save(folder / "model.pt", model, {"identity": identity, "metrics": metrics})
        io.write_tsv(folder / "history.tsv", pd.DataFrame([{"epoch": 1, "train_loss": 0.0, "val_loss": 0.0}]))
        io.write_json(folder / "metrics.json", metrics)


def study_ready_s(results: Path, start: float) -> float:
    """Seconds from ``start`` until the last of the study's tables and figures was written.

    The study's outputs are its tables (:data:`lookloss.layout.STUDY_TABLES`) and every
    figure that reads no detector output.
    """
    from lookloss import figures, layout

    study = [results / "tables" / f"{name}.tsv" for name in layout.STUDY_TABLES]
    study += [results / "figures" / f"{name}.png" for name, spec in figures.FIGURES.items()
              if "detectors" not in spec.inputs]
    return round(max(path.stat().st_mtime for path in study) - start, 1)


def same_bytes(results: Path, published: Path, folder: str, pattern: str) -> dict[str, bool]:
    """Per re-derived file of ``results/folder``: whether the published one exists with the same bytes."""
    return {p.name: (published / folder / p.name).is_file()
            and p.read_bytes() == (published / folder / p.name).read_bytes()
            for p in sorted((results / folder).glob(pattern))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cores", type=int, default=cpu_count())
    parser.add_argument("--published", type=Path,
                        help="a complete published folder (e.g. paper) to re-derive instead of stand-ins; its "
                        "tables are then compared byte for byte with the re-derived ones")
    parser.add_argument("--results", type=Path, help="re-derive into this folder (absent until now) and keep it")
    parser.add_argument("--narrow-isa", action="store_true",
                        help="run the route with oneDNN, ATen, MKL and numpy held to SSE4 kernels "
                        "(lookloss.provenance.NARROW_ISA), as on a CPU without AVX")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.results is not None and args.results.exists():
        parser.error(f"--results {args.results} exists; expected a folder that does not exist yet")
    from lookloss import checkpoints, config, grow, provenance

    with tempfile.TemporaryDirectory(prefix="lookloss-route-") as tmp:
        tmp = Path(tmp)
        settings = config.check(config.read_files([ROOT / "config.yaml"]), base_dir=ROOT)
        published = args.published.resolve() if args.published else tmp / "published"
        if not args.published:
            settings["results_dir"] = str(tmp / "trained")
            stand_in(settings, tmp / "trained")
            grow.ensure_simulation(settings, tmp / "trained", ROOT)  # a manifest records the data's digest
            checkpoints.publish(settings, published, root=ROOT)
        (tmp / "here.yaml").write_text(f"models: {{checkpoints: {published}}}\n")
        results = args.results.resolve() if args.results else tmp / "rederived"
        start = time.time()
        run = subprocess.run([sys.executable, "-m", "snakemake", "--cores", str(args.cores), "--configfile",
                              "presets/paper-checkpoints.yaml", str(tmp / "here.yaml"), "--config",
                              f"results_dir={results}"], cwd=ROOT, capture_output=True, text=True,
                             env={**os.environ, **(provenance.NARROW_ISA if args.narrow_isa else {})})
        wall = time.time() - start
        if run.returncode:
            raise SystemExit(f"the route failed:\n{run.stderr[-4000:]}")
        record = {"date": date.today().isoformat(), "cores": args.cores, "narrow_isa": args.narrow_isa,
                  "machine": {"cpu": cpu_model(), "cpus": cpu_count()},
                  "checkpoints": str(args.published) if args.published else "stand-ins",
                  "models": len(checkpoints.grid_models(settings)), "wall_s": round(wall, 1),
                  # the study's tables are ready before the detectors end (rule priority)
                  "tables_s": round((results / "tables" / "consistency.tsv").stat().st_mtime - start, 1),
                  "study_s": study_ready_s(results, start),
                  "phases": checkpoints.phase_spans(results)}
        if args.published:
            record["tables_equal"] = same_bytes(results, published, "tables", "*.tsv")
            record["figures_equal"] = same_bytes(results, published, "figures", "*.png")
    print(json.dumps(record, indent=2))
    if args.out:
        args.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
