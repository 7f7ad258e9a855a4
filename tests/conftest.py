"""Shared fixtures: the smoke preset's configuration and its simulated data."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lookloss import config as cfg
from lookloss import layout, simulation

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def smoke_config() -> dict:
    """config.yaml merged with presets/smoke.yaml, checked and completed with the schema's defaults."""
    return cfg.check(cfg.load([ROOT / "config.yaml", ROOT / "presets" / "smoke.yaml"]), base_dir=ROOT)


@pytest.fixture(scope="session")
def sim(smoke_config) -> simulation.Simulation:
    return simulation.Simulation.from_config(smoke_config["simulation"], base_dir=ROOT)


@pytest.fixture(scope="session")
def simulated(sim) -> dict:
    """Both paddings' arrays, simulated once per test session."""
    return {padding: simulation.simulate(sim, padding) for padding in layout.PADDINGS}


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Tiny tensors: one torch thread avoids OpenMP spin-waits on a loaded machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
