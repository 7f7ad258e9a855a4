"""Checking a configuration, and completing it with its defaults, before any job runs.

The JSON schema (``lookloss/schemas/config.schema.yaml``, shipped with the package;
``workflow/schemas/config.schema.yaml`` links to it) is the one place where every
key's type, range and default value are written. :func:`check` fills in the
defaults of absent keys, checks every key against the schema, adds what a schema
cannot say (probabilities that sum to one, motif names present in the motif file,
motifs that fit in a sequence) and turns every failure into one message naming the
key and what was expected.

This module does not import torch, so that Snakemake can call it at start-up cheaply.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, MutableMapping
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

#: The configuration's schema, as package data of :mod:`lookloss`.
SCHEMA = resources.files("lookloss").joinpath("schemas", "config.schema.yaml")


class ConfigError(ValueError):
    """A configuration value is missing, malformed or out of range."""


def load_schema(path: str | Path | None = None) -> dict[str, Any]:
    """Read a JSON schema written in YAML; by default the configuration's (:data:`SCHEMA`)."""
    text = SCHEMA.read_text() if path is None else Path(path).read_text()
    return yaml.safe_load(text)


def fill_defaults(instance: Any, schema: Mapping[str, Any]) -> Any:
    """Give every absent key that has a ``default`` in ``schema`` that default, recursively.

    Objects are completed in place (a default object is then completed in turn);
    values of the wrong type are left for the schema check to report.
    """
    if not isinstance(instance, MutableMapping):
        return instance
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            fill_defaults(instance[key], sub)
    return instance


def _key(path: Any) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    """One line: which key, what it holds, what was expected."""
    key = _key(error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1]
        where = f"{key}." if error.absolute_path else ""
        return f"config key '{where}{missing}' is missing (required)"
    if error.validator == "additionalProperties":
        return f"config key '{key}': {error.message} (unknown key: a typo?)"
    if error.validator == "pattern":
        return (f"config key '{key}': got {error.instance!r}, expected a name of letters, digits, "
                "'.', '_', '+' or '-' (it becomes a folder name)")
    if error.validator == "enum":
        return f"config key '{key}': got {error.instance!r}, expected one of {error.validator_value}"
    expected = {
        "minimum": f">= {error.validator_value}",
        "maximum": f"<= {error.validator_value}",
        "exclusiveMinimum": f"> {error.validator_value}",
        "exclusiveMaximum": f"< {error.validator_value}",
        "type": f"a value of type {error.validator_value}",
        "minItems": f"at least {error.validator_value} item(s)",
        "uniqueItems": "no repeated items",
        "minLength": "a non-empty string",
    }.get(error.validator, error.message)
    return f"config key '{key}': got {error.instance!r}, expected {expected}"


def check(config: MutableMapping[str, Any], base_dir: str | Path = ".",
          schema: Mapping[str, Any] | None = None) -> MutableMapping[str, Any]:
    """Complete a configuration with its defaults and validate it.

    Parameters
    ----------
    config : mapping
        The merged configuration (config.yaml plus presets and overrides); absent
        keys that have a default in the schema are filled in, in place.
    base_dir : str or Path
        Folder that relative paths (the motif file) are resolved against.
    schema : mapping, optional
        The JSON schema; by default the workflow's.

    Returns
    -------
    mapping
        ``config`` itself, completed.

    Raises
    ------
    ConfigError
        One error listing every problem; each line names a key, the value found and
        what was expected.
    """
    schema = load_schema() if schema is None else schema
    fill_defaults(config, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    problems = [_describe(e) for e in errors]
    if not problems:
        problems = _semantic_problems(config, Path(base_dir))
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return config


def _semantic_problems(config: Mapping[str, Any], base_dir: Path) -> list[str]:
    """What the schema cannot express; assumes the schema passed."""
    sim = config["simulation"]
    problems = [f"config key 'models.controls': control {name!r} is not defined under simulation.controls "
                f"(it defines {sorted(sim['controls'])})"
                for name in config["models"]["controls"] if name not in sim["controls"]]
    total = sum(sim["background"].values())
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        problems.append(f"config key 'simulation.background': probabilities sum to {total:g}, expected 1")
    n_fit = round(sim["n_train"] * (1 - sim["valid_fraction"]))
    if n_fit < 1 or n_fit >= sim["n_train"]:
        problems.append(
            "config keys 'simulation.n_train' and 'simulation.valid_fraction': "
            f"{sim['n_train']} x (1 - {sim['valid_fraction']}) leaves no training or no validation sequence"
        )
    checkpoints = config["models"].get("checkpoints")
    if checkpoints:
        from lookloss.checkpoints import check_manifest

        folder = Path(checkpoints) if Path(checkpoints).is_absolute() else base_dir / checkpoints
        problems += [f"config key 'models.checkpoints': {problem}" for problem in check_manifest(folder, config)]
    path = Path(sim["motif_file"])
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        problems.append(f"config key 'simulation.motif_file': file {str(path)!r} does not exist")
        return problems
    # memelite parses the file (imported here: it pulls in numba, slow to import).
    from memelite.io import read_meme

    widths = {key.split()[0]: pwm.shape[1] for key, pwm in read_meme(str(path)).items()}
    for role, name in sim["motifs"].items():
        if name not in widths:
            problems.append(
                f"config key 'simulation.motifs.{role}': motif {name!r} is not in {str(path)!r} "
                f"(it holds {sorted(widths)})"
            )
    if not problems:
        w_g, w_t = widths[sim["motifs"]["gata"]], widths[sim["motifs"]["tal"]]
        needed = w_g + w_t + max(w_g, w_t) - 1
        if sim["seq_len"] < needed:
            problems.append(
                f"config key 'simulation.seq_len': got {sim['seq_len']}, expected >= {needed} so that "
                "two motifs fit with the separation the pair analysis needs"
            )
    return problems


#: Keys of the ``training`` section that choose only how models are trained together.
FUSION_KEYS = ("fuse", "max_fused")


def grid(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every model of the study's grid (``models``), control by control, then padding, architecture,
    L1 weight and seed: the one list the workflow's rules, ``lookloss grow``, the published folders
    and the reading take their models from (each in its own order)."""
    models = config["models"]
    return [{"control": c, "padding": p, "arch": a, "l1": float(l1), "seed": int(s)}
            for c in models["controls"] for p in models["paddings"] for a in models["archs"]
            for l1 in models["l1"] for s in models["seeds"]]


def fuse_training(config: Mapping[str, Any], gpu: bool) -> bool:
    """``training.fuse`` resolved: ``auto`` fuses where training runs on a GPU, that is where
    ``training.device`` is ``cuda``, or ``auto`` and ``gpu`` (one is visible, or the profile gives
    the training jobs one). On the CPU fusing measured slower (BENCHMARKS.md)."""
    setting, device = config["training"]["fuse"], config["training"]["device"]
    if setting != "auto":
        return bool(setting)
    return device == "cuda" or (device == "auto" and gpu)


def training_job_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``training`` section as a training job takes it: what the models compute.

    Every route that trains a model (the workflow's ``train`` rule, ``lookloss grow``)
    passes exactly this, in this order, so the same configuration gives the same
    ``model.pt`` bytes whichever route trained it.
    """
    return {key: value for key, value in config["training"].items() if key not in FUSION_KEYS}


def read_files(paths: list[str | Path], overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Merge YAML files (later ones win, nested keys merged) and optional overrides."""
    merged: dict[str, Any] = {}
    for path in paths:
        with open(path) as handle:
            merge(merged, yaml.safe_load(handle) or {})
    if overrides:
        merge(merged, overrides)
    return merged


def merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Recursively merge ``update`` into ``base`` in place, as Snakemake merges configfiles."""
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base
