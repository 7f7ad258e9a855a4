"""The state of a fused group (:func:`lookloss.fused.train`) and its snapshots.

A group is K models of one shape (:class:`Member`: control, L1 weight and seed each)
trained as one :class:`lookloss.models.FusedRegressors`. :class:`GroupState` is
everything the group carries from one epoch to the next (weights, Adam state, best
weights, early stopping, batch-order generators, histories, the models already
stopped); a snapshot is that state, saved, and is resumed only by a run of the same
group, settings, data and code (:func:`snapshot_key`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lookloss import io, models
from lookloss.inference import ArrayLike, as_inputs, as_targets
from lookloss.models import ConvRegressor, FusedRegressors
from lookloss.training import EarlyStopping, TrainResult, init_generator

log = logging.getLogger("lookloss")


@dataclass(frozen=True)
class Member:
    """One model of a fused group: what may differ between the models of a group.

    The architecture and padding are the group's, so a group cannot mix shapes.
    """

    control: str
    l1: float
    seed: int


@dataclass
class GroupResult:
    """Outcome of :func:`lookloss.fused.train` for one member: what :func:`lookloss.training.train`
    returns, the trained model (best weights, CPU, eval mode) and whether its group's
    steps were replayed from CUDA graphs."""

    member: Member
    model: ConvRegressor
    result: TrainResult
    cuda_graph: bool


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
        return cls(spec, list(members), net, adam(net, spec), [p.detach().clone() for p in net.parameters()],
                   [torch.Generator().manual_seed(m.seed) for m in members],
                   [EarlyStopping(spec.patience) for _ in members], [TrainResult() for _ in members],
                   list(range(len(members))))

    @classmethod
    def resume(cls, spec: GroupSpec, members: Sequence[Member], saved: Mapping[str, Any]) -> GroupState:
        """The state :meth:`save` wrote (its key already checked by :func:`load_snapshot`)."""
        net = FusedRegressors(spec.arch, spec.padding, spec.seq_len, len(saved["active"]), spec.dtype)
        net.load_state_dict(saved["net"])
        net.to(spec.device)
        optimizer = adam(net, spec)
        for parameter, state in zip(net.parameters(), saved["adam"], strict=True):
            if state:
                optimizer.state[parameter] = {name: value.to(spec.device) for name, value in state.items()}
        orders = [torch.Generator() for _ in members]
        for generator, state in zip(orders, saved["orders"], strict=True):
            generator.set_state(state)
        results = [TrainResult(**state) for state in saved["results"]]
        finished = {int(i): GroupResult(members[int(i)], model_from(spec, done["weights"]), results[int(i)],
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
            self.finished[i] = GroupResult(self.members[i], self.net.member(row, weights), result, self.graphed)

    def compact(self, rows: Sequence[int]) -> None:
        """Keep only the models at ``rows``: their weights, best weights and Adam state, exactly."""
        kept = self.net.keep(rows)
        index = torch.as_tensor(list(rows), dtype=torch.long, device=self.spec.device)
        optimizer = adam(kept, self.spec)
        with torch.no_grad():
            for old, new in zip(self.net.parameters(), kept.parameters(), strict=True):
                state = self.optimizer.state.get(old)
                if state:
                    optimizer.state[new] = {key: value.clone() if key == "step" else value.index_select(0, index)
                                            for key, value in state.items()}
        self.net, self.optimizer = kept, optimizer
        self.best = [b.index_select(0, index) for b in self.best]
        self.active = [self.active[row] for row in rows]


#: Source files whose code a snapshot was made with: a snapshot of other code is not resumed.
CODE = [Path(__file__), Path(models.__file__), Path(__file__).with_name("fused.py"), Path(__file__).with_name("training.py")]


def snapshot_key(spec: GroupSpec, members: Sequence[Member], data: Sequence[object], controls: Sequence[str]) -> str:
    """What a snapshot must have been made with to be resumed: the group, settings, data and code."""
    digest = hashlib.sha256()
    x_train, y_train, x_val, y_val = data
    for array in (x_train, *(y_train[c] for c in controls), x_val, *(y_val[c] for c in controls)):
        array = np.ascontiguousarray(torch.as_tensor(array).cpu().numpy())
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.data)
    code = hashlib.sha256(b"".join(path.read_bytes() for path in CODE)).hexdigest()
    return json.dumps({"arch": spec.arch, "padding": spec.padding, "members": [dataclasses.astuple(m) for m in members],
                       "settings": spec.settings, "dtype": str(spec.dtype), "data": digest.hexdigest(),
                       "code": code}, sort_keys=True)


def load_snapshot(path: str | Path, key: str) -> dict | None:
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


def model_from(spec: GroupSpec, weights: Mapping[str, torch.Tensor]) -> ConvRegressor:
    """A stand-alone model (CPU, eval mode) holding ``weights``."""
    model = ConvRegressor(spec.arch, spec.padding, spec.seq_len).to(spec.dtype)
    model.load_state_dict(weights)
    return model.eval()


def adam(net: FusedRegressors, spec: GroupSpec) -> torch.optim.Adam:
    """Adam as :func:`lookloss.training.make_optimizer` makes it; capturable in a CUDA graph on CUDA."""
    return torch.optim.Adam(net.parameters(), lr=spec.learning_rate, eps=spec.adam_eps, fused=True,
                            capturable=spec.device.type == "cuda")

