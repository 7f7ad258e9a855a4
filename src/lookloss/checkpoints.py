"""Published runs: trained models and results with a manifest, and their reuse.

A *published* folder (``paper/`` holds the study at paper scale) contains every model's
``model.pt``, ``history.tsv`` and ``metrics.json`` under ``models/`` (the layout of a
results folder), the tables and the figures as PNG, and ``manifest.json``: the sha256
of every file, and the commit, configuration, devices, package versions and phase
times of the run. :func:`publish` writes one from a finished run.

With ``models.checkpoints: <folder>`` the workflow takes the models from such a folder
instead of training them (rule ``import_models``): :func:`check_manifest` checks at
start-up that the folder's run simulated the same data and holds every model of the
grid, and :func:`import_models` checks each file's sha256 and identity before copying
it, so that a corrupt, missing or mismatched checkpoint stops the run with an error
naming it, and nothing is written for it.

This module does not import torch (Snakemake calls :func:`check_manifest` at start-up).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lookloss import io, layout, provenance

FORMAT_TAG = "lookloss.published/1"
MANIFEST = "manifest.json"
#: Distributions whose versions a manifest records.
PACKAGES = ("lookloss", "torch", "numpy", "scipy", "pandas", "pyarrow", "matplotlib", "snakemake", "tangermeme",
            "memelite")


class CheckpointError(ValueError):
    """A published folder is missing, corrupt, or does not match the configuration."""


def sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_files(control: str, padding: str, model: str) -> list[str]:
    """The files of one model, relative to a results or published folder."""
    return [f"{layout.model_dir('models', control, padding, model)}/{name}" for name in layout.MODEL_FILES]


def phase_spans(results: str | Path) -> dict[str, dict[str, float]]:
    """Per workflow phase (rule), the span of its jobs, from their benchmark files.

    A job's benchmark file ``benchmarks/{rule}/...tsv`` is written when it ends and
    holds its wall time ``s``, so each job ran from ``mtime - s`` to ``mtime``. Times are
    seconds from the first job's start.
    """
    spans: dict[str, list[float]] = {}
    for tsv in sorted(Path(results, "benchmarks").rglob("*.tsv")):
        seconds = float(tsv.read_text().splitlines()[1].split("\t")[0])
        end = tsv.stat().st_mtime
        phase = Path(tsv.relative_to(Path(results, "benchmarks")).parts[0]).stem  # tables.tsv: "tables"
        span = spans.setdefault(phase, [end - seconds, end, 0])
        span[0], span[1], span[2] = min(span[0], end - seconds), max(span[1], end), span[2] + 1
    if not spans:
        return {}
    origin = min(span[0] for span in spans.values())
    return {name: {"start_s": round(a - origin, 1), "end_s": round(b - origin, 1), "span_s": round(b - a, 1),
                   "jobs": int(n)}
            for name, (a, b, n) in sorted(spans.items(), key=lambda kv: kv[1][0])}


def publish(config: Mapping[str, Any], out: str | Path, root: str | Path = ".") -> dict[str, Any]:
    """Copy a finished run's models, tables and PNG figures to ``out`` and write its manifest.

    Parameters
    ----------
    config : mapping
        The run's configuration, checked (:func:`lookloss.config.check`); its
        ``results_dir`` is read.
    out : path
        The published folder (created; files already there are replaced).
    root : path
        The repository, for the commit (``git rev-parse HEAD``, or ``LOOKLOSS_COMMIT``
        in a copy without ``.git``) and relative paths.

    Returns
    -------
    dict
        The manifest.
    """
    results, out = Path(root, config["results_dir"]), Path(out)
    grid = [f for c, p, m in grid_models(config) for f in model_files(c, p, m)]
    missing = [f for f in grid if not (results / f).is_file()]
    if missing:
        raise CheckpointError(f"{len(missing)} model file(s) of the grid are not in {results} "
                              f"(first: {missing[0]}): finish the run first")
    names = grid + sorted(str(p.relative_to(results)) for p in results.glob("tables/*.tsv"))
    names += sorted(str(p.relative_to(results)) for p in results.glob("figures/*.png"))
    for name in names:
        with io.atomic_path(out / name) as tmp:
            shutil.copyfile(results / name, tmp)
    devices = sorted({json.loads((results / f).read_text())["device"] for f in grid if f.endswith("metrics.json")})
    manifest = {
        "format": FORMAT_TAG,
        **provenance.commit(root),
        "config": dict(config),
        "devices": devices,
        "versions": {name: provenance.version(name) for name in PACKAGES},
        "phases": phase_spans(results),
        "files": {name: sha256(out / name) for name in names},
    }
    io.write_json(out / MANIFEST, manifest)
    return manifest


def grid_models(config: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(control, padding, model folder) of every model the configuration's grid holds."""
    grid = config["models"]
    return [(c, p, layout.model_id(a, l1, s)) for c in grid["controls"] for p in grid["paddings"]
            for a in grid["archs"] for l1 in grid["l1"] for s in grid["seeds"]]


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of a published folder; :class:`CheckpointError` naming what is wrong."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise CheckpointError(f"{str(path)!r} does not exist: not a published folder (see lookloss.checkpoints)")
    try:
        manifest = json.loads(path.read_text())
    except ValueError as error:
        raise CheckpointError(f"{str(path)!r} is not valid JSON ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_TAG:
        raise CheckpointError(f"{str(path)!r} is not a lookloss manifest (no format {FORMAT_TAG!r})")
    return manifest


def check_manifest(folder: str | Path, config: Mapping[str, Any]) -> list[str]:
    """Problems that keep ``folder`` from supplying the models of ``config`` (empty: none).

    The published run must have simulated the very same data (equal ``simulation``
    sections: the analysis uses this configuration's pair sets) and its manifest must
    list every file of every model of this configuration's grid.
    """
    try:
        manifest = read_manifest(folder)
    except CheckpointError as error:
        return [str(error)]
    problems = []
    theirs, ours = manifest["config"].get("simulation", {}), config["simulation"]
    differing = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
    if differing:
        problems.append(f"the run published in {str(folder)!r} simulated other data: simulation keys "
                        f"{differing} differ from this configuration's")
    listed = manifest.get("files", {})
    absent = [f for c, p, m in grid_models(config) for f in model_files(c, p, m) if f not in listed]
    if absent:
        problems.append(f"{len(absent)} file(s) of the grid are not in the manifest of {str(folder)!r} "
                        f"(first: {absent[0]})")
    return problems


def import_models(folder: str | Path, identities: Sequence[Mapping[str, Any]],
                  outs: Sequence[Mapping[str, str | Path]]) -> None:
    """Copy published models into a results folder, after checking every one of them.

    Every file of every model is checked first (present, listed in the manifest with
    the same sha256, its ``model.pt`` recording the model's identity); only then is
    anything copied, each file atomically.

    Parameters
    ----------
    folder : path
        The published folder.
    identities : sequence of mapping
        ``control``, ``padding``, ``arch``, ``l1`` and ``seed`` of each model.
    outs : sequence of mapping
        Per model, the ``model``, ``history`` and ``metrics`` paths to write.

    Raises
    ------
    CheckpointError
        Naming the file that is missing, corrupt or another model's.
    """
    from lookloss import models  # torch: only in the job

    folder = Path(folder)
    listed = read_manifest(folder)["files"]
    copies = []
    for identity, out in zip(identities, outs, strict=True):
        name = layout.model_id(identity["arch"], identity["l1"], identity["seed"])
        files = model_files(identity["control"], identity["padding"], name)
        for relative, key in zip(files, ("model", "history", "metrics"), strict=True):
            path = folder / relative
            if not path.is_file():
                raise CheckpointError(f"checkpoint {str(path)!r} is missing")
            if relative not in listed:
                raise CheckpointError(f"checkpoint {str(path)!r} is not in {str(folder / MANIFEST)!r}")
            if sha256(path) != listed[relative]:
                raise CheckpointError(f"checkpoint {str(path)!r} does not match its sha256 in "
                                      f"{str(folder / MANIFEST)!r}: corrupt, or not the published file")
            copies.append((path, out[key]))
        recorded = models.read_record(folder / files[0])["meta"].get("identity", {})
        wanted = {"control": identity["control"], "padding": identity["padding"], "arch": identity["arch"],
                  "l1": float(identity["l1"]), "seed": int(identity["seed"])}
        if {k: recorded.get(k) for k in wanted} != wanted:
            raise CheckpointError(f"checkpoint {str(folder / files[0])!r} records the model {recorded}, "
                                  f"expected {wanted}")
    for source, target in copies:
        with io.atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
