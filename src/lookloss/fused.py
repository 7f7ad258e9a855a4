"""Fused training: a group of models of one shape trained as one network.

The study's models are tiny (a few thousand parameters): one of them leaves a GPU
almost idle, waiting on kernel launches and host round-trips. :func:`train`
trains K models of one architecture and padding (any mix of control, L1 weight and
seed: :class:`Member`) in one process as one network, :class:`FusedRegressors`: every
convolution becomes a grouped convolution (``groups=K``, each group seeing its own
model's batch) and every dense layer a batched matrix product.

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

Numeric modes are PyTorch's defaults (float32; cuDNN
convolutions may use TF32 on Ampere and newer cards, matrix products do not;
``cudnn.benchmark`` off): :func:`numerics` records them in each model's metrics.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from lookloss import io, models
from lookloss.devices import keep_freed_memory, resolve_device
from lookloss.inference import PREDICT_BATCH, ArrayLike, as_inputs, as_targets
from lookloss.models import ConvRegressor
from lookloss.training import EarlyStopping, TrainResult, init_generator

log = logging.getLogger("lookloss")

#: Eager steps of each batch shape before its step is captured in a CUDA graph.
WARMUP_STEPS = 3


@dataclass(frozen=True)
class Member:
    """One model of a fused group: what may differ between the models of a group.

    The architecture and padding are the group's, so a group cannot mix shapes.
    """

    control: str
    l1: float
    seed: int


class FusedRegressors(nn.Module):
    """K :class:`lookloss.models.ConvRegressor` of one architecture, padding and length as one network.

    Every parameter has the models along its first dimension: the kernels of
    convolution ``i`` are ``conv_weights[i]`` of shape ``(K, filters, in_channels,
    width)``, so that model ``k``'s parameters are the ``[k]`` slices. :meth:`forward`
    takes one batch per model.

    Parameters
    ----------
    arch, padding, seq_len : str, str, int
        The shape shared by every model (see :class:`lookloss.models.ConvRegressor`).
    k : int
        Number of models.
    dtype : torch.dtype
        Floating dtype of the parameters.
    """

    def __init__(self, arch: str, padding: str, seq_len: int, k: int, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        template = ConvRegressor(arch, padding, seq_len)  # checks the shape; its layers give the sizes
        self.arch, self.padding, self.seq_len, self.k = arch, padding, seq_len, k
        left, right = models.same_padding(models.arch_spec(arch).width) if padding == "same" else (0, 0)
        self.explicit_pad = (left, right) if left != right else None
        self.conv_padding = left if left == right else 0

        def stacked(layer: nn.Module) -> tuple[nn.Parameter, nn.Parameter]:
            return (nn.Parameter(torch.empty(k, *layer.weight.shape, dtype=dtype)),
                    nn.Parameter(torch.empty(k, *layer.bias.shape, dtype=dtype)))

        convs = [stacked(layer) for layer in template.convs]
        dense = [stacked(layer) for layer in template.dense]
        self.conv_weights = nn.ParameterList(w for w, _ in convs)
        self.conv_biases = nn.ParameterList(b for _, b in convs)
        self.dense_weights = nn.ParameterList(w for w, _ in dense)
        self.dense_biases = nn.ParameterList(b for _, b in dense)
        self.output_weight, self.output_bias = stacked(template.output)

    def _pairs(self) -> list[tuple[nn.Parameter, nn.Parameter]]:
        """(weight, bias) of every layer in forward order, the output layer last."""
        return [*zip(self.conv_weights, self.conv_biases), *zip(self.dense_weights, self.dense_biases),
                (self.output_weight, self.output_bias)]

    @classmethod
    def stack(cls, members: Sequence[ConvRegressor]) -> FusedRegressors:
        """One fused network holding copies of ``members``' weights, in order.

        Raises
        ------
        ValueError
            When the models differ in architecture, padding, length or dtype.
        """
        if not members:
            raise ValueError("a fused group needs at least one model")
        shapes = sorted({(m.arch, m.padding, m.seq_len, str(next(m.parameters()).dtype)) for m in members})
        if len(shapes) > 1:
            raise ValueError(f"a fused group holds models of one architecture, padding, length and dtype; got {shapes}")
        first = members[0]
        fused = cls(first.arch, first.padding, first.seq_len, len(members), next(first.parameters()).dtype)
        with torch.no_grad():
            for k, model in enumerate(members):
                layers = [*model.convs, *model.dense, model.output]
                for (weight, bias), layer in zip(fused._pairs(), layers, strict=True):
                    weight[k].copy_(layer.weight)
                    bias[k].copy_(layer.bias)
        return fused

    def member(self, k: int) -> ConvRegressor:
        """Model ``k`` as a stand-alone :class:`lookloss.models.ConvRegressor` on the CPU (a copy)."""
        model = ConvRegressor(self.arch, self.padding, self.seq_len).to(self.output_weight.dtype)
        with torch.no_grad():
            layers = [*model.convs, *model.dense, model.output]
            for (weight, bias), layer in zip(self._pairs(), layers, strict=True):
                layer.weight.copy_(weight[k])
                layer.bias.copy_(bias[k])
        return model.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions ``(K, B)`` for one batch per model, ``x`` of shape ``(B, K, 4, L)``."""
        batch, k = x.shape[:2]
        h = x.reshape(batch, k * x.shape[2], x.shape[3])
        for weight, bias in zip(self.conv_weights, self.conv_biases, strict=True):
            if self.explicit_pad is not None:
                h = F.pad(h, self.explicit_pad)
            h = torch.relu(F.conv1d(h, weight.flatten(0, 1), bias.flatten(), padding=self.conv_padding, groups=k))
        h = h.mean(dim=2).view(batch, k, -1).transpose(0, 1)  # (K, B, filters)
        for weight, bias in zip(self.dense_weights, self.dense_biases, strict=True):
            h = torch.relu(torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2)))
        return torch.baddbmm(self.output_bias.unsqueeze(1), h, self.output_weight.transpose(1, 2)).squeeze(2)

    def l1_penalties(self) -> torch.Tensor:
        """Per model, the sum of ``|w|`` over the kernels of every layer but the output ``(K,)``."""
        return sum(w.abs().flatten(1).sum(dim=1) for w in [*self.conv_weights, *self.dense_weights])

    def keep(self, rows: Sequence[int]) -> FusedRegressors:
        """A new network of the models at ``rows`` (their weights copied, in that order)."""
        index = torch.as_tensor(list(rows), dtype=torch.long, device=self.output_weight.device)
        kept = FusedRegressors(self.arch, self.padding, self.seq_len, len(index), self.output_weight.dtype)
        kept.to(self.output_weight.device)
        with torch.no_grad():
            for new, old in zip(kept.parameters(), self.parameters(), strict=True):
                new.copy_(old.index_select(0, index))
        return kept


def predict_each(net: FusedRegressors, x: ArrayLike, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """Every model's predictions for the same sequences ``x`` ``(N, 4, L)``: an array ``(K, N)``."""
    weight = net.output_weight
    x = torch.as_tensor(x)
    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode():
            parts = [_shared_forward(net, as_inputs(chunk, weight.device, weight.dtype)).cpu()
                     for chunk in x.split(batch_size)]
    finally:
        net.train(was_training)
    return torch.cat(parts, dim=1).numpy() if parts else np.zeros((net.k, 0), dtype=np.float32)


def _shared_forward(net: FusedRegressors, x: torch.Tensor) -> torch.Tensor:
    """``net`` on the same batch ``(B, 4, L)`` for every model: ``(K, B)``."""
    return net(x.unsqueeze(1).expand(-1, net.k, -1, -1))


def numerics(device: torch.device) -> dict[str, object]:
    """The numeric modes a model was trained under (recorded in its metrics)."""
    modes: dict[str, object] = {"device": str(device)}
    if device.type == "cuda":
        modes.update(cudnn_tf32=torch.backends.cudnn.allow_tf32, matmul_tf32=torch.backends.cuda.matmul.allow_tf32,
                     cudnn_benchmark=torch.backends.cudnn.benchmark,
                     cudnn_deterministic=torch.backends.cudnn.deterministic)
    return modes


@dataclass
class GroupResult:
    """Outcome of :func:`train` for one member: what :func:`lookloss.training.train`
    returns, the trained model (best weights, CPU, eval mode) and whether its group's
    steps were replayed from CUDA graphs."""

    member: Member
    model: ConvRegressor
    result: TrainResult
    cuda_graph: bool


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


@dataclass(frozen=True)
class GroupSpec:
    """What a fused group is trained as: its models' shape, device and settings.

    ``batch_size`` ... ``patience`` are as :func:`lookloss.training.train` takes them.
    """

    arch: str
    padding: str
    seq_len: int
    dtype: torch.dtype
    device: torch.device
    batch_size: int
    learning_rate: float
    adam_eps: float
    max_epochs: int
    patience: int

    @property
    def settings(self) -> dict[str, float]:
        """The training settings (what a snapshot must have been made with)."""
        return {"batch_size": self.batch_size, "learning_rate": self.learning_rate, "adam_eps": self.adam_eps,
                "max_epochs": self.max_epochs, "patience": self.patience}


@dataclass
class GroupData:
    """A group's data on its device: inputs and, one row per control, targets."""

    x: torch.Tensor
    y: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    controls: list[str]

    @classmethod
    def load(cls, members: Sequence[Member], train: tuple[ArrayLike, Mapping[str, ArrayLike]],
             val: tuple[ArrayLike, Mapping[str, ArrayLike]], device: torch.device, dtype: torch.dtype) -> GroupData:
        """The inputs and the targets of every control the members name, on ``device``."""
        controls = sorted({m.control for m in members})
        missing = [c for c in controls if c not in train[1] or c not in val[1]]
        if missing:
            raise ValueError(f"no targets for control(s) {missing}; given {sorted(train[1])}")
        x, x_val = as_inputs(train[0], device, dtype), as_inputs(val[0], device, dtype)
        y = torch.stack([as_targets(train[1][c], device, dtype) for c in controls])
        y_val = torch.stack([as_targets(val[1][c], device, dtype) for c in controls])
        if y.shape[1] != len(x) or y_val.shape[1] != len(x_val):
            raise ValueError("inputs and targets differ in length")
        return cls(x, y, x_val, y_val, controls)


@dataclass
class GroupState:
    """Everything a fused group carries from one epoch to the next; a snapshot is this, saved.

    ``active`` lists the members in the network, by row; ``finished`` the members that
    have stopped (by member index), each with its best weights taken.
    """

    spec: GroupSpec
    members: list[Member]
    net: FusedRegressors
    optimizer: torch.optim.Adam
    best: list[torch.Tensor]
    orders: list[torch.Generator]
    stoppings: list[EarlyStopping]
    results: list[TrainResult]
    active: list[int]
    finished: dict[int, GroupResult] = dataclasses.field(default_factory=dict)
    epoch: int = 0  # the last epoch done
    graphed: bool = False  # whether steps were replayed from CUDA graphs
    seconds: float = 0.0  # training time before this process (a resumed group)

    @classmethod
    def fresh(cls, spec: GroupSpec, members: Sequence[Member]) -> GroupState:
        """Every member built from its seed, as :func:`lookloss.training.train` builds it."""
        built = [models.build(spec.arch, spec.padding, spec.seq_len, generator=init_generator(m.seed)).to(spec.dtype)
                 for m in members]
        net = FusedRegressors.stack(built).to(spec.device)
        return cls(spec, list(members), net, _adam(net, spec), [p.detach().clone() for p in net.parameters()],
                   [torch.Generator().manual_seed(m.seed) for m in members],
                   [EarlyStopping(spec.patience) for _ in members], [TrainResult() for _ in members],
                   list(range(len(members))))

    @classmethod
    def resume(cls, spec: GroupSpec, members: Sequence[Member], saved: Mapping[str, Any]) -> GroupState:
        """The state :meth:`save` wrote (its key already checked by :func:`_load_snapshot`)."""
        net = FusedRegressors(spec.arch, spec.padding, spec.seq_len, len(saved["active"]), spec.dtype)
        net.load_state_dict(saved["net"])
        net.to(spec.device)
        optimizer = _adam(net, spec)
        for parameter, state in zip(net.parameters(), saved["adam"], strict=True):
            if state:
                optimizer.state[parameter] = {name: value.to(spec.device) for name, value in state.items()}
        orders = [torch.Generator() for _ in members]
        for generator, state in zip(orders, saved["orders"], strict=True):
            generator.set_state(state)
        results = [TrainResult(**state) for state in saved["results"]]
        finished = {int(i): GroupResult(members[int(i)], _model_from(spec, done["weights"]), results[int(i)],
                                        done["cuda_graph"]) for i, done in saved["finished"].items()}
        return cls(spec, list(members), net, optimizer, [b.to(spec.device) for b in saved["best"]], orders,
                   [EarlyStopping(**state) for state in saved["stoppings"]], results, saved["active"], finished,
                   saved["epoch"], saved["graphed"], saved["seconds"])

    def save(self, path: str | Path, key: str, seconds: float) -> None:
        """Write the state atomically (a kill leaves the previous snapshot whole)."""
        state = {
            "key": key, "epoch": self.epoch, "active": list(self.active), "graphed": self.graphed, "seconds": seconds,
            "net": {name: value.cpu() for name, value in self.net.state_dict().items()},
            "adam": [{name: value.cpu() for name, value in self.optimizer.state.get(p, {}).items()}
                     for p in self.net.parameters()],
            "best": [b.cpu() for b in self.best],
            "orders": [g.get_state() for g in self.orders],
            "stoppings": [dataclasses.asdict(s) for s in self.stoppings],
            "results": [dataclasses.asdict(r) for r in self.results],
            "finished": {str(i): {"weights": r.model.state_dict(), "cuda_graph": r.cuda_graph}
                         for i, r in self.finished.items()},
        }
        with io.atomic_path(path) as tmp:
            torch.save(state, tmp)

    @property
    def remaining(self) -> list[int]:
        """Rows of the network whose member has not stopped."""
        return [row for row, i in enumerate(self.active) if i not in self.finished]

    def retire(self, rows: Sequence[int], seconds: float) -> None:
        """The members at ``rows`` have stopped: take their best weights (the last if none improved)."""
        for row in rows:
            i = self.active[row]
            result, stopping = self.results[i], self.stoppings[i]
            result.best_val_loss, result.best_epoch = stopping.best, stopping.best_epoch
            result.train_seconds = seconds
            weights = self.best if result.best_epoch else list(self.net.parameters())  # never improved (NaN): last
            self.finished[i] = GroupResult(self.members[i], _member_of(self.net, weights, row), result, self.graphed)

    def compact(self, rows: Sequence[int]) -> None:
        """Keep only the models at ``rows``: their weights, best weights and Adam state, exactly."""
        kept = self.net.keep(rows)
        index = torch.as_tensor(list(rows), dtype=torch.long, device=self.spec.device)
        optimizer = _adam(kept, self.spec)
        with torch.no_grad():
            for old, new in zip(self.net.parameters(), kept.parameters(), strict=True):
                state = self.optimizer.state.get(old)
                if state:
                    optimizer.state[new] = {key: value.clone() if key == "step" else value.index_select(0, index)
                                            for key, value in state.items()}
        self.net, self.optimizer = kept, optimizer
        self.best = [b.index_select(0, index) for b in self.best]
        self.active = [self.active[row] for row in rows]


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
    key = "" if snapshot is None else _snapshot_key(spec, members, (x_train, y_train, x_val, y_val), data.controls)
    saved = None if snapshot is None else _load_snapshot(snapshot, key)
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


#: Source files whose code a snapshot was made with: a snapshot of other code is not resumed.
_CODE = [Path(__file__), Path(models.__file__), Path(__file__).with_name("training.py")]


def _snapshot_key(spec: GroupSpec, members: Sequence[Member], data: Sequence[object], controls: Sequence[str]) -> str:
    """What a snapshot must have been made with to be resumed: the group, settings, data and code."""
    digest = hashlib.sha256()
    x_train, y_train, x_val, y_val = data
    for array in (x_train, *(y_train[c] for c in controls), x_val, *(y_val[c] for c in controls)):
        array = np.ascontiguousarray(torch.as_tensor(array).cpu().numpy())
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.data)
    code = hashlib.sha256(b"".join(path.read_bytes() for path in _CODE)).hexdigest()
    return json.dumps({"arch": spec.arch, "padding": spec.padding, "members": [dataclasses.astuple(m) for m in members],
                       "settings": spec.settings, "dtype": str(spec.dtype), "data": digest.hexdigest(),
                       "code": code}, sort_keys=True)


def _load_snapshot(path: str | Path, key: str) -> dict | None:
    """The snapshot at ``path`` if it is one of the group ``key`` names, else None (a warning says why)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001  (unreadable: train afresh)
        log.warning("ignoring snapshot %s, which cannot be read (%s); training afresh", path, error)
        return None
    if not isinstance(state, dict) or state.get("key") != key:
        log.warning("ignoring snapshot %s: it is of another group, settings or data; training afresh", path)
        return None
    return state


def _model_from(spec: GroupSpec, weights: Mapping[str, torch.Tensor]) -> ConvRegressor:
    """A stand-alone model (CPU, eval mode) holding ``weights``."""
    model = ConvRegressor(spec.arch, spec.padding, spec.seq_len).to(spec.dtype)
    model.load_state_dict(weights)
    return model.eval()


def _adam(net: FusedRegressors, spec: GroupSpec) -> torch.optim.Adam:
    """Adam as :func:`lookloss.training.make_optimizer` makes it; capturable in a CUDA graph on CUDA."""
    return torch.optim.Adam(net.parameters(), lr=spec.learning_rate, eps=spec.adam_eps, fused=True,
                            capturable=spec.device.type == "cuda")


def _validation_losses(net: FusedRegressors, x: torch.Tensor, y: torch.Tensor, rows: torch.Tensor,
                       l1: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Each model's validation MSE plus its L1 term, as :func:`lookloss.training.validation_loss` (on the device)."""
    net.eval()
    with torch.inference_mode():
        squared = torch.zeros(net.k, dtype=torch.float64, device=x.device)
        for xb, yb in zip(x.split(batch_size), y.split(batch_size, dim=1), strict=True):
            residual = _shared_forward(net, xb) - yb.index_select(0, rows)
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


def _member_of(net: FusedRegressors, weights: Sequence[torch.Tensor], row: int) -> ConvRegressor:
    """The model at ``row`` with ``weights`` (stacked like ``net``'s), as a stand-alone model on the CPU."""
    holder = FusedRegressors(net.arch, net.padding, net.seq_len, 1, net.output_weight.dtype)
    with torch.no_grad():
        for target, source in zip(holder.parameters(), weights, strict=True):
            target.copy_(source[row : row + 1].cpu())
    return holder.member(0)
