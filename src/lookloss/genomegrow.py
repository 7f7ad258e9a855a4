"""Grow the genome-scale run model by model: train what its published folder lacks, publish each.

The genome-scale grid (``genome.models``: truths x architectures x seeds of BPNets,
presets/genome.yaml) is the same kind of many-hour CPU run as the study, and grows the
same way (``lookloss grow --configfile presets/genome.yaml --into paper/genome``):

1. The simulated genome is rebuilt from the ``genome`` section (or taken from the results
   folder when it was made from the same section) and its sha256 digest is checked
   against the one the published folder's manifest records.
2. The missing models are trained in :func:`grid_order` (seed by seed, so that a partial
   run holds about as many models of every truth x architecture), ``jobs`` at a time,
   each in its own process with one torch thread (:func:`lookloss.bpnets.train`), on the
   device ``training.device`` names (``auto``: a GPU when one is visible, several models on
   it at once; the GPU run book's ``genome`` phase, gpu/README.md).
3. Each model is published the moment it is finished: its files are copied and the
   manifest is replaced atomically (a model's ``metrics.json``, written last, marks it
   finished; a killed job leaves none, and the model is retrained from the start).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from lookloss import checkpoints, io, provenance

log = logging.getLogger("lookloss")
#: The manifest's format tag.
FORMAT_TAG = "lookloss-genome/1"
#: What the simulated folder was made from (the ``genome`` and ``simulation`` sections).
MADE_FROM = "made_from.json"
#: A model's files, in the order they are published (``metrics.json`` last).
MODEL_FILES = ("model.pt", "history.tsv", "metrics.json")
#: The metrics a manifest records per model.
RECORD_KEYS = ("count_pearson", "count_spearman", "profile_pearson", "profile_jsd", "epochs", "best_epoch",
               "train_seconds", "count_loss_weight", "cpu", "device", "gpu", "commit", "uncommitted_changes")
#: Packages whose versions the manifest records.
PACKAGES = ("torch", "numpy", "bpnet-lite", "tangermeme", "figwig", "pyfaidx")


def grid_order(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every model of the grid, seed by seed; within a seed, architecture by architecture."""
    grid = config["genome"]["models"]
    return [{"truth": t, "arch": a, "seed": int(s)} for s in grid["seeds"] for a in grid["archs"] for t in grid["truths"]]


def key(identity: Mapping[str, Any]) -> str:
    """A model's folder below ``models/``: ``{truth}/{arch}-seed_{seed}``."""
    return f"{identity['truth']}/{identity['arch']}-seed_{identity['seed']}"


def model_files(identity: Mapping[str, Any]) -> list[str]:
    """A model's files relative to a results or published folder."""
    return [f"models/{key(identity)}/{name}" for name in MODEL_FILES]


def made_from(config: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration a simulated genome depends on."""
    section = {k: v for k, v in config["genome"].items() if k not in ("models", "training")}
    return json.loads(json.dumps({"genome": section, "simulation": config["simulation"]}))


def ensure_simulation(config: Mapping[str, Any], results: str | Path, root: str | Path = ".") -> dict[str, str]:
    """Simulate the genome into ``results/simulation`` unless it is there from the same
    configuration; return the sha256 of every simulated file."""
    from lookloss import genomesim

    folder = Path(results, "simulation")
    stamp = folder / MADE_FROM
    wanted = made_from(config)
    same = stamp.is_file() and json.loads(stamp.read_text()) == wanted
    if not same or not all((folder / name).is_file() for name in genomesim.files()):
        log.info("simulating the genome into %s", folder)
        stamp.unlink(missing_ok=True)
        genomesim.write(genomesim.simulate(config, base_dir=root), folder)
        io.write_json(stamp, wanted)
    return {name: checkpoints.sha256(folder / name) for name in genomesim.files()}


def manifest(config: Mapping[str, Any], folder: Path, files: Mapping[str, str], digest: Mapping[str, str],
             root: str | Path) -> dict[str, Any]:
    """The manifest of ``folder`` listing ``files``."""
    grid = grid_order(config)
    done = [i for i in grid if all(f in files for f in model_files(i))]
    records = {}
    for identity in done:
        metrics = json.loads((folder / "models" / key(identity) / "metrics.json").read_text())
        records[key(identity)] = {k: metrics.get(k) for k in RECORD_KEYS}
    return {"format": FORMAT_TAG, "complete": len(done) == len(grid), "n_models": len(done), "n_grid": len(grid),
            **provenance.commit(root, outputs=[folder]), "config": dict(config), "simulation": dict(digest),
            "cpus": sorted({str(r["cpu"]) for r in records.values()}),
            "gpus": sorted({str(r["gpu"]) for r in records.values() if r.get("gpu")}),
            "versions": {name: provenance.version(name) for name in PACKAGES},
            "models": records, "files": dict(sorted(files.items()))}


def check_fits(old: Mapping[str, Any], config: Mapping[str, Any], digest: Mapping[str, str], folder: Path) -> None:
    """:class:`lookloss.checkpoints.CheckpointError` unless ``folder`` holds this grid's models of this data."""
    if old.get("format") != FORMAT_TAG:
        raise checkpoints.CheckpointError(f"{folder} is not a genome-scale run's folder (format {old.get('format')!r})")
    theirs, ours = old["config"]["genome"], json.loads(json.dumps(config["genome"]))
    changed = sorted(k for k in set(theirs) | set(ours) if k != "models" and theirs.get(k) != ours.get(k))
    changed += [f"models.{k}" for k in ("n_filters", "n_layers") if theirs["models"].get(k) != ours["models"].get(k)]
    if changed:
        raise checkpoints.CheckpointError(f"{folder} was grown with other genome settings ({', '.join(changed)}): "
                                          "publish this configuration into a folder of its own")
    if dict(old["simulation"]) != dict(digest):
        raise checkpoints.CheckpointError(f"the simulated genome differs from the one {folder}'s models were trained "
                                          "on (sha256 of its files)")


def publish(config: Mapping[str, Any], folder: str | Path, results: str | Path, names: Sequence[str],
            digest: Mapping[str, str], root: str | Path = ".") -> dict[str, Any]:
    """Copy ``names`` (relative to ``results``) into ``folder`` and rewrite its manifest, atomically."""
    folder = Path(folder)
    with checkpoints.locked(folder):
        old = json.loads((folder / checkpoints.MANIFEST).read_text()) if (folder / checkpoints.MANIFEST).is_file() \
            else None
        if old is not None:
            check_fits(old, config, digest, folder)
        files = checkpoints.copy_files(folder, results, names, dict(old["files"]) if old else {})
        new = manifest(config, folder, files, digest, root)
        io.write_json(folder / checkpoints.MANIFEST, new)
    return new


def _train_job(job: Mapping[str, Any]) -> dict[str, Any]:
    """One model in a worker process: one thread, bpnet-lite's output in the model's log."""
    import contextlib

    from lookloss import bpnets

    Path(job["log"]).parent.mkdir(parents=True, exist_ok=True)
    with open(job["log"], "w") as handle, contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
        return bpnets.train(job["config"], job["sim"], job["truth"], job["arch"], job["seed"], job["out"], threads=1)


def grow(config: Mapping[str, Any], into: str | Path, jobs: int = 2, root: str | Path = ".", limit: int | None = None,
         until: float | None = None) -> dict[str, Any]:
    """Train the grid's models that ``into`` lacks, ``jobs`` at a time, publishing each; return
    the manifest (see the module docstring). ``limit``: train at most this many; ``until``:
    start none after this ``time.time()``."""
    from lookloss.grow import exit_with, pace

    into, results = Path(into), Path(root, config["results_dir"])
    digest = ensure_simulation(config, results, root)
    path = into / checkpoints.MANIFEST
    old = json.loads(path.read_text()) if path.is_file() else None
    if old is not None:
        check_fits(old, config, digest, into)
    listed = old["files"] if old else {}
    todo = [i for i in grid_order(config) if not all(f in listed for f in model_files(i))]
    current = old
    # finished in an earlier, interrupted call: published without training
    ready = [i for i in todo if all((results / f).is_file() for f in model_files(i))]
    if ready:
        current = publish(config, into, results, [f for i in ready for f in model_files(i)], digest, root)
    todo = [i for i in todo if i not in ready]
    if limit is not None:
        todo = todo[:limit]
    if current is None:  # a new folder: its manifest from the start
        current = publish(config, into, results, [], digest, root)
    context = multiprocessing.get_context("spawn")
    start, trained, failed = time.time(), 0, []
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=exit_with,
                             initargs=(os.getpid(),)) as pool:
        pending: dict[Future, Mapping[str, Any]] = {}
        while True:
            if todo and until is not None and time.time() >= until:
                log.info("starting no more models (the deadline has passed); %d left for a later call", len(todo))
                todo = []
            while todo and len(pending) < jobs:
                identity = todo.pop(0)
                out = results / "models" / key(identity)
                for name in MODEL_FILES:
                    (out / name).unlink(missing_ok=True)
                job = {"config": json.loads(json.dumps(config)), "sim": str(results / "simulation"), **identity,
                       "out": str(out), "log": str(results / "logs" / f"train-{key(identity).replace('/', '-')}.log")}
                pending[pool.submit(_train_job, job)] = identity
                log.info("training %s", key(identity))
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                identity = pending.pop(future)
                if future.exception() is not None:
                    log.error("%s failed: %s (see %s)", key(identity), future.exception(), results / "logs")
                    failed.append(key(identity))
                    continue
                current = publish(config, into, results, model_files(identity), digest, root)
                trained += 1
                record = current["models"][key(identity)]
                log.info("published %s (count r %.3f, %d epochs, %.0f s): %d of %d models%s", key(identity),
                         record["count_pearson"], record["epochs"], record["train_seconds"], current["n_models"],
                         current["n_grid"], pace(trained, time.time() - start, current["n_grid"] - current["n_models"]))
    if failed:
        raise RuntimeError(f"{len(failed)} model(s) failed to train (first: {failed[0]}); the others are published")
    return current
