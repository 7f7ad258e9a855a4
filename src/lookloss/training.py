"""Training of the study's regressors (docs/study.md section 3), Keras conventions.

One call of :func:`train` fits one model: Adam, mini-batches in a fresh random
order every epoch, loss = MSE + ``l1`` * :func:`lookloss.models.l1_penalty`, early
stopping on the validation loss *including* the L1 term (as Keras reports it) and
restoration of the best epoch's weights.

Seeding: ``seed`` fixes the batch order (a private ``torch.Generator``); the initial
weights are fixed by building the model with :func:`init_generator` of the same seed,
``models.build(arch, padding, generator=init_generator(seed))``. On the CPU the
same seed gives bit-identical weights.

Precision: the model's floating dtype (float32 for :func:`lookloss.models.build`;
``model.double()`` trains in float64) is the dtype of the data and of every step.

Speed (``benchmarks/train_throughput.py``, ``BENCHMARKS.md``): the loop computes
exactly what the textbook ``DataLoader`` loop (``tests/textbook.py``) computes,
but converts the data once to one float tensor and gathers batches with
``index_select``, uses the fused CPU Adam kernel, validates under ``inference_mode``
in large chunks and, on the CPU, stops glibc from handing freed memory back to the
kernel (:func:`lookloss.devices.keep_freed_memory`),
which otherwise can cost thousands of page faults per step. The convolutions take
~80 % of a step either way, so this gains 0-15 % CPU time, more where the textbook
loop page-faults.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from lookloss.devices import keep_freed_memory, placement, resolve_device
from lookloss.inference import PREDICT_BATCH, ArrayLike, as_inputs, as_targets
from lookloss.models import l1_penalty

EpochCallback = Callable[[dict[str, Any]], None]


@dataclass
class TrainResult:
    """Outcome of :func:`train`.

    Attributes
    ----------
    history : list of dict
        One row per epoch: ``epoch`` (1-based), ``train_loss`` (mean over batches of
        MSE + L1 term), ``val_loss`` (validation MSE + L1 term after the epoch) and
        ``seconds`` (wall time of the epoch, validation included).
    best_epoch : int
        Epoch (1-based) whose weights the model holds on return.
    epochs_run : int
        Epochs trained before stopping.
    best_val_loss : float
        Validation loss of ``best_epoch``.
    train_seconds : float
        Wall time of the whole loop.
    stopped_early : bool
        Whether early stopping ended training before ``max_epochs``.
    """

    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    epochs_run: int = 0
    best_val_loss: float = math.inf
    train_seconds: float = 0.0
    stopped_early: bool = False


@dataclass
class EarlyStopping:
    """Keras's ``EarlyStopping`` on a loss: stop once it has not improved (strictly) for
    ``patience`` consecutive epochs; remember the best epoch.

    Attributes
    ----------
    patience : int
        Epochs without improvement that end training.
    best : float
        Lowest loss so far.
    best_epoch : int
        Epoch (1-based) of ``best``; 0 before the first update.
    wait : int
        Epochs since ``best_epoch``.
    """

    patience: int
    best: float = math.inf
    best_epoch: int = 0
    wait: int = 0

    def update(self, epoch: int, loss: float) -> bool:
        """Record the loss of ``epoch``; True when it is the best so far (keep these weights)."""
        if loss < self.best:
            self.best, self.best_epoch, self.wait = loss, epoch, 0
            return True
        self.wait += 1
        return False

    @property
    def stop(self) -> bool:
        """Whether ``patience`` epochs have passed without improvement."""
        return self.wait >= self.patience


def init_generator(seed: int) -> torch.Generator:
    """CPU generator for the initial weights of the model trained with ``seed``."""
    return torch.Generator().manual_seed(seed)


def batch_orders(n: int, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Index batches of one epoch: a fresh permutation split into ``batch_size`` chunks.

    Draws ``torch.randperm(n, generator=generator)`` exactly like a shuffling
    ``DataLoader`` with that generator, so both visit the same batches.
    """
    return torch.randperm(n, generator=generator).split(batch_size)


def training_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, l1: float) -> torch.Tensor:
    """MSE of ``model(x)`` against ``y`` plus ``l1`` times the kernels' L1 norm."""
    loss = F.mse_loss(model(x), y)
    return loss + l1 * l1_penalty(model) if l1 else loss


def make_optimizer(model: nn.Module, learning_rate: float, adam_eps: float) -> torch.optim.Adam:
    """Adam with default betas, as PyTorch's fused kernel (the same update rule).

    PyTorch adds ``eps`` to ``sqrt(v_hat)``, Keras to ``sqrt(v)`` before the bias
    correction, i.e. Keras's denominator is larger by ``eps (1/sqrt(1 - beta2^t) - 1)``,
    at most ``3e-6`` for ``eps = 1e-7`` and shrinking to 0: negligible next to
    ``sqrt(v_hat)`` (about ``|gradient|``).
    """
    return torch.optim.Adam(model.parameters(), lr=learning_rate, eps=adam_eps, fused=True)


def validation_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, l1: float, batch_size: int) -> float:
    """Validation MSE + L1 term, the quantity Keras monitors (model left in train mode)."""
    model.eval()
    with torch.inference_mode():
        chunks = zip(x.split(batch_size), y.split(batch_size))
        squared = sum(float(F.mse_loss(model(xb), yb, reduction="sum")) for xb, yb in chunks)
        penalty = float(l1_penalty(model)) if l1 else 0.0
    model.train()
    return squared / len(y) + l1 * penalty


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    batches: tuple[torch.Tensor, ...],
    l1: float,
) -> float:
    """One pass of Adam steps over ``batches``; returns the mean batch loss."""
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    for index in batches:
        index = index.to(x.device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        loss = training_loss(model, x.index_select(0, index), y.index_select(0, index), l1)
        loss.backward()
        optimizer.step()
        total += loss.detach()
    return float(total) / len(batches)


def state_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached copy of the model's state dict (for restoring the best epoch)."""
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def train(
    model: nn.Module,
    x_train: ArrayLike,
    y_train: ArrayLike,
    x_val: ArrayLike,
    y_val: ArrayLike,
    *,
    l1: float,
    seed: int,
    batch_size: int = 200,
    learning_rate: float = 1e-3,
    adam_eps: float = 1e-7,
    max_epochs: int = 1000,
    patience: int = 15,
    device: str | torch.device = "cpu",
    on_epoch: EpochCallback | None = None,
    restore_best: bool = True,
    val_batch_size: int = PREDICT_BATCH,
) -> TrainResult:
    """Fit ``model`` in place with Adam and Keras-style early stopping.

    Parameters
    ----------
    model : torch.nn.Module
        A model from :func:`lookloss.models.build`; moved to ``device``.
    x_train, x_val : numpy.ndarray or torch.Tensor
        One-hot sequences ``(N, 4, L)``, uint8 or float.
    y_train, y_val : numpy.ndarray or torch.Tensor
        Anscombe-transformed targets ``(N,)``.
    l1 : float
        Weight of the L1 penalty on the kernels.
    seed : int
        Seeds the batch order (see the module docstring for the initial weights).
    batch_size, learning_rate, adam_eps : int, float, float
        Mini-batch size and Adam settings.
    max_epochs, patience : int
        Stop after ``max_epochs`` or once the validation loss has not improved
        (strictly) for ``patience`` consecutive epochs.
    device : {'cpu', 'cuda', 'auto'} or torch.device
        Where to train (see :func:`resolve_device`).
    on_epoch : callable, optional
        Called with each history row right after the epoch (e.g. to log it).
    restore_best : bool
        Load the best epoch's weights before returning (Keras
        ``restore_best_weights=True``); ``False`` keeps the last epoch's weights.
    val_batch_size : int
        Chunk size of the validation pass; does not change the result beyond
        float32 summation order.

    Returns
    -------
    TrainResult
        History and best epoch; ``model`` holds the best weights, in eval mode.
    """
    device = resolve_device(device)
    if device.type == "cpu":
        keep_freed_memory()
    model.to(device).train()
    dtype = placement(model)[1]
    x_train, y_train = as_inputs(x_train, device, dtype), as_targets(y_train, device, dtype)
    x_val, y_val = as_inputs(x_val, device, dtype), as_targets(y_val, device, dtype)
    if len(x_train) != len(y_train) or len(x_val) != len(y_val):
        raise ValueError("inputs and targets differ in length")
    order = torch.Generator().manual_seed(seed)
    optimizer = make_optimizer(model, learning_rate, adam_eps)
    result, best_state, stopping = TrainResult(), state_copy(model), EarlyStopping(patience)
    start = time.perf_counter()
    for epoch in range(1, max_epochs + 1):
        tic = time.perf_counter()
        train_loss = train_epoch(model, optimizer, x_train, y_train, batch_orders(len(y_train), batch_size, order), l1)
        val_loss = validation_loss(model, x_val, y_val, l1, val_batch_size)
        row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "seconds": time.perf_counter() - tic}
        result.history.append(row)
        result.epochs_run = epoch
        if on_epoch is not None:
            on_epoch(row)
        if stopping.update(epoch, val_loss):
            best_state = state_copy(model)
        elif stopping.stop:
            result.stopped_early = True
            break
    result.best_val_loss, result.best_epoch = stopping.best, stopping.best_epoch
    if restore_best and result.best_epoch:
        model.load_state_dict(best_state)
    result.train_seconds = time.perf_counter() - start
    model.eval()
    return result


__all__ = [
    "EarlyStopping",
    "EpochCallback",
    "TrainResult",
    "batch_orders",
    "init_generator",
    "make_optimizer",
    "state_copy",
    "train",
    "train_epoch",
    "training_loss",
    "validation_loss",
]
