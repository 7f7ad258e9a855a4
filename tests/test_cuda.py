"""Fused training on a GPU holds what tests/test_fused.py proves on the CPU.

Each test runs on the CPU, and again on CUDA where torch sees a GPU (the ``device``
fixture; ``pytest -m gpu tests/test_cuda.py`` runs only that pass, as the GPU run book
``gpu/session.sh`` does). On small random data:

- CUDA graphs replay exactly the eager steps (CUDA only);
- a fused group on the device in float64 gives each model what it gets trained alone on
  the CPU in float64, to rounding;
- a group killed after an epoch and resumed from its snapshot ends as the unbroken run.

Runs that must be identical use ``torch.backends.cudnn.deterministic`` (cuDNN's backward
kernels may otherwise add in any order). Tolerances are fixed in advance: float64 sums
in another order agree to ~1e-12, deterministic float32 runs of the same kernels exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lookloss import fused, models, training

pytestmark = pytest.mark.slow  # runs Snakemake, subprocesses or real trainings

SETTINGS = {"batch_size": 200, "learning_rate": 1e-3, "adam_eps": 1e-7, "max_epochs": 5, "patience": 2}
MEMBERS = [fused.Member("a", 0.0, 100), fused.Member("b", 1e-3, 200), fused.Member("a", 1e-4, 300),
           fused.Member("b", 0.0, 400)]
SHAPES = [("arch1", "valid"), ("arch3", "same")]


class Killed(Exception):
    pass


@pytest.fixture(scope="module")
def data():
    """Random one-hot sequences, two controls' targets: 600 to train, 200 to validate."""
    rng = np.random.default_rng(0)
    n_train, n_val = 600, 200
    x = np.eye(4, dtype=np.uint8)[rng.integers(0, 4, (n_train + n_val, 100))].transpose(0, 2, 1).copy()
    y = {"a": (rng.random(n_train + n_val) * 10).astype(np.float32)}
    y["b"] = (y["a"] + rng.random(n_train + n_val) * 5).astype(np.float32)
    return x[:n_train], {c: t[:n_train] for c, t in y.items()}, x[n_train:], {c: t[n_train:] for c, t in y.items()}


@pytest.fixture()
def deterministic():
    torch.backends.cudnn.deterministic = True
    yield
    torch.backends.cudnn.deterministic = False


def group(shape, device, dtype, data, **options) -> list[fused.GroupResult]:
    return fused.train(*shape, MEMBERS, *data, **SETTINGS, device=device, dtype=dtype, **options)


def largest_difference(a: list[fused.GroupResult], b: list) -> float:
    """Largest relative L2 distance between two runs' models' weights and validation losses."""
    def flat(model: torch.nn.Module) -> torch.Tensor:
        return torch.cat([p.detach().double().flatten() for p in model.state_dict().values()])

    def relative(u: torch.Tensor, v: torch.Tensor) -> float:
        return float((u - v).norm() / v.norm().clamp_min(1e-300))

    worst = 0.0
    for (model_a, result_a), (model_b, result_b) in zip(a, b, strict=True):
        assert (result_a.best_epoch, result_a.epochs_run) == (result_b.best_epoch, result_b.epochs_run)
        losses = [torch.tensor([row["val_loss"] for row in r.history], dtype=torch.float64)
                  for r in (result_a, result_b)]
        worst = max(worst, relative(flat(model_a), flat(model_b)), relative(*losses))
    return worst


def pairs(results: list[fused.GroupResult]) -> list:
    return [(r.model, r.result) for r in results]


@pytest.mark.parametrize("shape", SHAPES)
def test_cuda_graphs_replay_the_eager_steps(cuda_device, shape, data, deterministic):
    graphed = group(shape, cuda_device, torch.float32, data)
    eager = group(shape, cuda_device, torch.float32, data, cuda_graph=False)
    assert all(r.cuda_graph for r in graphed) and not any(r.cuda_graph for r in eager)
    assert largest_difference(pairs(graphed), pairs(eager)) <= 1e-6


@pytest.mark.parametrize("shape", SHAPES)
def test_a_fused_group_in_float64_equals_each_model_alone_on_the_cpu(device, shape, data):
    together = group(shape, device, torch.float64, data)
    x, y, xv, yv = data
    alone = []
    for m in MEMBERS:
        model = models.build(*shape, generator=training.init_generator(m.seed)).to(torch.float64)
        result = training.train(model, x, y[m.control], xv, yv[m.control], l1=m.l1, seed=m.seed, **SETTINGS,
                                device="cpu")
        alone.append((model, result))
    assert largest_difference(pairs(together), alone) <= 1e-8
    assert all(r.cuda_graph for r in together) == (device == "cuda")


@pytest.mark.parametrize("shape", SHAPES)
def test_a_killed_group_resumes_as_the_unbroken_run(device, shape, data, deterministic, tmp_path):
    unbroken = group(shape, device, torch.float32, data)

    def kill(epoch: int, *_: object) -> None:
        if epoch == 2:
            raise Killed

    snapshot = tmp_path / "group.pt"
    with pytest.raises(Killed):
        group(shape, device, torch.float32, data, snapshot=snapshot, snapshot_every=0, on_epoch=kill)
    resumed = group(shape, device, torch.float32, data, snapshot=snapshot)
    assert largest_difference(pairs(resumed), pairs(unbroken)) <= 1e-6
