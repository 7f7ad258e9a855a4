"""The study's answer from a published folder, as far as it has grown (``lookloss reading``).

While the paper-scale run grows (:mod:`lookloss.grow`), ``paper/README.md`` shows the
study's table for the models published so far (and the front page, ``README.md``, what each
detector flags). :func:`analyse_published` rebuilds the
simulation, checks it and every model against the folder's manifest, analyses each
published model once (:func:`lookloss.jobs.analyse_models`, the workflow's analysis
job), runs the detectors on it (:func:`lookloss.jobs.detect_models`) and writes the
study's tables (:func:`lookloss.jobs.write_tables`,
:func:`lookloss.jobs.write_detector_table`); :mod:`lookloss.report` turns them into the
pages' text (:func:`lookloss.report.study_text`).

Once the folder is complete, the workflow's checkpoint route
(``presets/paper-checkpoints.yaml``) re-derives the same tables and every figure.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from lookloss import checkpoints, io, layout

log = logging.getLogger("lookloss")

#: The tables :func:`analyse_published` writes (``tables/{name}.tsv``).
TABLES = layout.STUDY_TABLES + layout.DETECTOR_TABLES


def analyse_published(config: Mapping[str, Any], folder: str | Path, root: str | Path = ".") -> pd.DataFrame:
    """Analyse every model the published ``folder`` holds and run the detectors on it;
    write the tables (:data:`TABLES`) and return ``models.tsv``.

    The configuration's ``results_dir`` (relative to ``root``) receives the
    simulation, a verified copy of each published model, its interaction tables and
    statistics, its detector statistics, and ``tables/``. A model analysed by an
    earlier call (its statistics newer than its copy) is not analysed again; its
    detector statistics are redone when the ``detectors`` settings or the code of
    :mod:`lookloss.detectors` changed since (``detectors/key.json``).

    Raises
    ------
    lookloss.checkpoints.CheckpointError
        The folder holds no model, was published from other data or training, or a
        file does not match its sha256.
    """
    from lookloss import devices, grow, jobs

    devices.cpu_threads(1)  # as the workflow's analysis jobs: the same numbers as its tables
    results, folder = Path(root, config["results_dir"]), Path(folder)
    manifest = checkpoints.read_manifest(folder)
    digest = grow.ensure_simulation(config, results, root)
    checkpoints.check_fits(manifest, config, digest, folder)
    held = checkpoints.published_models(manifest, config)
    if not held:
        raise checkpoints.CheckpointError(f"{str(folder)!r} holds no model of this configuration's grid yet")
    identities = [_identity(c, p, m) for c, p, m in held]
    _import_new(folder, results, identities, manifest["files"])
    every = [_analysis_job(results, i) for i in identities]
    _analyse_new(config, results, every, root)
    first = {}
    for job in every:
        first.setdefault((job["identity"]["control"], job["identity"]["padding"]), job["tables"]["test"])
    alpha, controls = config["analysis"]["alpha"], {c: config["simulation"]["controls"][c]
                                                    for c in config["models"]["controls"]}
    outs = {name: results / "tables" / f"{name}.tsv" for name in TABLES}
    models = jobs.write_tables([job["stats"] for job in every], list(first.values()), alpha,
                               config["analysis"]["consistency_fraction"], controls, outs)
    jobs.write_detector_table(outs["models"], [job["detectors"] for job in every], alpha, controls,
                              {"table": outs["detectors"], "per_model": outs["detector_models"]})
    return models


def _analyse_new(config: Mapping[str, Any], results: Path, todo: list[dict[str, Any]], root: str | Path) -> None:
    """Analyse the jobs not analysed yet and run the detectors where their statistics are stale."""
    from lookloss import jobs

    key_file = results / "detectors" / "key.json"
    key = {"key": _detector_key(config["detectors"])}
    same_key = key_file.is_file() and json.loads(key_file.read_text()) == key
    for padding in config["models"]["paddings"]:
        here = [job for job in todo if job["identity"]["padding"] == padding]
        pairs = {s: results / "simulation" / padding / f"{layout.pairs_name(s)}.npz" for s in layout.PAIR_SETS}
        analyse = [job for job in here if not _analysed(job)]
        if analyse:
            log.info("analysing %d %s model(s)", len(analyse), padding)
            jobs.analyse_models(analyse, pairs, log=log)
        detect = [{**job, "stats": job["detectors"]} for job in here
                  if not (same_key and _fresh([job["detectors"]], job["model"]))]
        if detect:
            log.info("running the detectors on %d %s model(s)", len(detect), padding)
            jobs.detect_models(detect, {"test": pairs["test"], "shuffled": pairs["shuffled"]}, config["simulation"],
                               config["detectors"], base_dir=root, log=log)
    io.write_json(key_file, key)


def _detector_key(settings: Mapping[str, Any]) -> str:
    """sha256 of the detectors' settings and of the code of :mod:`lookloss.detectors` (every module)."""
    from lookloss import detectors

    code = sorted(Path(detectors.__file__).parent.glob("*.py"))
    text = json.dumps(dict(settings), sort_keys=True) + "".join(path.read_text() for path in code)
    return hashlib.sha256(text.encode()).hexdigest()


def as_read(manifest: Mapping[str, Any], models: pd.DataFrame, folder: str | Path) -> dict[str, Any]:
    """``manifest`` cut to the ``models`` a reading analysed, with ``complete`` as they make it.

    A run growing ``folder`` beside the reading may publish models after it has listed them;
    the text then counts and costs only those it read, and says on stderr that it lags.
    """
    read = {checkpoints.model_key(m.control, m.padding, m.model) for m in models.itertuples()}
    held = {key: record for key, record in manifest["models"].items() if key in read}
    if len(held) < len(manifest["models"]):
        print(f"lookloss reading: {folder} gained {len(manifest['models']) - len(held)} model(s) while this ran; "
              f"the reading holds the {len(held)} it analysed; run it again to read them all", file=sys.stderr)
    return {**manifest, "models": held, "n_models": len(held), "complete": len(held) == manifest["n_grid"]}


def _identity(control: str, padding: str, model: str) -> dict[str, Any]:
    parsed = layout.parse_model_id(model)
    return {"control": control, "padding": padding, "arch": parsed.arch, "l1": float(parsed.l1),
            "seed": int(parsed.seed)}


def _import_new(folder: Path, results: Path, identities: list[dict[str, Any]], listed: Mapping[str, str]) -> None:
    """Copy (verified) the published models whose copy in ``results`` is missing or different."""
    new, outs = [], []
    for identity in identities:
        paths = _analysis_job(results, identity)
        names = checkpoints.model_files(identity["control"], identity["padding"], paths["model"].parent.name)
        copies = [results / name for name in names]
        if all(p.is_file() and checkpoints.sha256(p) == listed[n] for p, n in zip(copies, names, strict=True)):
            continue
        new.append(identity)
        outs.append({"model": copies[0], "history": copies[1], "metrics": copies[2]})
    if new:
        checkpoints.import_models(folder, new, outs)


def _analysis_job(results: Path, identity: Mapping[str, Any]) -> dict[str, Any]:
    """One model's analysis job, as :func:`lookloss.jobs.analyse_models` takes it, and
    where its detector statistics go (:func:`lookloss.jobs.detect_models`)."""
    name = layout.model_id(identity["arch"], identity["l1"], identity["seed"])
    folder = {stage: results / layout.model_dir(stage, identity["control"], identity["padding"], name)
              for stage in ("models", "interactions", "detectors")}
    tables = {s: folder["interactions"] / f"{s}.parquet" for s in layout.PAIR_SETS}
    return {"model": folder["models"] / "model.pt", "metrics": folder["models"] / "metrics.json",
            "identity": dict(identity), "tables": tables, "stats": folder["interactions"] / "stats.json",
            "detectors": folder["detectors"] / "stats.json"}


def _analysed(job: Mapping[str, Any]) -> bool:
    """Whether the job's analysis outputs exist and are newer than its model."""
    return _fresh([job["stats"], *job["tables"].values()], job["model"])


def _fresh(outputs: Sequence[Path], source: Path) -> bool:
    """Whether every output exists and is newer than ``source``."""
    return all(p.is_file() for p in outputs) and min(p.stat().st_mtime for p in outputs) >= source.stat().st_mtime
