"""The textbook training loop: the reference the fast trainer is measured and tested against.

:func:`train_textbook` is written the way a tutorial would write it (a ``DataLoader``
over a ``TensorDataset``, plain Adam, validation under ``no_grad``), with the batch
order of :func:`lookloss.training.train`. ``benchmarks/train_throughput.py`` times the
two against each other, and ``tests/test_training.py`` checks that they give the same
weights. Not part of the package: nothing in the workflow uses it.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Sampler, TensorDataset

from lookloss.inference import ArrayLike
from lookloss.models import l1_penalty
from lookloss.training import EpochCallback


class EpochPermutation(Sampler[int]):
    """Sampler drawing one ``torch.randperm`` per epoch from ``generator``.

    The batch order of :func:`lookloss.training.train`, for a ``DataLoader``. (``RandomSampler``
    draws a second, discarded permutation per epoch and ``DataLoader(shuffle=True,
    generator=g)`` also draws a worker seed from ``g``, so neither matches.)
    """

    def __init__(self, n: int, generator: torch.Generator) -> None:
        self.n, self.generator = n, generator

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        return iter(torch.randperm(self.n, generator=self.generator).tolist())


def train_textbook(
    model: nn.Module,
    x_train: ArrayLike,
    y_train: ArrayLike,
    x_val: ArrayLike,
    y_val: ArrayLike,
    *,
    l1: float,
    seed: int,
    epochs: int,
    batch_size: int = 200,
    learning_rate: float = 1e-3,
    adam_eps: float = 1e-7,
    on_epoch: EpochCallback | None = None,
) -> list[dict[str, Any]]:
    """Reference loop, written the textbook way, for benchmarks and equivalence tests.

    A ``DataLoader`` over a ``TensorDataset``, shuffled by :class:`EpochPermutation`
    seeded with ``seed`` (hence the same batches as :func:`lookloss.training.train`), plain Adam, validation in
    batches of ``batch_size`` under ``no_grad``. Runs exactly ``epochs`` epochs on
    the CPU, with no early stopping, and returns the same history rows as
    :func:`lookloss.training.train`.
    """
    x_train, y_train = torch.as_tensor(x_train).float(), torch.as_tensor(y_train).float()
    x_val, y_val = torch.as_tensor(x_val).float(), torch.as_tensor(y_val).float()
    shuffle = EpochPermutation(len(y_train), torch.Generator().manual_seed(seed))
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=batch_size, sampler=shuffle)
    val_loader = DataLoader(TensorDataset(x_val, y_val), batch_size=batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, eps=adam_eps)
    history = []
    for epoch in range(1, epochs + 1):
        tic = time.perf_counter()
        model.train()
        losses = []
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = F.mse_loss(model(xb), yb) + l1 * l1_penalty(model)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        model.eval()
        with torch.no_grad():
            squared = sum(F.mse_loss(model(xb), yb, reduction="sum").item() for xb, yb in val_loader)
            val_loss = squared / len(y_val) + l1 * l1_penalty(model).item()
        row = {"epoch": epoch, "train_loss": float(np.mean(losses)), "val_loss": val_loss,
               "seconds": time.perf_counter() - tic}
        history.append(row)
        if on_epoch is not None:
            on_epoch(row)
    return history
