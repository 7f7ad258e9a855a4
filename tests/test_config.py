"""Bad configurations stop with one message naming the key and what was expected."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest

from lookloss import config as cfg

ROOT = Path(__file__).resolve().parents[1]


def test_default_and_presets_are_valid():
    for preset in sorted((ROOT / "presets").glob("*.yaml")):
        cfg.check(cfg.load([ROOT / "config.yaml", preset]), base_dir=ROOT)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["simulation"].update(n_train=-5), "'simulation.n_train': got -5, expected >= 2"),
        (lambda c: c["models"].update(paddings=["valid", "full"]),
         "'models.paddings.1': got 'full', expected one of ['valid', 'same']"),
        (lambda c: c["simulation"]["motifs"].update(tal="TAL1_nope"),
         "'simulation.motifs.tal': motif 'TAL1_nope' is not in"),
        (lambda c: c["models"].update(l1=[0.0, -1e-4]), "'models.l1.1': got -0.0001, expected >= 0"),
        (lambda c: c["simulation"]["background"].update(A=0.5), "probabilities sum to 1.23"),
        (lambda c: c["training"].pop("patience"), "'training.patience' is missing"),
        (lambda c: c["training"].update(batchsize=3), "unknown key"),
    ],
)
def test_bad_values_name_the_key(change, message):
    config = copy.deepcopy(cfg.load([ROOT / "config.yaml"]))
    change(config)
    with pytest.raises(cfg.ConfigError) as error:
        cfg.check(config, base_dir=ROOT)
    assert message in str(error.value)


def test_snakemake_stops_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"results_dir: {tmp_path / 'out'}\nsimulation: {{valid_fraction: 1.5}}\n")
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", str(bad)],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert run.returncode != 0
    assert "config key 'simulation.valid_fraction': got 1.5, expected < 1" in run.stdout + run.stderr
    assert not (tmp_path / "out").exists()
