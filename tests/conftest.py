"""Shared fixtures: the smoke preset's configuration and its simulated data."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from lookloss import config as cfg
from lookloss import layout, simulation

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def smoke_config() -> dict:
    """config.yaml merged with presets/smoke.yaml, checked and completed with the schema's defaults."""
    return cfg.check(cfg.read_files([ROOT / "config.yaml", ROOT / "presets" / "smoke.yaml"]), base_dir=ROOT)


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


@pytest.fixture()
def small_grid(tmp_path, smoke_config) -> dict:
    """The smoke preset's data and training (2 epochs), a 4-model grid, results in tmp_path."""
    config = copy.deepcopy(smoke_config)
    config["results_dir"] = str(tmp_path / "results")
    config["models"].update(archs=["arch1"], l1=[0.0001], seeds=[100, 200], paddings=["valid"], controls=["neg", "pos"])
    config["training"].update(max_epochs=2)
    return config


#: Marks of the CUDA pass: selectable with ``-m gpu``, skipped where torch sees no GPU.
_CUDA = pytest.param("cuda", marks=[pytest.mark.gpu,
                                    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")])


@pytest.fixture(params=["cpu", _CUDA])
def device(request) -> str:
    """Each test that takes it runs on the CPU, and on CUDA where there is a GPU (``-m gpu``: only there)."""
    return request.param


@pytest.fixture(params=[_CUDA])
def cuda_device(request) -> str:
    """CUDA only (skipped without a GPU): for what only a GPU has, such as CUDA graphs."""
    return request.param
