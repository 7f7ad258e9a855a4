"""Grow a published run model by model: train what it lacks, publish each model as it ends.

The study at paper scale is 180 independent trainings of 6-15 minutes each on a CPU,
more than one working session holds. :func:`grow` lets it grow across sessions and
machines, from a clean checkout, with one command (``lookloss grow``):

1. The simulation is rebuilt from the configuration (or taken from the results folder)
   and its sha256 digest is checked against the one the published folder's manifest
   records: the new models are trained on the very data of the published ones.
2. The models of the grid that the published folder lacks are trained, ``jobs`` at a
   time, each in its own process with one torch thread (:func:`lookloss.jobs.train_model`,
   the workflow's ``train`` job, writing the same files to the same places). They are
   taken in :func:`grid_order`, so that a partial run holds about as many models of
   every control x padding x architecture. Where training fuses (``training.fuse``,
   resolved as the workflow does: on a GPU), the missing models of each padding x
   architecture are one job instead (:func:`lookloss.jobs.train_group`, the workflow's
   ``train_group``), which resumes from its snapshot if a call was killed.
3. Each model is published the moment it is finished
   (:func:`lookloss.checkpoints.add_files`): its files are copied and the manifest is
   replaced, atomically, so the folder is valid at every moment and can be committed at
   any time. A model is finished when its ``metrics.json`` exists, which is written
   last; a killed job leaves none, and the model is trained again from the start.

Models already finished in the results folder (of an earlier, interrupted call) are
published without training, after checking that they record this grid's identity
and training settings.

With ``reuse`` (``lookloss grow --reuse paper``), a model that another published folder
holds as the very same computation is copied instead of trained (:func:`reuse`): same
architecture, padding, L1 weight, seed and training settings, trained the way this run
trains (the same kind of device, fused or not), and byte-identical sequences and counts
(:func:`data_digests`), under whatever name that run gave its control. The power sweep's additive control ``e1`` is such a case: it has the study's
``neg`` rates, so its counts are the same draws.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lookloss import checkpoints, io, layout
from lookloss.config import fuse_training, grid, training_job_settings

log = logging.getLogger("lookloss")
#: What a simulated folder was made from (the ``simulation`` section), written beside it.
MADE_FROM = "made_from.json"


def grid_order(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Identities of the grid's models, in the order :func:`grow` trains them.

    Seed by seed; within a seed, L1 weight by L1 weight; within those, every control x
    padding x architecture once. After any prefix, every control x padding x
    architecture holds the same number of models, give or take one.
    """
    models = config["models"]
    rank = {key: {v: i for i, v in enumerate(models[name])} for key, name in
            (("seed", "seeds"), ("l1", "l1"), ("arch", "archs"), ("padding", "paddings"), ("control", "controls"))}
    rank["l1"] = {float(v): i for v, i in rank["l1"].items()}
    return sorted(grid(config), key=lambda i: tuple(rank[k][i[k]] for k in ("seed", "l1", "arch", "padding",
                                                                             "control")))


def key(identity: Mapping[str, Any]) -> str:
    """The manifest's name of a model (:func:`lookloss.checkpoints.model_key`)."""
    return checkpoints.model_key(identity["control"], identity["padding"],
                                 layout.model_id(identity["arch"], identity["l1"], identity["seed"]))


def model_paths(results: str | Path, identity: Mapping[str, Any]) -> dict[str, Path]:
    """``model``, ``history`` and ``metrics`` of one model in a results folder."""
    folder = Path(results, "models", key(identity))
    return {"model": folder / "model.pt", "history": folder / "history.tsv", "metrics": folder / "metrics.json"}


def ensure_simulation(config: Mapping[str, Any], results: str | Path, root: str | Path = ".") -> dict[str, str]:
    """Simulate every padding whose files the results folder lacks, or holds from another
    ``simulation`` section; return the digest of the simulated files."""
    from lookloss import simulation

    section = json.loads(json.dumps(config["simulation"]))  # as JSON stores it
    for padding in config["models"]["paddings"]:
        folder = Path(results, "simulation", padding)
        names = [name for name in checkpoints.simulation_files(config) if name.startswith(f"simulation/{padding}/")]
        made_from = folder / MADE_FROM
        same = made_from.is_file() and json.loads(made_from.read_text()) == section
        if not same or not all(Path(results, name).is_file() for name in names):
            log.info("simulating padding %s into %s", padding, folder)
            made_from.unlink(missing_ok=True)
            simulation.write(simulation.Simulation.from_config(config["simulation"], base_dir=root), padding, folder)
            io.write_json(made_from, section)
    return checkpoints.simulation_digest(config, results)


def finished(results: str | Path, identity: Mapping[str, Any], settings: Mapping[str, Any]) -> bool:
    """Whether ``results`` holds this model, finished, trained with these settings."""
    from lookloss import models

    paths = model_paths(results, identity)
    if not all(path.is_file() for path in paths.values()):
        return False
    try:
        meta = models.read_record(paths["model"])["meta"]
    except ValueError:
        return False
    same_settings = all(meta.get("training", {}).get(k) == settings.get(k) for k in checkpoints.TRAINING_KEYS)
    return meta.get("identity") == dict(identity) and same_settings


def data_digests(config: Mapping[str, Any], results: str | Path) -> dict[tuple[str, str], str]:
    """sha256, per (padding, control) of the grid, of what its models are trained and tested on.

    That is the one-hot sequences and the control's counts of the train, valid and test
    splits (what :func:`lookloss.jobs.training_data` reads). Two models of equal
    architecture, L1 weight, seed and training settings whose data have equal digests
    are the same computation, whatever their controls are called.
    """
    digests = {}
    for padding in config["models"]["paddings"]:
        arrays = {s: io.load_npz(Path(results, "simulation", padding, f"{s}.npz")) for s in layout.SPLITS}
        for control in config["models"]["controls"]:
            sha = hashlib.sha256()
            for split in layout.SPLITS:
                for array in (arrays[split][layout.ONEHOT], arrays[split][layout.counts_key(control)]):
                    sha.update(f"{array.dtype}{array.shape}".encode())
                    sha.update(array.tobytes())
            digests[(padding, control)] = sha.hexdigest()
    return digests


def reuse(config: Mapping[str, Any], source: str | Path, todo: Sequence[Mapping[str, Any]],
          root: str | Path = ".") -> list[str]:
    """Copy into the results folder the models of ``todo`` that the published folder
    ``source`` holds as the same computation; return their keys (:func:`key`).

    A model is taken when it was trained the way this run trains (same training
    settings; the same kind of device, and fused or not: :func:`fuse`) and its padding x
    control has the same :func:`data_digests` here and there. ``source``'s data are
    rebuilt from its manifest's configuration into ``<results>/reuse-source`` (never
    into another run's folder) and checked against its manifest. Each copy is checked
    against that manifest (:func:`lookloss.checkpoints.import_models`), renamed to this
    grid's identity (:func:`lookloss.models.relabel`) and written like a trained model,
    its ``metrics.json`` last and naming the original (``reused_from``); its commit, CPU
    and seconds are those of the original training.

    Raises
    ------
    lookloss.checkpoints.CheckpointError
        ``source`` is not a published folder, or a file of a model to copy is missing or
        corrupt.
    """
    from lookloss import devices, models

    published = checkpoints.read_manifest(source)
    theirs = published["config"]
    changed = [k for k in checkpoints.TRAINING_KEYS if theirs["training"].get(k) != config["training"].get(k)]
    if changed:
        log.info("reusing no model of %s: its training keys %s differ from this run's", source, changed)
        return []
    results = Path(root, config["results_dir"])
    scratch = results / "reuse-source"
    checkpoints.check_fits(published, theirs, ensure_simulation(theirs, scratch, root), source)
    ours, by_data = data_digests(config, results), {(p, d): c for (p, c), d in data_digests(theirs, scratch).items()}
    how = (devices.resolve_device(config["training"]["device"]).type, fuse(config))
    name = _shown(source, root)
    done = []
    for identity in todo:
        padding = identity["padding"]
        original = {**identity, "control": by_data.get((padding, ours[(padding, identity["control"])]))}
        record = published["models"].get(key(original)) if original["control"] else None
        if record is None or (str(record["device"]).split(":")[0], bool(record["fused"])) != how:
            continue
        out = model_paths(results, identity)
        out["metrics"].unlink(missing_ok=True)  # unfinished until its metrics.json is written again
        with tempfile.TemporaryDirectory(dir=results) as tmp:
            staged = {part: Path(tmp, path.name) for part, path in out.items()}
            checkpoints.import_models(source, [original], [staged])
            models.relabel(staged["model"], out["model"], identity)
            with io.atomic_path(out["history"]) as path:
                path.write_bytes(staged["history"].read_bytes())
            metrics = json.loads(staged["metrics"].read_text())
            io.write_json(out["metrics"], {**metrics, checkpoints.REUSED_FROM: f"{name}:{key(original)}"})
        done.append(key(identity))
    log.info("reused %d model(s) of %s: the same computation on the same data", len(done), source)
    return done


def _shown(path: str | Path, root: str | Path) -> str:
    """``path`` relative to the repository ``root`` where it lies inside, else absolute."""
    path, root = Path(path).resolve(), Path(root).resolve()
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def grow(config: Mapping[str, Any], folder: str | Path, jobs: int = 2, root: str | Path = ".",
         limit: int | None = None, until: float | None = None, reuse_from: str | Path | None = None
         ) -> dict[str, Any]:
    """Train the grid's models that ``folder`` lacks and publish each one as it is finished.

    Parameters
    ----------
    config : mapping
        The run's configuration, checked (:func:`lookloss.config.check`); its
        ``results_dir`` (relative to ``root``) holds the simulation and the models
        being trained.
    folder : path
        The published folder (created if new; e.g. ``paper``).
    jobs : int
        Models trained at once, one process and one torch thread each.
    root : path
        The repository, for relative paths and the commit.
    limit : int, optional
        Train at most this many models in this call (0: only publish what is finished).
    until : float, optional
        Start no model after this time (``time.time()`` seconds): the models in flight
        then are finished and published, and the call returns. For a machine whose end
        is known, so that no model is killed halfway.
    reuse_from : path, optional
        Another published folder: the models it holds as the same computation are
        copied, not trained (:func:`reuse`).

    Returns
    -------
    dict
        The manifest of ``folder`` at the end.

    Raises
    ------
    lookloss.checkpoints.CheckpointError
        The folder was published from other data or training settings, or one of its
        files does not match its sha256.
    """
    results, folder = Path(root, config["results_dir"]), Path(folder)
    settings = training_job_settings(config)
    digest = ensure_simulation(config, results, root)
    manifest = _read_and_verify(folder, config, digest)
    publisher = _Publisher(config, folder, results, digest, root)
    published = set(manifest["models"]) if manifest else set()
    order = [i for i in grid_order(config) if key(i) not in published]
    if reuse_from is not None:
        reuse(config, reuse_from, [i for i in order if not finished(results, i, settings)], root)
    ready = [key(i) for i in order if finished(results, i, settings)]
    if ready:
        log.info("publishing %d model(s) finished earlier in %s", len(ready), results)
        manifest = publisher.publish(ready)
    todo = [i for i in order if key(i) not in ready][:limit]
    total = len(grid_order(config))
    log.info("%s holds %d of %d models; training %d now, %d at a time",
             folder, total - len(order) + len(ready), total, len(todo), jobs)
    if todo:
        manifest = _train_and_publish(todo, publisher, jobs, until)
    return manifest if manifest is not None else checkpoints.read_manifest(folder)


@dataclass(frozen=True)
class _Publisher:
    """Where finished models go: :func:`lookloss.checkpoints.add_files` with this run's settings."""

    config: Mapping[str, Any]
    folder: Path
    results: Path
    digest: Mapping[str, str]
    root: str | Path

    def publish(self, keys: Sequence[str]) -> dict[str, Any]:
        """Publish the finished models ``keys`` (:func:`key`); the new manifest."""
        files = [name for k in keys for name in checkpoints.model_files(*k.split("/"))]  # metrics.json last
        return checkpoints.add_files(self.folder, self.results, files, self.config, self.digest, self.root)


def _read_and_verify(folder: Path, config: Mapping[str, Any], digest: Mapping[str, str]) -> dict[str, Any] | None:
    """The folder's manifest (None if new), checked to fit this run, every published file intact."""
    if not (folder / checkpoints.MANIFEST).is_file():
        return None
    manifest = checkpoints.read_manifest(folder)
    checkpoints.check_fits(manifest, config, digest, folder)
    for name, sha in manifest["files"].items():
        path = folder / name
        if not path.is_file() or checkpoints.sha256(path) != sha:
            raise checkpoints.CheckpointError(f"published file {str(path)!r} is missing or does not match its "
                                              f"sha256 in {str(folder / checkpoints.MANIFEST)!r}")
    return manifest


def units(todo: Sequence[Mapping[str, Any]], fused: bool) -> list[list[Mapping[str, Any]]]:
    """The training jobs of ``todo``: one model each, or with ``fused`` one per padding x
    architecture (its members in the order of ``todo``), in the order of their first model."""
    if not fused:
        return [[identity] for identity in todo]
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for identity in todo:
        groups.setdefault((identity["padding"], identity["arch"]), []).append(identity)
    return list(groups.values())


def _train_and_publish(todo: Sequence[Mapping[str, Any]], publisher: _Publisher, jobs: int,
                       until: float | None = None) -> dict[str, Any] | None:
    """Train ``todo`` in order, ``jobs`` at a time, starting none after ``until``; publish
    each job's models as it ends.

    Failures are raised at the end, after the other jobs' models are published.
    """
    results = publisher.results
    work = units(todo, fuse(publisher.config))
    manifest, failed, start, trained = None, [], time.time(), 0
    context = multiprocessing.get_context("spawn")  # a fresh interpreter per worker: no forked torch state
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=exit_with,
                             initargs=(os.getpid(),)) as pool:
        pending: dict[Future, list[Mapping[str, Any]]] = {}
        while True:
            if work and until is not None and time.time() >= until:
                log.info("starting no more models (the deadline has passed); %d job(s) left for a later call",
                         len(work))
                work = []
            while work and len(pending) < jobs:  # submit in order, never more than run at once
                unit = work.pop(0)
                pending[pool.submit(_train_job, _job(unit, publisher))] = unit
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                names = [key(i) for i in pending.pop(future)]
                if future.exception() is not None:
                    log.error("%s failed: %s (see %s)", names[0], future.exception(), results / "logs")
                    failed += names
                    continue
                manifest = publisher.publish(names)
                trained += len(names)
                log.info("published %s: %d of %d models%s", ", ".join(names), manifest["n_models"], manifest["n_grid"],
                         pace(trained, time.time() - start, manifest["n_grid"] - manifest["n_models"]))
    if failed:
        raise RuntimeError(f"{len(failed)} model(s) failed to train (first: {failed[0]}); the others are published")
    return manifest


def exit_with(parent: int, every: float = 2.0) -> None:
    """End this worker process as soon as process ``parent``, the grow that started it, is gone.

    A training job runs for minutes. When the grow is killed (``kill``, the end of a
    working session) its workers would otherwise train on, orphaned, for a grow that
    will never publish their models. A daemon thread checks every ``every`` seconds that
    this process's parent is still ``parent`` and exits the process at once when it is
    not; the unfinished model is retrained from the start by the next call, as after a
    hard kill.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-grow", daemon=True).start()


def pace(trained: int, seconds: float, left: int) -> str:
    """How fast this call trains, and when the models ``left`` would be done at that pace (for the log)."""
    if trained < 1 or seconds <= 0:
        return ""
    per_hour = trained / seconds * 3600
    return (f" ({per_hour:.1f} per hour in this call"
            f"{f'; {left} left, about {left / per_hour:.1f} h at that pace' if left else ''})")


def fuse(config: Mapping[str, Any]) -> bool:
    """``training.fuse`` resolved as the workflow resolves it (:func:`lookloss.config.fuse_training`):
    here, on this machine, where no profile assigns GPUs, ``auto`` fuses where a GPU is visible."""
    from lookloss.devices import gpu_visible

    return fuse_training(config, gpu_visible())


def _job(unit: Sequence[Mapping[str, Any]], publisher: _Publisher) -> dict[str, Any]:
    """What a worker needs to train ``unit`` into the results folder (its stale files removed first)."""
    config, results = publisher.config, publisher.results
    padding = unit[0]["padding"]
    outs = [model_paths(results, identity) for identity in unit]
    for out in outs:
        for path in (out["metrics"], out["model"], out["history"]):  # a stale file never counts as finished
            path.unlink(missing_ok=True)
    fused = fuse(config)
    name = f"train_group/{padding}/{unit[0]['arch']}" if fused else f"train/{key(unit[0])}"
    return {"splits": {s: results / "simulation" / padding / f"{s}.npz" for s in layout.SPLITS},
            "outs": outs, "identities": [dict(i) for i in unit], "fused": fused,
            "settings": {**training_job_settings(config), "max_fused": config["training"]["max_fused"]},
            "snapshots": results / "snapshots" / name.replace("/", "-"), "log": results / "logs" / f"{name}.log"}


def _train_job(job: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One training job in a worker process (:func:`lookloss.jobs.train_model` or, fused,
    :func:`lookloss.jobs.train_group`): one thread, its log in its file only."""
    from lookloss import jobs
    from lookloss.logs import job_logger

    log_file = job_logger(str(job["log"]), echo=False)
    if job["fused"]:
        return jobs.train_group(job["splits"], job["outs"], job["identities"], job["settings"],
                                snapshots=job["snapshots"], log=log_file)
    settings = {k: v for k, v in job["settings"].items() if k != "max_fused"}
    return [jobs.train_model(job["splits"], job["outs"][0], job["identities"][0], settings, threads=1, log=log_file)]
