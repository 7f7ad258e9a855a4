"""Fused training: a group of models of one shape trained as one network.

The study's models are tiny (a few thousand parameters): one of them leaves a GPU
almost idle, waiting on kernel launches and host round-trips. :func:`train`
trains K models of one architecture and padding (any mix of control, L1 weight and
seed: :class:`Member`) in one process as one network,
:class:`lookloss.models.FusedRegressors`: the one-model network
(:class:`lookloss.models.ConvRegressor`, the only definition of the architecture) run
on the K models' stacked weights with ``torch.func.vmap``, so that every convolution
becomes a grouped convolution (``groups=K``, each group seeing its own model's batch)
and every dense layer a batched matrix product.

Every model keeps exactly what :func:`lookloss.training.train` gives it:

- its initial weights, ``models.build(arch, padding, generator=init_generator(seed))``;
- its batch order, a ``torch.randperm`` per epoch from a generator seeded with its seed;
- its L1 weight and its targets (its control's counts);
- its early stopping (patience on its own validation loss, L1 term included) and its
  best epoch's weights.

The group's loss is the sum of the models' losses, so each model's gradient is its own
loss's gradient, and Adam, an element-wise update, keeps the models independent. A model
that has stopped is frozen: its best weights and history are taken when it stops, and
it is dropped from the network once enough siblings have stopped (``compact``), which
changes nothing for the others. The group ends when every model has stopped.

On CUDA the training step runs without a host round-trip: batch indices for a whole
epoch go to the GPU at once, losses accumulate on the GPU, and the host synchronises
once per epoch (validation and early stopping). The step itself is captured in a CUDA
graph after a few eager warm-up steps and replayed (``cuda_graph``), with an eager
fallback when capture fails.

A group can be resumed: with ``snapshot`` set, its whole state (weights, Adam state,
best weights, early stopping, batch-order generators, histories, the models already
stopped) is written atomically at the end of an epoch, at most every
``snapshot_every`` seconds and once more at the end, and a later call with the same
group, settings and data goes on from it. Every later step is the one an unbroken
run takes, so a killed job (a time limit, a lost node) loses at most that interval.
The state and its snapshots are :mod:`lookloss.groupstate`'s.

Numeric modes are PyTorch's defaults (float32; cuDNN
convolutions may use TF32 on Ampere and newer cards, matrix products do not;
``cudnn.benchmark`` off): :func:`numerics` records them in each model's metrics.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from lookloss.devices import keep_freed_memory, resolve_device
from lookloss.groupstate import GroupData, GroupResult, GroupSpec, GroupState, Member, load_snapshot, snapshot_key
from lookloss.inference import PREDICT_BATCH, ArrayLike, as_inputs
from lookloss.models import FusedRegressors

__all__ = ["WARMUP_STEPS", "FusedRegressors", "GroupResult", "GroupState", "Member", "numerics", "predict_each",
           "train"]

log = logging.getLogger("lookloss")

#: Eager steps of each batch shape before its step is captured in a CUDA graph.
WARMUP_STEPS = 3


def predict_each(net: FusedRegressors, x: ArrayLike, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """Every model's predictions for the same sequences ``x`` ``(N, 4, L)``: an array ``(K, N)``."""
    device = next(net.parameters()).device
    x = torch.as_tensor(x)
    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode():
            parts = [net(as_inputs(chunk, device, net.dtype), shared=True).cpu()
                     for chunk in x.split(batch_size)]
    finally:
        net.train(was_training)
    return torch.cat(parts, dim=1).numpy() if parts else np.zeros((net.k, 0), dtype=np.float32)


def numerics(device: torch.device) -> dict[str, object]:
    """The numeric modes a model was trained under (recorded in its metrics)."""
    modes: dict[str, object] = {"device": str(device)}
    if device.type == "cuda":
        modes.update(cudnn_tf32=torch.backends.cudnn.allow_tf32, matmul_tf32=torch.backends.cuda.matmul.allow_tf32,
                     cudnn_benchmark=torch.backends.cudnn.benchmark,
                     cudnn_deterministic=torch.backends.cudnn.deterministic)
    return modes


class _Step:
    """One Adam step of every model of the group's current network, eager or replayed from a CUDA graph.

    The data stay on the device; each call takes the batch indices ``(K, B)`` (one row
    per model) and adds each model's loss to ``self.epoch_loss`` (float64, on the device).
    Each model reads its control's row of the targets and adds its own L1 term.
    """

    def __init__(self, state: GroupState, data: GroupData, use_graphs: bool) -> None:
        members, device = state.members, data.x.device
        self.net, self.optimizer, self.x, self.y = state.net, state.optimizer, data.x, data.y
        self.rows = torch.tensor([data.controls.index(members[i].control) for i in state.active], device=device)
        self.l1 = torch.tensor([members[i].l1 for i in state.active], dtype=data.x.dtype, device=device)
        self.epoch_loss = torch.zeros(self.net.k, dtype=torch.float64, device=device)
        self.use_graphs = use_graphs
        self.graphs: dict[int, tuple[torch.cuda.CUDAGraph, torch.Tensor]] = {}
        self.eager_runs: dict[int, int] = {}
        self.side = torch.cuda.Stream() if use_graphs else None

    def losses(self, index: torch.Tensor) -> torch.Tensor:
        """Each model's MSE plus its L1 term on its batch: ``(K,)``."""
        x = self.x[index.t()]  # (B, K, 4, L): batch row b of model k is x[index[k, b]]
        y = self.y[self.rows.unsqueeze(1), index]  # (K, B): model k's own targets
        mse = F.mse_loss(self.net(x), y, reduction="none").mean(dim=1)
        return mse + self.l1 * self.net.l1_penalties()

    def _eager(self, index: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.losses(index)
        loss.sum().backward()
        self.optimizer.step()
        self.epoch_loss += loss.detach()

    def __call__(self, index: torch.Tensor) -> None:
        size = index.shape[1]
        if not self.use_graphs:
            self._eager(index)
            return
        if size in self.graphs:
            graph, static = self.graphs[size]
            static.copy_(index)
            graph.replay()
            return
        # warm-up (and every step until capture) runs eagerly on a side stream, as capture requires
        self.side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.side):
            self._eager(index)
        torch.cuda.current_stream().wait_stream(self.side)
        self.eager_runs[size] = self.eager_runs.get(size, 0) + 1
        if self.eager_runs[size] >= WARMUP_STEPS:
            self._capture(index)

    def _capture(self, index: torch.Tensor) -> None:
        static = index.clone()
        graph = torch.cuda.CUDAGraph()
        self.optimizer.zero_grad(set_to_none=True)
        try:
            with torch.cuda.graph(graph):
                loss = self.losses(static)
                loss.sum().backward()
                self.optimizer.step()
                self.epoch_loss += loss.detach()
        except Exception as error:  # noqa: BLE001  (any capture failure: stay eager)
            log.warning("CUDA graph capture failed (%s); training this group eagerly", error)
            self.use_graphs = False
            return
        self.graphs[index.shape[1]] = (graph, static)

    @property
    def captured(self) -> bool:
        return bool(self.graphs)


def train(
    arch: str,
    padding: str,
    members: Sequence[Member],
    x_train: ArrayLike,
    y_train: Mapping[str, ArrayLike],
    x_val: ArrayLike,
    y_val: Mapping[str, ArrayLike],
    *,
    batch_size: int,
    learning_rate: float,
    adam_eps: float,
    max_epochs: int,
    patience: int,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    cuda_graph: bool = True,
    compact: float | None = 0.125,
    val_batch_size: int = PREDICT_BATCH,
    on_epoch: Callable[[int, int, float], None] | None = None,
    snapshot: str | Path | None = None,
    snapshot_every: float = 60.0,
) -> list[GroupResult]:
    """Train ``members`` (models of ``arch`` and ``padding``) as one fused network.

    Each member ends as :func:`lookloss.training.train` with the same data, settings
    and seed would leave it (see the module docstring); the data are shared and each
    member reads its control's targets.

    Parameters
    ----------
    arch, padding : str
        The group's shape.
    members : sequence of Member
        The models: control, L1 weight and seed each.
    x_train, x_val : array-like
        One-hot sequences ``(N, 4, L)``.
    y_train, y_val : mapping
        Anscombe-space targets ``(N,)`` of every control the members name.
    batch_size, learning_rate, adam_eps, max_epochs, patience
        As :func:`lookloss.training.train` takes them.
    device : str or torch.device
        ``cpu``, ``cuda`` or ``auto`` (:func:`lookloss.devices.resolve_device`).
    dtype : torch.dtype
        Precision of the weights and of every step (float32 for the study, float64 in
        the equivalence tests).
    cuda_graph : bool
        On CUDA, replay each step from a CUDA graph (else eager).
    compact : float or None
        Drop the stopped models from the network once they are at least this fraction
        of it (None: never; 0: at every stop). Changes the speed, not the results.
    val_batch_size : int
        Sequences per validation forward pass.
    on_epoch : callable, optional
        Called after every epoch with ``(epoch, active models, seconds)``.
    snapshot : path, optional
        File that keeps the group's state for a resumed run (see the module docstring).
        If it holds a snapshot of this group (same members, settings, dtype, data and
        code), training goes on from it; a snapshot of anything else is ignored (with
        a warning) and overwritten. Left in place at the end: the caller removes it
        once the models are saved.
    snapshot_every : float
        Least seconds between two snapshots (0: after every epoch).

    Returns
    -------
    list of GroupResult
        One per member, in the order of ``members``.
    """
    device = resolve_device(device)
    if device.type == "cpu":
        keep_freed_memory()
    members = list(members)
    data = GroupData.load(members, (x_train, y_train), (x_val, y_val), device, dtype)
    spec = GroupSpec(arch, padding, data.x.shape[-1], dtype, device, batch_size, learning_rate, adam_eps,
                     max_epochs, patience)
    key = "" if snapshot is None else snapshot_key(spec, members, (x_train, y_train, x_val, y_val), data.controls)
    saved = None if snapshot is None else load_snapshot(snapshot, key)
    if saved is None:
        state = GroupState.fresh(spec, members)
    else:
        log.info("resuming %d %s/%s models after epoch %d from %s", len(members), arch, padding, saved["epoch"],
                 snapshot)
        state = GroupState.resume(spec, members, saved)
    use_graphs = cuda_graph and device.type == "cuda"
    step = _Step(state, data, use_graphs)
    start = time.perf_counter() - state.seconds
    last_snapshot = time.perf_counter()
    while state.epoch < max_epochs and len(state.finished) < len(members):
        seconds, stopped = _epoch(state, step, data, val_batch_size)
        state.retire(stopped, time.perf_counter() - start)
        remaining = state.remaining
        if remaining and compact is not None and len(state.active) - len(remaining) >= max(
                1, math.ceil(compact * len(state.active))):
            state.compact(remaining)
            step = _Step(state, data, use_graphs)
        if snapshot is not None and (not remaining or time.perf_counter() - last_snapshot >= snapshot_every):
            state.save(snapshot, key, time.perf_counter() - start)
            last_snapshot = time.perf_counter()
        if on_epoch is not None:
            on_epoch(state.epoch, len(remaining), seconds)
    return [state.finished[i] for i in range(len(members))]


def _epoch(state: GroupState, step: _Step, data: GroupData, val_batch_size: int) -> tuple[float, list[int]]:
    """One epoch of every active model: its batches, validation, history and early stopping.

    Returns the epoch's seconds and the rows of the models that stop after it.
    """
    tic = time.perf_counter()
    state.epoch += 1
    epoch = state.epoch
    index = torch.stack([torch.randperm(len(data.x), generator=state.orders[i]) for i in state.active])
    step.epoch_loss.zero_()
    batches = index.to(state.spec.device).split(state.spec.batch_size, dim=1)
    for batch in batches:
        step(batch)
    val = _validation_losses(state.net, data.x_val, data.y_val, step.rows, step.l1, val_batch_size)
    train_loss = (step.epoch_loss / len(batches)).tolist()  # the epoch's one synchronisation
    val = val.tolist()
    seconds = time.perf_counter() - tic
    state.graphed = state.graphed or step.captured
    improved, stopped = [], []
    for row, i in enumerate(state.active):
        if i in state.finished:
            continue
        result = state.results[i]
        result.history.append({"epoch": epoch, "train_loss": train_loss[row], "val_loss": val[row], "seconds": seconds})
        result.epochs_run = epoch
        if state.stoppings[i].update(epoch, val[row]):
            improved.append(row)
        elif state.stoppings[i].stop:
            result.stopped_early = True
            stopped.append(row)
        if epoch == state.spec.max_epochs and row not in stopped:
            stopped.append(row)
    _keep_best(state.net, state.best, improved)
    return seconds, stopped


def _validation_losses(net: FusedRegressors, x: torch.Tensor, y: torch.Tensor, rows: torch.Tensor,
                       l1: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Each model's validation MSE plus its L1 term, as :func:`lookloss.training.validation_loss` (on the device)."""
    net.eval()
    with torch.inference_mode():
        squared = torch.zeros(net.k, dtype=torch.float64, device=x.device)
        for xb, yb in zip(x.split(batch_size), y.split(batch_size, dim=1), strict=True):
            residual = net(xb, shared=True) - yb.index_select(0, rows)
            squared += (residual**2).sum(dim=1).double()
        penalty = (l1 * net.l1_penalties()).double()
    net.train()
    return squared / x.shape[0] + penalty


def _keep_best(net: FusedRegressors, best: list[torch.Tensor], rows: list[int]) -> None:
    """Copy the current weights of the models at ``rows`` into ``best``."""
    if not rows:
        return
    index = torch.as_tensor(rows, dtype=torch.long, device=best[0].device)
    with torch.no_grad():
        for kept, current in zip(best, net.parameters(), strict=True):
            kept.index_copy_(0, index, current.index_select(0, index))
