"""Tests of lookloss.jobs: what one workflow job writes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

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


#: oneDNN, ATen, MKL and numpy held to SSE4 kernels.
NARROW_ISA = provenance.NARROW_ISA
#: One child process: the smoke simulation's held-out pair sets (their first 400 pairs), one
#: published model analysed as the workflow's job does, its row of models.tsv written as the
#: tables are (6 significant digits).
_ANALYSE = """
import json, sys
from pathlib import Path
import torch
from lookloss import config as cfg, io, jobs, layout, simulation
import pandas as pd
torch.set_num_threads(1)
root, out, model = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
conf = cfg.check(cfg.read_files([root / "config.yaml", root / "presets" / "smoke.yaml"]), base_dir=root)
data = simulation.simulate(simulation.Simulation.from_config(conf["simulation"], base_dir=root), "valid")
sets = {k: {a: v[:400] for a, v in data[f"pairs_{k}"].items()} for k in layout.PAIR_SETS}
(out / "metrics.json").write_text(json.dumps({"best_epoch": 1, "epochs_run": 1, "test_mse": 0.1}))
row = jobs.analyse_model(model, out / "metrics.json", sets, {k: out / f"{k}.parquet" for k in sets},
                         out / "stats.json", {"control": "neg", "padding": "valid", "arch": "arch2", "l1": 0.001,
                                              "seed": 100})
io.write_tsv(out / "models.tsv", pd.DataFrame([row]))
"""


def test_the_analysis_of_a_published_model_is_the_same_bytes_with_the_wider_instruction_sets_masked(tmp_path):
    """The analysis runs the published float32 weights in float64 (:func:`lookloss.jobs.for_analysis`):
    with oneDNN, ATen, MKL and numpy held to SSE4 kernels, a published model's row of ``models.tsv``
    is the same bytes as with this CPU's widest kernels. (In float32 it is not on an AVX-512 CPU:
    ``mean_abs_I`` moves in its 6th digit.)"""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    model = root / "paper" / "models" / "neg" / "valid" / "arch2-l1_0.001-seed_100" / "model.pt"
    rows = []
    for name, extra in (("wide", {}), ("narrow", NARROW_ISA)):
        out = tmp_path / name
        out.mkdir()
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root / "src"), **extra}
        subprocess.run([sys.executable, "-c", _ANALYSE, str(root), str(out), str(model)], env=env, check=True,
                       capture_output=True)
        rows.append((out / "models.tsv").read_text())
    assert rows[0] == rows[1]
    assert "p_paired" in rows[0] and len(rows[0].splitlines()) == 2
