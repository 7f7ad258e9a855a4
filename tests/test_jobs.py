"""Tests of lookloss.jobs: what one workflow job writes."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from lookloss import io, models, provenance, jobs

SETTINGS = {"batch_size": 40, "learning_rate": 1e-3, "adam_eps": 1e-7, "max_epochs": 2, "patience": 5,
            "device": "cpu"}
IDENTITY = {"control": "neg", "padding": "valid", "arch": "arch1", "l1": 1e-3, "seed": 7}


def tiny_splits(folder) -> dict:
    """Random 40-bp train/valid/test splits with counts of one control."""
    splits = {}
    for k, (split, n) in enumerate({"train": 120, "valid": 40, "test": 40}.items()):
        rng = np.random.default_rng(k)
        x = np.eye(4, dtype=np.uint8)[rng.integers(0, 4, (n, 40))].transpose(0, 2, 1).copy()
        splits[split] = folder / f"{split}.npz"
        io.save_npz(splits[split], {"onehot": x, "y_neg": rng.poisson(5, n)})
    return splits


def test_the_same_configuration_gives_the_same_model_file_and_run_facts_go_to_metrics(tmp_path):
    splits = tiny_splits(tmp_path)
    outs = [{key: tmp_path / run / name for key, name in
             (("model", "model.pt"), ("history", "history.tsv"), ("metrics", "metrics.json"))}
            for run in ("first", "second")]
    for out in outs:
        jobs.train_model(splits, out, IDENTITY, SETTINGS)
    first, second = (hashlib.sha256(out["model"].read_bytes()).hexdigest() for out in outs)
    assert first == second
    metrics = json.loads(outs[0]["metrics"].read_text())
    assert metrics["train_seconds"] > 0 and metrics["cpu_seconds"] > 0 and metrics["threads"] == 1
    assert metrics["device"] == "cpu"
    assert metrics["cpu"] == provenance.cpu_model() and "commit" in metrics
    meta = models.load(outs[0]["model"]).meta
    assert meta["identity"] == IDENTITY
    assert {"train_seconds", "cpu_seconds", "device", "threads", "cpu", "commit"}.isdisjoint(meta["metrics"])
    assert meta["metrics"]["test_mse"] == metrics["test_mse"]
