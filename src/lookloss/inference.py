"""Running a model: input tensors and batched prediction (devices: lookloss.devices).

Shared by training (validation, test MSE) and analysis (the four knock-out variants
of every pair), so that the analysis does not depend on the trainer. Everything here
works for any :class:`torch.nn.Module` that maps one-hot ``(N, 4, L)`` sequences to
``(N,)`` or ``(N, 1)`` outputs.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lookloss.devices import placement

ArrayLike = np.ndarray | torch.Tensor

#: Sequences per forward pass when only predicting (validation, :func:`predict`).
PREDICT_BATCH = 2500


def as_inputs(x: ArrayLike, device: torch.device | str = "cpu",
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One-hot sequences ``(N, 4, L)`` (uint8 or float) as a contiguous float tensor."""
    x = torch.as_tensor(x)
    if x.ndim != 3:
        raise ValueError(f"expected one-hot sequences of shape (N, 4, L), got {tuple(x.shape)}")
    return x.to(device=device, dtype=dtype).contiguous()


def as_targets(y: ArrayLike, device: torch.device | str = "cpu",
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Targets as a contiguous float vector."""
    return torch.as_tensor(y).to(device=device, dtype=dtype).reshape(-1).contiguous()


def predict(model: nn.Module, x: ArrayLike, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """Predictions of ``model`` for one-hot ``x`` ``(N, 4, L)``, in the model's output space.

    Works for any module mapping ``(N, 4, L)`` to ``(N,)`` or ``(N, 1)``. Runs under
    ``torch.inference_mode`` in eval mode, on the device and in the floating dtype of
    the model's parameters (see :func:`lookloss.devices.placement`), and returns a numpy vector of
    length N in the model's output dtype (float32 for the study's models).
    """
    device, dtype = placement(model)
    x = torch.as_tensor(x)
    with evaluating(model), torch.inference_mode():
        parts = [model(as_inputs(chunk, device, dtype)).reshape(-1).cpu() for chunk in x.split(batch_size)]
    return torch.cat(parts).numpy() if parts else np.zeros(0, dtype=np.float32)


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode inside the block, in its former mode after it.

    Modules that have no modes (a ``torch.export`` program's module refuses
    ``eval()``; it was exported in the mode it runs in) are used as they are.
    """
    was_training = model.training
    try:
        model.eval()
    except NotImplementedError:
        yield model
        return
    try:
        yield model
    finally:
        model.train(was_training)


def mean_squared_error(predictions: np.ndarray, y: ArrayLike) -> float:
    """Mean squared difference of predictions and targets, computed in float64."""
    residual = np.asarray(predictions, dtype=np.float64).ravel() - np.asarray(y, dtype=np.float64).ravel()
    return float(np.mean(residual**2))


def load_model(path: str | Path) -> nn.Module:
    """A model from a file: a ``torch.export`` program (``.pt2``), TorchScript, or a lookloss checkpoint
    (the study's networks, :func:`lookloss.models.save`, or a genome-scale BPNet, :func:`lookloss.bpnets.load`).

    Returns the module on the CPU in eval mode. Raises ``ValueError`` naming the file
    when it is none of these (or unreadable), ``FileNotFoundError`` when it is missing.
    """
    from lookloss import models

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist")
    reasons = []
    if path.suffix == ".pt2":
        try:
            return torch.export.load(str(path)).module()
        except Exception as error:  # noqa: BLE001  (whatever a damaged archive raises)
            reasons.append(f"as a torch.export program: {first_line(error)}")
    try:
        return torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as error:  # noqa: BLE001
        reasons.append(f"as TorchScript: {first_line(error)}")
    try:
        return models.load(path)
    except (ValueError, KeyError, RuntimeError) as error:
        reasons.append(f"as a lookloss checkpoint: {first_line(error)}")
    record = _bpnet_record(path)
    if record is not None:  # a genome-scale BPNet of docs/genome.md (paper/genome/models/*/*/model.pt)
        from lookloss import bpnets

        return bpnets.from_record(record)
    raise ValueError(f"cannot read model file {str(path)!r} ({'; '.join(reasons)}): expected a TorchScript file "
                     "(torch.jit.save), a torch.export program (.pt2) or a lookloss checkpoint")


def _bpnet_record(path: Path) -> dict | None:
    """The genome-scale BPNet checkpoint (``lookloss.bpnets``: weights and their meta) that ``path`` holds,
    read without unpickling code, or None when it holds something else."""
    try:
        record = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001  (a pickled module, a damaged file: not this format)
        return None
    if (isinstance(record, dict) and set(record) == {"state_dict", "meta"}
            and {"arch", "n_filters", "n_layers"} <= set(record["meta"])):
        return record
    return None


def export_model(model: nn.Module, path: str | Path, seq_len: int) -> None:
    """Save ``model`` as a ``torch.export`` program (``.pt2``) taking any batch of ``(N, 4, seq_len)``."""
    from lookloss.io import atomic_path

    example = torch.zeros(2, 4, seq_len, dtype=placement(model)[1])
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(model.eval(), (example,), dynamic_shapes=({0: batch},))
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def first_line(error: BaseException) -> str:
    """The first sentence of an error's message (torch's run on for lines)."""
    text = str(error).strip()
    return text.splitlines()[0].split(". ")[0] if text else type(error).__name__
