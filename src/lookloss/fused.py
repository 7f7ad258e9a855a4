"""Fused training: a group of models of one shape trained as one network.

The study's models are tiny (a few thousand parameters): one of them leaves a GPU
almost idle, waiting on kernel launches and host round-trips. :func:`train_group`
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


def predict(net: FusedRegressors, x: ArrayLike, batch_size: int = PREDICT_BATCH) -> np.ndarray:
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
    """Outcome of :func:`train_group` for one member: what :func:`lookloss.training.train`
    returns, the trained model (best weights, CPU, eval mode) and whether its group's
    steps were replayed from CUDA graphs."""

    member: Member
    model: ConvRegressor
    result: TrainResult
    cuda_graph: bool


class _Step:
    """One Adam step of every model of the current network, eager or replayed from a CUDA graph.

    The data stay on the device; each call takes the batch indices ``(K, B)`` (one row
    per model) and adds each model's loss to ``self.epoch_loss`` (float64, on the device).
    """

    def __init__(self, net: FusedRegressors, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                 y: torch.Tensor, rows: torch.Tensor, l1: torch.Tensor, use_graphs: bool) -> None:
        self.net, self.optimizer, self.x, self.y, self.rows, self.l1 = net, optimizer, x, y, rows, l1
        self.epoch_loss = torch.zeros(net.k, dtype=torch.float64, device=x.device)
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


def train_group(
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
        If it holds a snapshot of this group (same members, settings, dtype and data),
        training goes on from it; a snapshot of anything else is ignored (with a
        warning) and overwritten. Left in place at the end: the caller removes it once
        the models are saved.
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
    controls = sorted({m.control for m in members})
    missing = [c for c in controls if c not in y_train or c not in y_val]
    if missing:
        raise ValueError(f"no targets for control(s) {missing}; given {sorted(y_train)}")
    x = as_inputs(x_train, device, dtype)
    xv = as_inputs(x_val, device, dtype)
    y = torch.stack([as_targets(y_train[c], device, dtype) for c in controls])
    yv = torch.stack([as_targets(y_val[c], device, dtype) for c in controls])
    if y.shape[1] != len(x) or yv.shape[1] != len(xv):
        raise ValueError("inputs and targets differ in length")
    seq_len = x.shape[-1]
    settings = {"batch_size": batch_size, "learning_rate": learning_rate, "adam_eps": adam_eps,
                "max_epochs": max_epochs, "patience": patience}
    key = "" if snapshot is None else _snapshot_key(arch, padding, members, settings, dtype,
                                                     (x_train, y_train, x_val, y_val), controls)
    saved = None if snapshot is None else _load_snapshot(snapshot, key)
    orders = [torch.Generator().manual_seed(m.seed) for m in members]
    if saved is None:
        built = [models.build(arch, padding, seq_len, generator=init_generator(m.seed)).to(dtype) for m in members]
        active = list(range(len(members)))  # members in the network, by row
        net = FusedRegressors.stack(built).to(device)
        optimizer = _adam(net, learning_rate, adam_eps, device)
        best = [p.detach().clone() for p in net.parameters()]
        stoppings = [EarlyStopping(patience) for _ in members]
        results = [TrainResult() for _ in members]
        finished: dict[int, GroupResult] = {}
        first_epoch, graphed, earlier = 1, False, 0.0  # graphed: whether steps were replayed from CUDA graphs
    else:
        log.info("resuming %d %s/%s models after epoch %d from %s", len(members), arch, padding, saved["epoch"],
                 snapshot)
        active, first_epoch, graphed, earlier = saved["active"], saved["epoch"] + 1, saved["graphed"], saved["seconds"]
        net = FusedRegressors(arch, padding, seq_len, len(active), dtype)
        net.load_state_dict(saved["net"])
        net.to(device)
        optimizer = _adam(net, learning_rate, adam_eps, device)
        for parameter, state in zip(net.parameters(), saved["adam"], strict=True):
            if state:
                optimizer.state[parameter] = {name: value.to(device) for name, value in state.items()}
        best = [b.to(device) for b in saved["best"]]
        for generator, state in zip(orders, saved["orders"], strict=True):
            generator.set_state(state)
        stoppings = [EarlyStopping(**state) for state in saved["stoppings"]]
        results = [TrainResult(**state) for state in saved["results"]]
        finished = {int(i): GroupResult(members[int(i)], _model_from(arch, padding, seq_len, dtype, done["weights"]),
                                        results[int(i)], done["cuda_graph"])
                    for i, done in saved["finished"].items()}
    use_graphs = cuda_graph and device.type == "cuda"
    step = _step(net, optimizer, x, y, active, members, controls, use_graphs)
    start = time.perf_counter() - earlier
    last_snapshot = time.perf_counter()
    for epoch in range(first_epoch, max_epochs + 1):
        if len(finished) == len(members):  # resumed from the final snapshot
            break
        tic = time.perf_counter()
        index = torch.stack([torch.randperm(len(x), generator=orders[i]) for i in active]).to(device)
        step.epoch_loss.zero_()
        batches = index.split(batch_size, dim=1)
        for batch in batches:
            step(batch)
        val = _validation_losses(net, xv, yv, step.rows, step.l1, val_batch_size)
        train_loss = (step.epoch_loss / len(batches)).tolist()  # the epoch's one synchronisation
        val = val.tolist()
        seconds = time.perf_counter() - tic
        graphed = graphed or step.captured
        improved, stopped = [], []
        for row, i in enumerate(active):
            if i in finished:
                continue
            results[i].history.append({"epoch": epoch, "train_loss": train_loss[row], "val_loss": val[row],
                                       "seconds": seconds})
            results[i].epochs_run = epoch
            if stoppings[i].update(epoch, val[row]):
                improved.append(row)
            elif stoppings[i].stop:
                results[i].stopped_early = True
                stopped.append(row)
            if epoch == max_epochs and row not in stopped:
                stopped.append(row)
        _keep_best(net, best, improved)
        for row in stopped:
            i = active[row]
            results[i].best_val_loss, results[i].best_epoch = stoppings[i].best, stoppings[i].best_epoch
            results[i].train_seconds = time.perf_counter() - start
            weights = best if results[i].best_epoch else list(net.parameters())  # never improved (NaN): last
            finished[i] = GroupResult(members[i], _member_of(net, weights, row), results[i], graphed)
        remaining = [row for row, i in enumerate(active) if i not in finished]
        if remaining and compact is not None and len(active) - len(remaining) >= max(1, math.ceil(compact * len(active))):
            net, optimizer, best = _compact(net, optimizer, best, remaining, learning_rate, adam_eps, device)
            active = [active[row] for row in remaining]
            step = _step(net, optimizer, x, y, active, members, controls, use_graphs)
        if snapshot is not None and (not remaining or time.perf_counter() - last_snapshot >= snapshot_every):
            _save_snapshot(snapshot, key, epoch, active, net, optimizer, best, orders, stoppings, results, finished,
                           graphed, time.perf_counter() - start)
            last_snapshot = time.perf_counter()
        if on_epoch is not None:
            on_epoch(epoch, len(remaining), seconds)
        if not remaining:
            break
    return [finished[i] for i in range(len(members))]


def _snapshot_key(arch: str, padding: str, members: Sequence[Member], settings: Mapping[str, object],
                  dtype: torch.dtype, data: Sequence[object], controls: Sequence[str]) -> str:
    """What a snapshot must have been made with to be resumed: the group, its settings and a digest of its data."""
    digest = hashlib.sha256()
    x_train, y_train, x_val, y_val = data
    for array in (x_train, *(y_train[c] for c in controls), x_val, *(y_val[c] for c in controls)):
        array = np.ascontiguousarray(torch.as_tensor(array).cpu().numpy())
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.data)
    return json.dumps({"arch": arch, "padding": padding, "members": [dataclasses.astuple(m) for m in members],
                       "settings": dict(settings), "dtype": str(dtype), "data": digest.hexdigest()}, sort_keys=True)


def _save_snapshot(path: str | Path, key: str, epoch: int, active: list[int], net: FusedRegressors,
                   optimizer: torch.optim.Optimizer, best: list[torch.Tensor], orders: list[torch.Generator],
                   stoppings: list[EarlyStopping], results: list[TrainResult], finished: Mapping[int, GroupResult],
                   graphed: bool, seconds: float) -> None:
    """Write the group's state after ``epoch`` (atomically: a kill leaves the previous snapshot whole)."""
    state = {
        "key": key, "epoch": epoch, "active": list(active), "graphed": graphed, "seconds": seconds,
        "net": {name: value.cpu() for name, value in net.state_dict().items()},
        "adam": [{name: value.cpu() for name, value in optimizer.state.get(p, {}).items()} for p in net.parameters()],
        "best": [b.cpu() for b in best],
        "orders": [g.get_state() for g in orders],
        "stoppings": [dataclasses.asdict(s) for s in stoppings],
        "results": [dataclasses.asdict(r) for r in results],
        "finished": {str(i): {"weights": r.model.state_dict(), "cuda_graph": r.cuda_graph} for i, r in finished.items()},
    }
    with io.atomic_path(path) as tmp:
        torch.save(state, tmp)


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


def _model_from(arch: str, padding: str, seq_len: int, dtype: torch.dtype,
                weights: Mapping[str, torch.Tensor]) -> ConvRegressor:
    """A stand-alone model (CPU, eval mode) holding ``weights``."""
    model = ConvRegressor(arch, padding, seq_len).to(dtype)
    model.load_state_dict(weights)
    return model.eval()


def _adam(net: FusedRegressors, learning_rate: float, adam_eps: float, device: torch.device) -> torch.optim.Adam:
    """Adam as :func:`lookloss.training.make_optimizer` makes it; capturable in a CUDA graph on CUDA."""
    return torch.optim.Adam(net.parameters(), lr=learning_rate, eps=adam_eps, fused=True,
                            capturable=device.type == "cuda")


def _step(net: FusedRegressors, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
          active: list[int], members: list[Member], controls: list[str], use_graphs: bool) -> _Step:
    device, dtype = x.device, x.dtype
    rows = torch.tensor([controls.index(members[i].control) for i in active], device=device)
    l1 = torch.tensor([members[i].l1 for i in active], dtype=dtype, device=device)
    return _Step(net, optimizer, x, y, rows, l1, use_graphs)


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


def _compact(net: FusedRegressors, optimizer: torch.optim.Adam, best: list[torch.Tensor], rows: list[int],
             learning_rate: float, adam_eps: float, device: torch.device
             ) -> tuple[FusedRegressors, torch.optim.Adam, list[torch.Tensor]]:
    """Keep only the models at ``rows``: their weights, best weights and Adam state, exactly."""
    kept = net.keep(rows)
    index = torch.as_tensor(rows, dtype=torch.long, device=device)
    new_optimizer = _adam(kept, learning_rate, adam_eps, device)
    with torch.no_grad():
        for old, new in zip(net.parameters(), kept.parameters(), strict=True):
            state = optimizer.state.get(old)
            if state:
                new_optimizer.state[new] = {
                    key: value.clone() if key == "step" else value.index_select(0, index)
                    for key, value in state.items()
                }
    return kept, new_optimizer, [b.index_select(0, index) for b in best]
