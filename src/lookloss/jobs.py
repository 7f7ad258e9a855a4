"""What one workflow job does, as plain functions of paths (the scripts only unpack).

Keeping the jobs here lets a user run any step from Python without Snakemake, and
keeps the Snakemake scripts free of logic. Each job imports only what it needs, inside
its function (torch for training and analysis; scipy and the analysis modules for the
analysis; neither for the tables), since a job's imports are paid once per job and
there are hundreds of jobs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import lookloss
from lookloss import io, layout, provenance
from lookloss.layout import ONEHOT, PAIR_SETS, counts_key


def train_model(split_paths: Mapping[str, str | Path], out: Mapping[str, str | Path],
                identity: Mapping[str, Any], settings: Mapping[str, Any], threads: int = 1,
                log: logging.Logger | None = None) -> dict[str, Any]:
    """Train one model of the grid and write ``model.pt``, ``history.tsv``, ``metrics.json``.

    Parameters
    ----------
    split_paths : mapping
        ``train``, ``valid`` and ``test`` ``.npz`` files of the model's padding.
    out : mapping
        Paths ``model``, ``history`` and ``metrics`` to write.
    identity : mapping
        ``control``, ``padding``, ``arch``, ``l1``, ``seed`` of the model.
    settings : mapping
        The ``training`` config section.
    threads : int
        CPU threads for torch.
    log : logging.Logger, optional
        Receives one line per epoch.

    Returns
    -------
    dict
        The metrics written to ``metrics.json``.
    """
    from lookloss import devices, inference, models, training

    log = log or logging.getLogger("lookloss")
    devices.cpu_threads(threads)
    device = devices.resolve_device(settings["device"])
    control, seed = identity["control"], int(identity["seed"])
    x, y = training_data(split_paths, [control])
    model = models.build(identity["arch"], identity["padding"], x["train"].shape[-1],
                         generator=training.init_generator(seed))
    log.info("training %s on %s (%d threads): %d train, %d validation sequences",
             dict(identity), device, threads, len(x["train"]), len(x["valid"]))

    def on_epoch(row: Mapping[str, float]) -> None:
        log.info("epoch %4d  train_loss %.5f  val_loss %.5f  %.2f s",
                 row["epoch"], row["train_loss"], row["val_loss"], row["seconds"])

    cpu_start = time.process_time()
    result = training.train(
        model, x["train"], y["train"][control], x["valid"], y["valid"][control], l1=float(identity["l1"]),
        seed=seed, **_trainer_settings(settings), device=device, on_epoch=on_epoch,
    )
    model = model.cpu()
    test_mse = inference.mean_squared_error(inference.predict(model, x["test"]), y["test"][control])
    how = {"device": str(device), "threads": threads, "fused": False, "group_size": 1,
           "cpu_seconds": time.process_time() - cpu_start}
    return write_trained(out, model, result, test_mse, identity, settings, how, log)


def train_group(split_paths: Mapping[str, str | Path], outs: Sequence[Mapping[str, str | Path]],
                identities: Sequence[Mapping[str, Any]], settings: Mapping[str, Any], threads: int = 1,
                snapshots: str | Path | None = None, log: logging.Logger | None = None) -> list[dict[str, Any]]:
    """Train models of one architecture and padding fused (:func:`lookloss.fused.train`).

    Writes for each model the files :func:`train_model` writes, at the same paths and
    with the same content, except that ``metrics.json`` says the model was trained
    fused (``fused``, ``group_size``: how many models were trained together,
    ``cuda_graph``, ``numerics``, and on a GPU its name, ``gpu``). With
    ``training.max_fused`` set, the models are trained in fused batches of at most that
    many, one after another.

    Parameters
    ----------
    split_paths : mapping
        ``train``, ``valid`` and ``test`` ``.npz`` files of the group's padding.
    outs : sequence of mapping
        Per model, the paths ``model``, ``history`` and ``metrics``.
    identities : sequence of mapping
        Per model, ``control``, ``padding``, ``arch``, ``l1`` and ``seed``; every model
        has the same ``arch`` and ``padding``.
    settings : mapping
        The ``training`` config section.
    threads : int
        CPU threads for torch.
    snapshots : path, optional
        Folder for the snapshots that let a killed job resume where it was (one file
        per fused batch, at most a minute old: :func:`lookloss.fused.train`).
        They are removed once every model is written.

    Returns
    -------
    list of dict
        The metrics written, in the order of ``identities``.
    """
    import torch

    from lookloss import devices, fused, inference

    log = log or logging.getLogger("lookloss")
    devices.cpu_threads(threads)
    shapes = sorted({(i["arch"], i["padding"]) for i in identities})
    if len(shapes) != 1:
        raise ValueError(f"a fused group holds models of one architecture and padding; got {shapes}")
    (arch, padding), = shapes
    device = devices.resolve_device(settings["device"])
    if device.type != "cuda":
        log.info("training %d models fused on the CPU (training.fuse is true, no CUDA device); "
                 "one model per job is faster there (training.fuse: auto)", len(identities))
    members = [fused.Member(i["control"], float(i["l1"]), int(i["seed"])) for i in identities]
    x, y = training_data(split_paths, sorted({m.control for m in members}))
    size = settings["max_fused"] or len(members)
    firsts = range(0, len(members), size)
    snapshot_files = [None if snapshots is None else Path(snapshots) / f"batch_{number}.pt"
                      for number in range(len(firsts))]
    gpu = {"gpu": torch.cuda.get_device_name(device)} if device.type == "cuda" else {}
    written = []
    for first, snapshot in zip(firsts, snapshot_files, strict=True):
        batch = members[first:first + size]
        log.info("training %d %s/%s models fused on %s (%d threads): %d train, %d validation sequences",
                 len(batch), arch, padding, device, threads, len(x["train"]), len(x["valid"]))

        def on_epoch(epoch: int, active: int, seconds: float) -> None:
            log.info("epoch %4d  %d of %d models training  %.2f s", epoch, active, len(batch), seconds)

        try:
            results = fused.train(arch, padding, batch, x["train"], y["train"], x["valid"], y["valid"],
                                        **_trainer_settings(settings), device=device, on_epoch=on_epoch,
                                        snapshot=snapshot)
            net = fused.FusedRegressors.stack([r.model for r in results]).to(device)
            predictions = fused.predict_each(net, x["test"])
        except torch.OutOfMemoryError as error:
            raise RuntimeError(
                f"{device} ran out of memory training a fused group of {len(batch)} {arch}/{padding} models; "
                f"train them in smaller fused batches: set training.max_fused below {len(batch)} "
                f"(e.g. a file holding `training: {{max_fused: {max(1, len(batch) // 2)}}}`, given after the "
                "other config files with --configfile)"
            ) from error
        for k, r in enumerate(results):
            i = first + k
            test_mse = inference.mean_squared_error(predictions[k], y["test"][r.member.control])
            how = {"device": str(device), "threads": threads, "fused": True, "group_size": len(batch),
                   "cuda_graph": r.cuda_graph, "numerics": fused.numerics(device), **gpu}
            written.append(write_trained(outs[i], r.model, r.result, test_mse, identities[i], settings, how, log))
    if snapshots is not None:  # every model is written: the snapshots have served
        leftovers = list(Path(snapshots).glob(".batch_*.tmp"))  # of a job killed while it saved one
        for path in [*snapshot_files, *leftovers]:
            path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            Path(snapshots).rmdir()
    return written


def _trainer_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The keywords of the trainers taken from the ``training`` config section."""
    keys = ("batch_size", "learning_rate", "adam_eps", "max_epochs", "patience")
    return {key: settings[key] for key in keys}


def training_data(split_paths: Mapping[str, str | Path], controls: Sequence[str]
                  ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, np.ndarray]]]:
    """One-hot sequences per split, and per split the Anscombe-space targets of each control."""
    from lookloss.transforms import anscombe

    data = {name: io.load_npz(path) for name, path in split_paths.items()}
    x = {split: arrays[ONEHOT] for split, arrays in data.items()}
    y = {split: {c: anscombe(arrays[counts_key(c)].astype(np.float32)) for c in controls}
         for split, arrays in data.items()}
    return x, y


def write_trained(out: Mapping[str, str | Path], model: Any, result: Any, test_mse: float,
                  identity: Mapping[str, Any], settings: Mapping[str, Any], how: Mapping[str, Any],
                  log: logging.Logger) -> dict[str, Any]:
    """Write a trained model's ``model.pt``, ``history.tsv`` and ``metrics.json``; return the metrics.

    ``result`` is its :class:`lookloss.training.TrainResult`; ``how`` says where and
    how it was trained (device, threads, fusion).
    """
    import torch

    from lookloss import models

    outcome = {"best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
               "val_loss": result.best_val_loss, "test_mse": test_mse, "n_params": models.n_params(model)}
    # model.pt holds what the configuration determines (the same config gives the same
    # bytes); how and where this run went lives in metrics.json only
    meta = {"identity": dict(identity), "training": dict(settings), "metrics": outcome,
            "versions": {"lookloss": lookloss.__version__, "torch": str(torch.__version__)}}
    metrics = {**outcome, "train_seconds": result.train_seconds, **how, "cpu": provenance.cpu_model(),
               **provenance.commit()}
    models.save(out["model"], model, meta)
    io.write_tsv(out["history"], pd.DataFrame(result.history))
    io.write_json(out["metrics"], metrics)
    log.info("%s: best epoch %d of %d, val_loss %.5f, test MSE %.5f, %.1f s", layout.model_id(
        identity["arch"], identity["l1"], identity["seed"]), result.best_epoch, result.epochs_run,
        result.best_val_loss, test_mse, result.train_seconds)
    return metrics


def load_pair_sets(pair_paths: Mapping[str, str | Path]) -> dict[str, dict[str, np.ndarray]]:
    """Read pair sets (``pairs_{set}.npz`` of the simulation) keyed by set name."""
    return {name: io.load_npz(path) for name, path in pair_paths.items()}


def for_analysis(model: Any) -> Any:
    """A trained model as the analysis and the detectors run it: its float32 weights in float64.

    Float32 forward passes round differently on another instruction set (oneDNN's and the
    BLAS's kernels for AVX-512, AVX2 or SSE use other blockings and fused multiply-adds), by
    enough to move ``models.tsv``'s 6 significant digits; in float64 the same differences
    are about 1e-15 of a value, so the tables are the same bytes on any x86-64 CPU
    (``tests/test_jobs.py`` masks the wider instruction sets to check it; the cost is in
    BENCHMARKS.md).
    """
    import torch

    return model.to(torch.float64)


def analyse_model(model_path: str | Path, metrics_path: str | Path,
                  pair_sets: Mapping[str, str | Path | Mapping[str, np.ndarray]],
                  out_paths: Mapping[str, str | Path], stats_path: str | Path,
                  identity: Mapping[str, Any], log: logging.Logger | None = None) -> dict[str, Any]:
    """Interaction tables of one model on every pair set, and its row of ``models.tsv``.

    Parameters
    ----------
    model_path, metrics_path : path
        The trained model and its ``metrics.json``.
    pair_sets : mapping
        Pair set name (``test``, ``train``, ``shuffled``, ``randpos``) to its
        ``pairs_{set}.npz`` or to the arrays already loaded (:func:`load_pair_sets`).
    out_paths : mapping
        Pair set name to the Parquet file to write.
    stats_path : path
        Where the model's statistics are written as JSON.
    identity : mapping
        ``control``, ``padding``, ``arch``, ``l1``, ``seed``: the model's coordinates.

    Returns
    -------
    dict
        The model's row: ``identity``, ``model`` and :func:`lookloss.tables.model_row`.
    """
    from lookloss import interactions, models, tables

    log = log or logging.getLogger("lookloss")
    model = for_analysis(models.load(model_path, arch=identity["arch"], padding=identity["padding"]))
    metrics = json.loads(Path(metrics_path).read_text())
    sets: dict[str, pd.DataFrame] = {}
    seen: list[tuple[np.ndarray, np.ndarray]] = []  # (s_gt, f_gt) of the sets done so far
    for name in PAIR_SETS:
        pairs = pair_sets[name]
        if isinstance(pairs, (str, Path)):
            pairs = io.load_npz(pairs)
        # the random-position null keeps the test sequences themselves: predict them once
        known = next(({"gt": f_gt} for s_gt, f_gt in seen if np.array_equal(s_gt, pairs["s_gt"])), None)
        sets[name] = interactions.interaction_table(model, pairs, identity["control"], known=known)
        seen.append((pairs["s_gt"], sets[name]["f_gt"].to_numpy()))
        io.write_parquet(out_paths[name], sets[name])
        log.info("%s: %d pairs, mean |I| %.3f, median delta %.4f", name, len(sets[name]),
                 sets[name]["interaction"].abs().mean(), sets[name]["delta"].median())
    row = {**identity,
           "model": layout.model_id(identity["arch"], identity["l1"], identity["seed"]),
           **tables.model_row(sets, metrics)}
    io.write_json(stats_path, io.plain(row))
    return row


def analyse_models(jobs: Sequence[Mapping[str, Any]], pair_paths: Mapping[str, str | Path],
                   log: logging.Logger | None = None) -> list[dict[str, Any]]:
    """:func:`analyse_model` for several models of one padding, reading the pair sets once.

    One workflow job analyses the seeds of one control x padding x arch x L1 this
    way: a process start (importing torch, pandas and scipy) costs about as much
    CPU time as the analysis of one model at paper scale. Like
    :func:`lookloss.training.train`, this applies
    :func:`lookloss.devices.keep_freed_memory` to the process.

    Parameters
    ----------
    jobs : sequence of mapping
        Per model: ``model`` and ``metrics`` (paths), ``tables`` (pair set name to
        Parquet path), ``stats`` (path) and ``identity``, as :func:`analyse_model` takes them.
    pair_paths : mapping
        Pair set name to its ``pairs_{set}.npz``.

    Returns
    -------
    list of dict
        The models' rows, in the order of ``jobs``.
    """
    from lookloss import devices

    log = log or logging.getLogger("lookloss")
    devices.keep_freed_memory()  # else every ~15 MB activation is a fresh mmap: 15 s of page faults per job
    pair_sets = load_pair_sets(pair_paths)
    rows = []
    for job in jobs:
        log.info("model %s", dict(job["identity"]))
        rows.append(analyse_model(job["model"], job["metrics"], pair_sets, job["tables"], job["stats"],
                                  job["identity"], log=log))
    return rows


def write_tables(stats_paths: Sequence[str | Path], truth_paths: Sequence[str | Path], alpha: float,
                 consistency_fraction: float, controls: Mapping[str, Mapping[str, float]],
                 out: Mapping[str, str | Path]) -> pd.DataFrame:
    """Collect per-model statistics into ``models.tsv``, ``summary.tsv``, ``consistency.tsv``
    and ``power.tsv``.

    ``truth_paths`` are test-pair tables (``interactions/{control}/{padding}/{model}/test.parquet``),
    one per control and padding: their true effects, the same for every model, give
    ``power.tsv`` the strength of each control's interaction. ``controls`` is the
    ``simulation.controls`` config section.
    """
    from lookloss import tables

    rows = [json.loads(Path(p).read_text()) for p in stats_paths]
    order = ["control", "padding", "arch", "l1", "seed"]
    model_table = pd.DataFrame(rows).sort_values(order, kind="stable").reset_index(drop=True)
    io.write_tsv(out["models"], model_table)
    io.write_tsv(out["summary"], tables.summary_table(model_table, alpha))
    io.write_tsv(out["consistency"], tables.consistency_table(model_table, alpha, consistency_fraction))
    io.write_tsv(out["power"], tables.power_table(model_table, true_strength(truth_paths), alpha, controls))
    return model_table


def true_strength(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Per control and padding, the mean true interaction and joint effect over the test pairs."""
    rows = []
    for path in paths:
        where = layout.parse_model_path(path)
        truth = pd.read_parquet(path, columns=["true_m_g", "true_m_t", "true_interaction"])
        joint = truth["true_m_g"] + truth["true_m_t"] + truth["true_interaction"]
        rows.append({"control": where.control, "padding": where.padding,
                     "true_mean_I": truth["true_interaction"].mean(), "true_mean_joint": joint.mean()})
    return pd.DataFrame(rows, columns=["control", "padding", "true_mean_I", "true_mean_joint"])


def detect_models(jobs: Sequence[Mapping[str, Any]], pair_paths: Mapping[str, str | Path],
                  simulation_section: Mapping[str, Any], settings: Mapping[str, int], base_dir: str | Path = ".",
                  log: logging.Logger | None = None) -> list[dict[str, Any]]:
    """The detectors that run on models (:data:`lookloss.detectors.MODEL_DETECTORS`: GIA and
    DFIM) on several models of one padding; one JSON each.

    The detectors' inputs (their ``prepare``: backgrounds, configurations, k-mers, pair
    subsample and its references) depend only on the simulation, so they are prepared once
    per job.

    Parameters
    ----------
    jobs : sequence of mapping
        Per model: ``model`` (path), ``stats`` (the JSON to write) and ``identity``
        (``control``, ``padding``, ``arch``, ``l1``, ``seed``).
    pair_paths : mapping
        ``test`` and ``shuffled`` to the padding's ``pairs_{set}.npz``.
    simulation_section, settings : mapping
        The ``simulation`` and ``detectors`` config sections.
    base_dir : path
        What the motif file's path is relative to.

    Returns
    -------
    list of dict
        The rows written: identity, ``model`` and each detector's statistics (their run
        times only in the log).
    """
    from lookloss import models, simulation
    from lookloss.detectors import MODEL_DETECTORS
    from lookloss.detectors.explain import explainable

    log = log or logging.getLogger("lookloss")
    sim = simulation.Simulation.from_config(simulation_section, base_dir=base_dir)
    test, shuffled = io.load_npz(pair_paths["test"]), io.load_npz(pair_paths["shuffled"])
    inputs = {d.name: d.load().prepare(sim, test, shuffled, settings) for d in MODEL_DETECTORS}
    rows = []
    for job in jobs:
        identity = job["identity"]
        net = explainable(for_analysis(models.load(job["model"], arch=identity["arch"], padding=identity["padding"])))
        found: dict[str, Any] = {}
        for detector in MODEL_DETECTORS:
            found.update(detector.load().run(net, inputs[detector.name]))
        # the same configuration, the same bytes: run times go to the log only
        row = {**identity, "model": layout.model_id(identity["arch"], identity["l1"], identity["seed"]),
               **{k: v for k, v in found.items() if not k.endswith("_seconds")}}
        io.write_json(job["stats"], io.plain(row))
        log.info("%s: %s", dict(identity), ", ".join(
            f"{d.name} p {found[d.column]:.3g} ({found[f'{d.name}_seconds']:.1f} s)" for d in MODEL_DETECTORS))
        rows.append(row)
    return rows


def write_detector_table(models_path: str | Path, stats_paths: Sequence[str | Path], alpha: float,
                         controls: Mapping[str, Mapping[str, float]], out: Mapping[str, str | Path]) -> pd.DataFrame:
    """``tables/detectors.tsv`` (:func:`lookloss.tables.detector_table`) and the detectors' per-model table
    ``tables/detector_models.tsv`` from ``models.tsv`` and every model's detector statistics."""
    from lookloss import tables

    order = ["control", "padding", "arch", "l1", "seed"]
    found = pd.DataFrame([json.loads(Path(p).read_text()) for p in stats_paths])
    found = found.sort_values(order, kind="stable").reset_index(drop=True)
    found = found[[*order, "model", *sorted(set(found.columns) - {*order, "model"})]]
    table = tables.detector_table(pd.read_csv(models_path, sep="\t"), found, alpha, controls)
    io.write_tsv(out["per_model"], found)
    io.write_tsv(out["table"], table)
    return table
