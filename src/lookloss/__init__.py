"""lookloss: detect false-positive motif interactions learned by neural networks.

A re-implementation of "Look at the Loss" (Finkelstein, Shrikumar, Kundaje, 2020).
All logic of the workflow lives in this package; the Snakemake scripts only unpack
the ``snakemake`` object and call it.

:func:`loss_test` (:mod:`lookloss.losstest`) applies the study's loss test to any
model and data; :func:`scan` (:mod:`lookloss.scan`, a module callable as its function)
runs it on every pair of a set of motifs, by orientation and spacing, with
false-discovery control. Both are imported on first use, so that ``import
lookloss.layout`` (what Snakemake loads at start-up) stays free of torch.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["loss_test", "scan"]


def __getattr__(name: str) -> Any:
    if name == "loss_test":
        from lookloss.losstest import loss_test

        return loss_test
    if name == "scan":  # the module, callable as its function: lookloss.scan(model, X, y, motifs)
        import importlib

        return importlib.import_module("lookloss.scan")
    raise AttributeError(f"module 'lookloss' has no attribute {name!r}")
