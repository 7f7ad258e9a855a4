"""Training of the study's regressors (STUDY.md section 3), Keras conventions.

One call of :func:`train` fits one model: Adam, mini-batches in a fresh random
order every epoch, loss = MSE + ``l1`` * :func:`lookloss.models.l1_penalty`, early
stopping on the validation loss *including* the L1 term (as Keras reports it) and
restoration of the best epoch's weights.

Seeding: ``seed`` fixes the batch order (a private ``torch.Generator``); the initial
weights are fixed by building the model with :func:`init_generator` of the same seed,
``models.build(arch, padding, generator=init_generator(seed))``. On the CPU the
same seed gives bit-identical weights.

Speed (``benchmarks/train_throughput.py``, ``BENCHMARKS.md``): the loop computes
exactly what the textbook ``DataLoader`` loop computes, but converts the data once
to one float tensor and gathers batches with ``index_select``, uses the fused CPU
Adam kernel, validates under ``inference_mode`` in large chunks and, on the CPU,
stops glibc from handing freed memory back to the kernel (:func:`keep_freed_memory`),
which otherwise can cost thousands of page faults per step. The convolutions take
~80 % of a step either way, so this gains 0-15 % CPU time, more where the textbook
loop page-faults.
"""

from __future__ import annotations

import ctypes
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Sampler, TensorDataset

from lookloss.models import l1_penalty

ArrayLike = np.ndarray | torch.Tensor
EpochCallback = Callable[[dict[str, Any]], None]

#: Sequences per forward pass when only predicting (validation, :func:`predict`).
PREDICT_BATCH = 2500


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


def init_generator(seed: int) -> torch.Generator:
    """CPU generator for the initial weights of the model trained with ``seed``."""
    return torch.Generator().manual_seed(seed)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``'auto' | 'cpu' | 'cuda[:k]'`` into a usable device.

    ``'auto'`` picks CUDA when available, else the CPU. Asking for CUDA where there
    is none raises ``RuntimeError`` rather than silently training on the CPU.
    """
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {str(device)!r} requested but CUDA is not available (torch {torch.__version__})")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {str(device)!r}; use 'auto', 'cpu' or 'cuda'")
    return device


def keep_freed_memory() -> bool:
    """Make glibc keep freed memory instead of handing it back to the kernel.

    PyTorch frees and re-allocates every activation (~1 MB each) at every step. By
    default glibc serves such blocks with fresh ``mmap``s or trims the heap, so each
    step touches thousands of new pages; on small VMs the page faults cost as much
    as the convolutions. This raises the mmap and trim thresholds (process-wide,
    idempotent; it changes no result, only where memory comes from).

    Returns
    -------
    bool
        Whether the setting was applied (``False`` outside glibc).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt  # resolved in the running process: glibc's
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    ok = mallopt(m_mmap_threshold, 256 << 20) == 1
    ok &= mallopt(m_trim_threshold, 1 << 30) == 1
    ok &= mallopt(m_top_pad, 64 << 20) == 1
    return bool(ok)


def as_inputs(x: ArrayLike, device: torch.device | str = "cpu") -> torch.Tensor:
    """One-hot sequences ``(N, 4, L)`` (uint8 or float) as a contiguous float32 tensor."""
    x = torch.as_tensor(x)
    if x.ndim != 3:
        raise ValueError(f"expected one-hot sequences of shape (N, 4, L), got {tuple(x.shape)}")
    return x.to(device=device, dtype=torch.float32).contiguous()


def as_targets(y: ArrayLike, device: torch.device | str = "cpu") -> torch.Tensor:
    """Anscombe targets as a float32 vector."""
    return torch.as_tensor(y).to(device=device, dtype=torch.float32).reshape(-1).contiguous()


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


def predict(model: nn.Module, x: ArrayLike, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """Anscombe-space predictions of ``model`` for one-hot ``x`` ``(N, 4, L)``.

    Works for any module mapping ``(N, 4, L)`` to ``(N,)`` or ``(N, 1)``. Runs under
    ``torch.inference_mode`` in eval mode on the device of the model's parameters
    (the CPU for a model without any) and returns a numpy vector of length N in
    the model's output dtype (float32 for the study's models).
    """
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    x = torch.as_tensor(x)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            parts = [model(as_inputs(chunk, device)).reshape(-1).cpu() for chunk in x.split(batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(parts).numpy() if parts else np.zeros(0, dtype=np.float32)


def mse(model: nn.Module, x: ArrayLike, y_anscombe: ArrayLike, batch_size: int = PREDICT_BATCH) -> float:
    """Mean squared error of :func:`predict` against Anscombe targets (float64 mean)."""
    residual = predict(model, x, batch_size).astype(np.float64) - np.asarray(y_anscombe, dtype=np.float64).ravel()
    return float(np.mean(residual**2))


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
    x_train, y_train = as_inputs(x_train, device), as_targets(y_train, device)
    x_val, y_val = as_inputs(x_val, device), as_targets(y_val, device)
    if len(x_train) != len(y_train) or len(x_val) != len(y_val):
        raise ValueError("inputs and targets differ in length")
    order = torch.Generator().manual_seed(seed)
    optimizer = make_optimizer(model, learning_rate, adam_eps)
    result, best_state, wait = TrainResult(), state_copy(model), 0
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
        if val_loss < result.best_val_loss:
            result.best_val_loss, result.best_epoch, wait = val_loss, epoch, 0
            best_state = state_copy(model)
        else:
            wait += 1
            if wait >= patience:
                result.stopped_early = True
                break
    if restore_best and result.best_epoch:
        model.load_state_dict(best_state)
    result.train_seconds = time.perf_counter() - start
    model.eval()
    return result


class EpochPermutation(Sampler[int]):
    """Sampler drawing one ``torch.randperm`` per epoch from ``generator``.

    The batch order of :func:`train`, for a ``DataLoader``. (``RandomSampler``
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
    seeded with ``seed`` (hence the same batches as :func:`train`), plain Adam, validation in
    batches of ``batch_size`` under ``no_grad``. Runs exactly ``epochs`` epochs on
    the CPU, with no early stopping, and returns the same history rows as
    :func:`train`.
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


__all__ = [
    "TrainResult",
    "as_inputs",
    "as_targets",
    "EpochPermutation",
    "batch_orders",
    "init_generator",
    "keep_freed_memory",
    "mse",
    "predict",
    "resolve_device",
    "train",
    "train_textbook",
    "training_loss",
    "validation_loss",
]
