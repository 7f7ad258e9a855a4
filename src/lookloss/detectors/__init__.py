"""The interaction detectors, one entry each: the registry that tables, figures, readings and
the workflow iterate (docs/study.md sections 4 and 8).

Each :class:`Detector` names a test once: its ``name`` (rows of ``detectors.tsv`` and
``power.tsv``, the readings' columns), ``label`` and ``colour`` (the figures), and
``column`` (its p-value in ``models.tsv`` or in the detectors' per-model table). Two
kinds:

- the study's four tests (``paired``, ``unpaired``, ``magnitude``, ``random-position``)
  come from one set of forward passes, each model's interaction tables
  (:func:`lookloss.tables.model_row`), so their entries name no module;
- the field's detectors (``gia``, ``dfim``) are modules of this package with one shared
  signature, tangermeme's: ``prepare(sim, pairs_test, pairs_shuffled, settings)`` builds
  their inputs for the study's pair sets, and ``run(model, inputs, args=None,
  batch_size=..., device=...)`` returns a dict of statistics with the entry's ``column``
  among them. ``model`` predicts counts ``(N, 1)``: the study's networks through
  :func:`lookloss.detectors.explain.explainable`, a BPNet through
  :class:`lookloss.genomeanalysis.LogCounts`; ``args`` are the model's further inputs
  (control tracks), one row per sequence the inputs hold.

Adding a detector: its module here (``prepare``, ``run``, and its settings in the
``detectors`` config section), its entry in :data:`DETECTORS`, and its test.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Detector:
    """One interaction detector.

    Attributes
    ----------
    name : str
        Its name in tables and readings.
    label : str
        Its name in figure legends.
    colour : str
        Its colour in figures.
    column : str
        Its p-value's column (``models.tsv``, ``tables/detector_models.tsv``).
    module : str or None
        The module of this package that runs it on a model (``prepare``, ``run``); None
        for the study's tests, computed from the interaction tables.
    """

    name: str
    label: str
    colour: str
    column: str
    module: str | None = None

    @property
    def runs_on_models(self) -> bool:
        """Whether it runs on a model itself (a module here), not on the interaction tables."""
        return self.module is not None

    def load(self) -> ModuleType:
        """Its module (imported on first use: the study's tables need no tangermeme)."""
        if self.module is None:
            raise ValueError(f"detector {self.name!r} is computed from the interaction tables, it has no module")
        return importlib.import_module(f"{__name__}.{self.module}")


#: Every detector, in the order of tables and legends: the study's tests, then the field's.
DETECTORS: dict[str, Detector] = {d.name: d for d in (
    Detector("paired", "paired loss test", "#d62728", "p_paired"),
    Detector("unpaired", "unpaired loss test", "#1f4e79", "p_unpaired"),
    Detector("magnitude", "magnitude vs shuffled null", "#e08214", "p_magnitude"),
    Detector("random-position", "random-position null", "#5e3c99", "p_randpos"),
    Detector("gia", "global importance analysis", "#1b9e77", "p_gia", module="gia"),
    Detector("dfim", "deep feature interaction maps", "#e7298a", "p_dfim", module="dfim"),
)}
#: The study's four tests (from the interaction tables), in order.
STUDY_TESTS: tuple[Detector, ...] = tuple(d for d in DETECTORS.values() if not d.runs_on_models)
#: The detectors that run on a model (:meth:`Detector.load`), in order.
MODEL_DETECTORS: tuple[Detector, ...] = tuple(d for d in DETECTORS.values() if d.runs_on_models)


def columns(detectors: tuple[Detector, ...] | None = None) -> dict[str, str]:
    """Name -> p-value column of ``detectors`` (default: every one)."""
    return {d.name: d.column for d in (DETECTORS.values() if detectors is None else detectors)}
