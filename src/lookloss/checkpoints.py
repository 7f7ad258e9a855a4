"""Published runs: trained models and results with a manifest, and their reuse.

A *published* folder (``paper/`` holds the study at paper scale) contains models'
``model.pt``, ``history.tsv`` and ``metrics.json`` under ``models/`` (the layout of a
results folder), the tables and the figures as PNG, and ``manifest.json``: the sha256
of every file, the configuration, the sha256 of every simulated file the models were
trained on, how many of the grid's models it holds (``complete`` once all), per model
where it was trained (commit, device, CPU, threads, seconds: its ``metrics.json``),
and the package versions and phase times of the run.

A folder grows model by model (:func:`add_files`, which ``lookloss grow`` calls as
each model finishes, so that the manifest is valid at every moment); :func:`publish`
writes one from a finished run, with its tables and figures.

With ``models.checkpoints: <folder>`` the workflow takes the models from such a folder
instead of training them (rule ``import_models``): :func:`check_manifest` checks at
start-up that the folder's run simulated the same data and holds every model of the
grid, and :func:`import_models` checks each file's sha256 and identity before copying
it, so that a corrupt, missing or mismatched checkpoint stops the run with an error
naming it, and nothing is written for it.

This module does not import torch (Snakemake calls :func:`check_manifest` at start-up).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
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


#: The key a reused model's ``metrics.json`` adds (``lookloss grow --reuse``): the published
#: model, ``<folder>:<control>/<padding>/<model>``, whose copy it is.
REUSED_FROM = "reused_from"
#: What a published folder records of each model, from its ``metrics.json`` (``reused_from``
#: only where the model is a reused one: its commit, CPU and seconds are then the original's;
#: ``gpu`` only where it was trained on one and its name recorded).
RECORD_KEYS = ("commit", "uncommitted_changes", "device", "cpu", "threads", "fused", "group_size",
               "train_seconds", "cpu_seconds", "best_epoch", "epochs_run", "test_mse", REUSED_FROM, "gpu")
#: Of :data:`RECORD_KEYS`, those recorded only where ``metrics.json`` has them.
OPTIONAL_RECORD_KEYS = (REUSED_FROM, "gpu")
#: Training settings that change what a model computes (not how fast it is trained).
TRAINING_KEYS = ("batch_size", "learning_rate", "adam_eps", "max_epochs", "patience")


def simulation_files(config: Mapping[str, Any]) -> list[str]:
    """The simulated files of the configuration's paddings, relative to a results folder."""
    names = [f"{split}.npz" for split in layout.SPLITS] + [f"{layout.pairs_name(s)}.npz" for s in layout.PAIR_SETS]
    return [f"simulation/{padding}/{name}" for padding in config["models"]["paddings"]
            for name in [*names, "summary.tsv"]]


def simulation_digest(config: Mapping[str, Any], results: str | Path) -> dict[str, str]:
    """The sha256 of every simulated file of ``results`` (:class:`CheckpointError` if one is missing)."""
    paths = {name: Path(results, name) for name in simulation_files(config)}
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        raise CheckpointError(f"{len(missing)} simulated file(s) are missing (first: {missing[0]}): simulate first")
    return {name: sha256(path) for name, path in paths.items()}


def model_key(control: str, padding: str, model: str) -> str:
    """How a manifest names a model: ``neg/valid/arch1-l1_0-seed_100``."""
    return f"{control}/{padding}/{model}"


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
    digest = simulation_digest(config, results)
    names = grid + sorted(str(p.relative_to(results)) for p in results.glob("tables/*.tsv"))
    names += sorted(str(p.relative_to(results)) for p in results.glob("figures/*.png"))
    with locked(out):
        if (Path(out) / MANIFEST).is_file():
            check_fits(read_manifest(out), config, digest, out)
        for name in names:
            with io.atomic_path(out / name) as tmp:
                shutil.copyfile(results / name, tmp)
        manifest = _manifest(config, out, {name: sha256(out / name) for name in names}, digest, root,
                             phase_spans(results))
        io.write_json(out / MANIFEST, manifest)
    return manifest


def add_files(folder: str | Path, results: str | Path, names: Sequence[str], config: Mapping[str, Any],
              digest: Mapping[str, str], root: str | Path = ".") -> dict[str, Any]:
    """Publish files of ``results`` (finished models, tables) into ``folder`` and rewrite its manifest.

    The folder may be new, or hold some models of the same configuration (same
    simulation, digest and training settings; else :class:`CheckpointError`). The
    files are copied atomically in the order given (a model's ``metrics.json`` last:
    :func:`model_files`), and then the manifest is replaced atomically, so that at
    every moment the folder is a valid published folder. Files already published
    keep the sha256 the manifest gave them.

    Parameters
    ----------
    folder, results : path
        The published folder and the results folder holding the files.
    names : sequence of str
        The files, relative to both folders.
    config : mapping
        The run's configuration, checked.
    digest : mapping
        :func:`simulation_digest` of the data the models were trained on.
    root : path
        The repository, for the publishing code's commit.

    Returns
    -------
    dict
        The new manifest.
    """
    folder = Path(folder)
    with locked(folder):
        old = read_manifest(folder) if (folder / MANIFEST).is_file() else None
        if old is not None:
            check_fits(old, config, digest, folder)
        files = copy_files(folder, results, names, dict(old["files"]) if old else {})
        manifest = _manifest(config, folder, files, digest, root, old.get("phases", {}) if old else {})
        io.write_json(folder / MANIFEST, manifest)
    return manifest


def copy_files(folder: str | Path, results: str | Path, names: Sequence[str], files: dict[str, str]) -> dict[str, str]:
    """Copy ``names`` from ``results`` into ``folder``, each atomically and in order; return ``files``
    (name -> sha256, what the manifest lists) with theirs added."""
    for name in names:
        with io.atomic_path(Path(folder, name)) as tmp:
            shutil.copyfile(Path(results, name), tmp)
        files[name] = sha256(Path(folder, name))
    return files


@contextmanager
def locked(folder: str | Path) -> Iterator[None]:
    """Hold the published ``folder`` (an exclusive ``flock`` on its directory, created if
    new) while its manifest is read and rewritten, so that two publishers at once
    (``lookloss grow``, ``lookloss reading --write-tables``, ``lookloss publish``) never
    lose each other's files."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    handle = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # releases the lock


def published_models(manifest: Mapping[str, Any], config: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(control, padding, model) of the configuration's grid whose every file the manifest lists."""
    listed = manifest.get("files", {})
    return [m for m in grid_models(config) if all(f in listed for f in model_files(*m))]


def _manifest(config: Mapping[str, Any], folder: Path, files: Mapping[str, str], digest: Mapping[str, str],
              root: str | Path, phases: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest of ``folder`` listing ``files``: models published, their records, provenance."""
    grid = grid_models(config)
    done = [m for m in grid if all(f in files for f in model_files(*m))]
    records = {}
    for control, padding, model in done:
        metrics = json.loads((folder / layout.model_dir("models", control, padding, model) / "metrics.json").read_text())
        records[model_key(control, padding, model)] = {k: metrics.get(k) for k in RECORD_KEYS
                                                       if k not in OPTIONAL_RECORD_KEYS or k in metrics}
    return {
        "format": FORMAT_TAG,
        "complete": len(done) == len(grid),
        "n_models": len(done),
        "n_grid": len(grid),
        **provenance.commit(root, outputs=[folder]),
        "config": dict(config),
        "simulation": dict(digest),
        "devices": sorted({str(r["device"]) for r in records.values()}),
        "cpus": sorted({str(r["cpu"]) for r in records.values() if r["device"] == "cpu"}),
        "versions": {name: provenance.version(name) for name in PACKAGES},
        "phases": dict(phases),
        "models": records,
        "files": dict(sorted(files.items())),
    }


def check_fits(manifest: Mapping[str, Any], config: Mapping[str, Any], digest: Mapping[str, str] | None,
                folder: str | Path) -> None:
    """:class:`CheckpointError` unless the published run used this configuration's data and training."""
    problems = _differences(manifest, config)
    theirs = manifest["config"].get("training", {})
    changed = sorted(k for k in TRAINING_KEYS if theirs.get(k) != config["training"].get(k))
    if changed:
        problems.append(f"training keys {changed} differ from this configuration's")
    if digest is not None:
        recorded = manifest.get("simulation", {})
        differing = sorted(name for name in set(recorded) & set(digest) if recorded[name] != digest[name])
        if differing:
            problems.append(f"the simulated data here differ from the data its models were trained on (first: "
                            f"{differing[0]}, sha256 {digest[differing[0]][:12]} here, {recorded[differing[0]][:12]} "
                            "in the manifest)")
    if problems:
        raise CheckpointError(f"the run published in {str(folder)!r} does not fit: " + "; ".join(problems))


def _differences(manifest: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """The simulation keys in which the published run's configuration differs from ``config``."""
    theirs, ours = manifest["config"].get("simulation", {}), config["simulation"]
    differing = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
    return [f"simulation keys {differing} differ from this configuration's"] if differing else []


def grid_models(config: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(control, padding, model folder) of every model the configuration's grid holds."""
    from lookloss.config import grid

    return [(i["control"], i["padding"], layout.model_id(i["arch"], i["l1"], i["seed"])) for i in grid(config)]


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
    problems = [f"the run published in {str(folder)!r} simulated other data: {p}" for p in _differences(manifest, config)]
    listed = manifest.get("files", {})
    absent = [f for c, p, m in grid_models(config) for f in model_files(c, p, m) if f not in listed]
    if absent:
        problems.append(f"{len(absent)} file(s) of the grid are not in the manifest of {str(folder)!r} "
                        f"(first: {absent[0]}; it holds {manifest.get('n_models', '?')} of "
                        f"{manifest.get('n_grid', '?')} models: `lookloss grow` trains the rest)")
    return problems


def import_models(folder: str | Path, identities: Sequence[Mapping[str, Any]],
                  outs: Sequence[Mapping[str, str | Path]], simulated: Mapping[str, str | Path] | None = None) -> None:
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
    simulated : mapping, optional
        Simulated files of this run (name as :func:`simulation_files` gives it, to
        path): each must have the sha256 the manifest records, i.e. the models were
        trained on these very data.

    Raises
    ------
    CheckpointError
        Naming the file that is missing, corrupt or another model's.
    """
    from lookloss import models  # torch: only in the job

    folder = Path(folder)
    manifest = read_manifest(folder)
    listed = manifest["files"]
    recorded_data = manifest.get("simulation", {})
    for name, path in (simulated or {}).items():
        if name in recorded_data and sha256(path) != recorded_data[name]:
            raise CheckpointError(f"the simulated file {str(path)!r} differs from the one the models of "
                                  f"{str(folder)!r} were trained on (sha256 in {str(folder / MANIFEST)!r})")
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
