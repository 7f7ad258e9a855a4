"""The data contract: every name the simulation, the workflow and the analysis share.

One place for the vocabulary of the project, so that a new pair set, split or
variant is added here and nowhere else:

- the data splits, pair sets, knock-out variants, paddings and motif roles;
- the names of the arrays in the simulation's ``.npz`` files;
- the name of a model's folder (``{arch}-l1_{l1}-seed_{seed}``) and its inverse;
- where each kind of output lives below a results folder, and the Snakemake
  wildcard patterns that match those paths.

This module imports nothing but the standard library (no torch, numpy or pandas), so
Snakemake loads it at start-up for free.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

#: Splits of the simulated sequences: fitted, validated (early stopping), held out.
SPLITS = ("train", "valid", "test")
#: Analysed pair sets: held-out pairs, training pairs, the dinucleotide-shuffled null
#: of the held-out pairs, and two random windows in each held-out sequence.
PAIR_SETS = ("test", "train", "shuffled", "randpos")
#: Knock-out variants of a pair: both motifs, GATA1 only, TAL1 only, neither.
VARIANTS = ("gt", "g", "t", "0")
#: Convolution padding of the models, and how labels are scanned.
PADDINGS = ("valid", "same")
#: The two motifs of the study by role (``simulation.motifs`` maps each role to a
#: motif name), and the transcription factor each stands for.
ROLE_FACTORS = {"gata": "GATA1", "tal": "TAL1"}
ROLES = tuple(ROLE_FACTORS)
#: Bases in the order of the one-hot rows and of the motif matrices' rows.
ALPHABET = "ACGT"

# ----------------------------------------------------------------------- npz arrays
#: One-hot sequences ``(N, 4, L)`` of a split.
ONEHOT = "onehot"
#: Row of each pair in the split it was taken from.
INDEX = "index"


def start_key(role: str) -> str:
    """Start of the motif of ``role`` in each sequence (-1: absent): ``gata_start``."""
    return f"{role}_start"


def counts_key(control: str) -> str:
    """Observed Poisson counts of a control: ``y_neg``."""
    return f"y_{control}"


def rate_key(control: str, variant: str | None = None) -> str:
    """Poisson rate λ of a control (``lam_neg``), of one knock-out variant (``lam_neg_gt``)."""
    return f"lam_{control}" if variant is None else f"lam_{control}_{variant}"


def variant_key(variant: str) -> str:
    """One-hot sequences of a knock-out variant of a pair set: ``s_gt``."""
    return f"s_{variant}"


def pairs_name(pair_set: str) -> str:
    """File stem of a pair set: ``pairs_test`` (``pairs_test.npz``)."""
    return f"pairs_{pair_set}"


# ----------------------------------------------------------------------- model names
class ModelId(NamedTuple):
    """What a model's folder name encodes."""

    arch: str
    l1: float
    seed: int


#: Snakemake pattern of a model's folder name.
MODEL_PATTERN = "{arch}-l1_{l1}-seed_{seed}"
_MODEL_NAME = re.compile(r"(?P<arch>arch[0-9]+)-l1_(?P<l1>[0-9.e+-]+)-seed_(?P<seed>[0-9]+)")


def l1_label(l1: float | str) -> str:
    """How an L1 weight is written in a folder name: Python's ``format(l1, "g")``."""
    return format(float(l1), "g")


def model_id(arch: str, l1: float | str, seed: int | str) -> str:
    """The folder name of a model: ``arch1-l1_0.0001-seed_100``."""
    return MODEL_PATTERN.format(arch=arch, l1=l1_label(l1), seed=int(seed))


def parse_model_id(name: str) -> ModelId:
    """Inverse of :func:`model_id`; ``ValueError`` for a name of another form."""
    match = _MODEL_NAME.fullmatch(name)
    if match is None:
        raise ValueError(f"{name!r} is not a model folder name like {model_id('arch1', 1e-4, 100)!r}")
    return ModelId(match["arch"], float(match["l1"]), int(match["seed"]))


# ----------------------------------------------------------------------- result paths
#: Stages whose outputs live in one folder per model: ``{stage}/{control}/{padding}/{model}/``.
MODEL_STAGES = ("models", "interactions", "detectors")
#: Files a trained model's folder holds.
MODEL_FILES = ("model.pt", "history.tsv", "metrics.json")
#: The study's tables, ``tables/{name}.tsv``: per model, per control x padding, the
#: consistency rule's calls, and power by interaction strength.
STUDY_TABLES = ("models", "summary", "consistency", "power")
#: The detector head-to-head's tables (docs/study.md section 8), read from the study's.
DETECTOR_TABLES = ("detectors", "detector_models")


def model_dir(stage: str, control: str, padding: str, model: str) -> str:
    """A model's folder below a results folder: ``models/neg/valid/arch1-l1_0-seed_100``."""
    if stage not in MODEL_STAGES:
        raise ValueError(f"stage must be one of {MODEL_STAGES}, got {stage!r}")
    return f"{stage}/{control}/{padding}/{model}"


class ModelPath(NamedTuple):
    """Where a file in a model's folder comes from (:func:`parse_model_path`)."""

    control: str
    padding: str
    model: str


def parse_model_path(path: str | Path) -> ModelPath:
    """``control``, ``padding`` and ``model`` of a file ``.../{control}/{padding}/{model}/{file}``."""
    parts = Path(path).parts
    if len(parts) < 4:
        raise ValueError(f"{str(path)!r} is not inside a model folder ({{control}}/{{padding}}/{{model}}/file)")
    control, padding, model = parts[-4:-1]
    parse_model_id(model)
    return ModelPath(control, padding, model)


def simulation_file(padding: str, name: str) -> str:
    """A simulated file of one padding: ``simulation/valid/test.npz``."""
    return f"simulation/{padding}/{name}"


def _alternatives(values: tuple[str, ...]) -> str:
    return "|".join(re.escape(v) for v in values)


#: Snakemake wildcard constraints of the path patterns above (controls come from the config).
WILDCARDS = {
    "padding": _alternatives(PADDINGS),
    "arch": "arch[0-9]+",
    "l1": "[0-9.e+-]+",
    "seed": "[0-9]+",
    "split": _alternatives(SPLITS),
    "pair_set": _alternatives(PAIR_SETS),
}


def control_constraint(controls: list[str] | tuple[str, ...]) -> str:
    """The ``control`` wildcard's constraint: exactly the configured control names."""
    return _alternatives(tuple(controls))
