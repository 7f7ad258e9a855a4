"""The three convolutional regressors of the study (docs/study.md section 3).

Every architecture is a stack of ReLU convolutions over one-hot DNA ``(N, 4, L)``,
a global average pool over positions, a stack of ReLU dense layers and one linear
output unit that predicts the Anscombe-transformed count. Initialisation follows
Keras: ``he_normal`` (truncated normal) for every ReLU layer, Glorot-uniform for the
output layer, zero biases.

The network is defined once, by :data:`ARCHS` and :class:`ConvRegressor` (its layers,
their order, the activation, the L1 term: :func:`l1_penalty`). :class:`FusedRegressors`,
K such models as one network for fused training (:mod:`lookloss.fused`), holds only
their stacked weights and runs :class:`ConvRegressor` itself on them with
``torch.func.vmap``, so an architecture changed here changes both.

Public API: :func:`build`, :func:`l1_penalty`, :func:`save`, :func:`load`,
:func:`receptive_field`, :func:`n_params`, :func:`forward_macs`, :class:`FusedRegressors`.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, vmap

import lookloss
from lookloss.io import atomic_path
from lookloss.layout import PADDINGS

#: Keras divides the he_normal standard deviation by this constant, the standard
#: deviation of a unit normal truncated at +-2, so that the truncated draw has
#: variance 2 / fan_in.
KERAS_TRUNCATION_STD = 0.87962566103423978

FORMAT_TAG = "lookloss.model/1"


@dataclass(frozen=True)
class ArchSpec:
    """Shape of one architecture.

    Attributes
    ----------
    n_conv : int
        Number of convolution layers.
    filters : int
        Filters of every convolution layer.
    width : int
        Kernel width of every convolution layer.
    dense : tuple of int
        Units of the hidden dense layers.
    activation : str
        Activation of every hidden layer, a key of :data:`ACTIVATIONS`.
    """

    n_conv: int
    filters: int
    width: int
    dense: tuple[int, ...]
    activation: str = "relu"


ARCHS: dict[str, ArchSpec] = {
    "arch1": ArchSpec(n_conv=4, filters=15, width=7, dense=(50, 50)),
    "arch2": ArchSpec(n_conv=4, filters=15, width=7, dense=(30, 30, 30)),
    "arch3": ArchSpec(n_conv=5, filters=15, width=5, dense=(30, 30, 30)),
}

N_CHANNELS = 4

#: Activations of the hidden layers by name (:attr:`ArchSpec.activation`). The
#: ``he_normal`` initialisation (:func:`init_keras_`) is the one for ReLU layers.
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU}


def arch_spec(arch: str) -> ArchSpec:
    """Look up an architecture by name; raise ``ValueError`` for unknown names."""
    try:
        return ARCHS[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; expected one of {sorted(ARCHS)}") from None


def _check_padding(padding: str) -> str:
    if padding not in PADDINGS:
        raise ValueError(f"unknown padding {padding!r}; expected one of {PADDINGS}")
    return padding


def same_padding(width: int) -> tuple[int, int]:
    """Keras 'same' padding of a stride-1 convolution: ``(left, right)`` zeros."""
    left = (width - 1) // 2
    return left, width - 1 - left


class ConvRegressor(nn.Module):
    """Conv stack -> global average pool -> dense stack -> one linear output.

    Parameters
    ----------
    arch : str
        Architecture name, a key of :data:`ARCHS`.
    padding : {'valid', 'same'}
        Padding of every convolution, with Keras semantics.
    seq_len : int
        Input length; used to check that a 'valid' stack leaves at least one position.
    """

    def __init__(self, arch: str, padding: str, seq_len: int) -> None:
        super().__init__()
        spec = arch_spec(arch)
        self.arch, self.padding, self.seq_len = arch, _check_padding(padding), seq_len
        left, right = same_padding(spec.width) if padding == "same" else (0, 0)
        if padding == "valid" and seq_len - spec.n_conv * (spec.width - 1) < 1:
            raise ValueError(f"seq_len {seq_len} too short for {spec.n_conv} valid convolutions of width {spec.width}")
        # odd widths pad symmetrically, which Conv1d does natively; even widths
        # need the asymmetric Keras layout and get an explicit ConstantPad1d.
        self.pad = nn.Identity() if left == right else nn.ConstantPad1d((left, right), 0.0)
        conv_pad = left if left == right else 0
        channels = [N_CHANNELS] + [spec.filters] * spec.n_conv
        self.convs = nn.ModuleList(
            nn.Conv1d(c_in, c_out, spec.width, padding=conv_pad) for c_in, c_out in zip(channels, channels[1:])
        )
        units = [spec.filters, *spec.dense]
        self.dense = nn.ModuleList(nn.Linear(u_in, u_out) for u_in, u_out in zip(units, units[1:]))
        self.output = nn.Linear(units[-1], 1)
        # one activation module per hidden layer (no parameters: the state_dict is the layers'),
        # so that hooks such as DeepLIFT's see each one
        activation = ACTIVATIONS[spec.activation]
        self.conv_activations = nn.ModuleList(activation() for _ in self.convs)
        self.dense_activations = nn.ModuleList(activation() for _ in self.dense)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predict Anscombe-space counts of one-hot sequences ``(N, 4, L)`` -> ``(N,)``."""
        for conv, activation in zip(self.convs, self.conv_activations, strict=True):
            x = activation(conv(self.pad(x)))
        x = x.mean(dim=2)
        for layer, activation in zip(self.dense, self.dense_activations, strict=True):
            x = activation(layer(x))
        return self.output(x).squeeze(1)

    def hidden_layers(self) -> list[nn.Module]:
        """The activated layers (every layer but the output), in order."""
        return [*self.convs, *self.dense]

    def penalised(self) -> list[str]:
        """Names of the parameters the L1 term sums: the kernels of :meth:`hidden_layers`."""
        hidden = {id(layer) for layer in self.hidden_layers()}
        return [f"{name}.weight" for name, module in self.named_modules() if id(module) in hidden]


def he_normal_(weight: torch.Tensor, fan_in: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Keras ``he_normal``: normal truncated at two standard deviations.

    The draw uses ``std = sqrt(2 / fan_in) / 0.8796...`` before truncation at
    ``+-2 std``, so the truncated values have variance ``2 / fan_in``.
    """
    std = math.sqrt(2.0 / fan_in) / KERAS_TRUNCATION_STD
    return nn.init.trunc_normal_(weight, mean=0.0, std=std, a=-2.0 * std, b=2.0 * std, generator=generator)


def fan_in(layer: nn.Conv1d | nn.Linear) -> int:
    """Inputs feeding one output unit: ``in_channels * width`` or ``in_features``."""
    return layer.weight[0].numel()


def init_keras_(model: ConvRegressor, generator: torch.Generator | None = None) -> ConvRegressor:
    """Initialise ``model`` in place like Keras would (layers in forward order)."""
    with torch.no_grad():
        for layer in model.hidden_layers():
            he_normal_(layer.weight, fan_in(layer), generator)
            layer.bias.zero_()
        nn.init.xavier_uniform_(model.output.weight, generator=generator)
        model.output.bias.zero_()
    return model


def build(arch: str, padding: str, seq_len: int = 100, generator: torch.Generator | None = None) -> ConvRegressor:
    """Build one freshly initialised model.

    Parameters
    ----------
    arch : {'arch1', 'arch2', 'arch3'}
        Architecture name (docs/study.md section 3).
    padding : {'valid', 'same'}
        Convolution padding.
    seq_len : int
        Sequence length of the inputs.
    generator : torch.Generator, optional
        Source of the initial weights. Without it the global torch RNG is used, so
        ``torch.manual_seed`` makes the result deterministic.

    Returns
    -------
    ConvRegressor
        The model in training mode, float32 on the CPU.
    """
    return init_keras_(ConvRegressor(arch, padding, seq_len), generator)


def l1_penalty(model: ConvRegressor, params: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Sum of ``|w|`` over the kernels of every layer but the output (no biases).

    ``params`` (the model's parameters by name) evaluates the term at other weights
    than the model's own, as :meth:`FusedRegressors.l1_penalties` does for each model.
    """
    params = dict(model.named_parameters()) if params is None else params
    return sum(params[name].abs().sum() for name in model.penalised())


class FusedRegressors(nn.Module):
    """K :class:`ConvRegressor` of one architecture, padding and length as one network.

    It holds the K models' parameters stacked, each with the models along its first
    dimension (model ``k``'s are the ``[k]`` slices), and nothing else: :meth:`forward`
    and :meth:`l1_penalties` run :class:`ConvRegressor` and :func:`l1_penalty` on them
    with ``torch.func.vmap``, which makes every convolution a grouped one (``groups=K``)
    and every dense layer a batched matrix product.

    Parameters
    ----------
    arch, padding, seq_len : str, str, int
        The shape shared by every model (see :class:`ConvRegressor`).
    k : int
        Number of models.
    dtype : torch.dtype
        Floating dtype of the parameters.
    """

    def __init__(self, arch: str, padding: str, seq_len: int, k: int, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        with torch.device("meta"):  # checks the shape; its parameters are never used
            template = ConvRegressor(arch, padding, seq_len)
        self.arch, self.padding, self.seq_len, self.k = arch, padding, seq_len, k
        self.names = [name for name, _ in template.named_parameters()]
        self.stacked = nn.ParameterList(nn.Parameter(torch.empty(k, *p.shape, dtype=dtype))
                                        for p in template.parameters())
        self._template = (template,)  # in a tuple: not a submodule, so not among parameters(), to() or state_dict()

    @property
    def dtype(self) -> torch.dtype:
        return self.stacked[0].dtype

    def params(self) -> dict[str, torch.Tensor]:
        """The stacked parameters, by the names of :class:`ConvRegressor`'s."""
        return dict(zip(self.names, self.stacked, strict=True))

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
        weights = [dict(m.named_parameters()) for m in members]
        with torch.no_grad():
            for name, stacked in fused.params().items():
                stacked.copy_(torch.stack([w[name] for w in weights]))
        return fused

    def member(self, k: int, weights: Sequence[torch.Tensor] | None = None) -> ConvRegressor:
        """Model ``k`` as a stand-alone :class:`ConvRegressor` on the CPU in eval mode (a copy).

        ``weights``, stacked like :meth:`parameters` (default: the network's own), gives
        the model other weights, e.g. its best epoch's.
        """
        weights = list(self.stacked) if weights is None else weights
        model = ConvRegressor(self.arch, self.padding, self.seq_len).to(self.dtype)
        model.load_state_dict({name: w[k].detach().cpu() for name, w in zip(self.names, weights, strict=True)})
        return model.eval()

    def forward(self, x: torch.Tensor, shared: bool = False) -> torch.Tensor:
        """Predictions ``(K, B)``: of one batch per model, ``x`` of shape ``(B, K, 4, L)``, or,
        with ``shared``, of the same batch ``(B, 4, L)`` for every model."""
        template = self._template[0].train(self.training)
        return vmap(lambda p, xb: functional_call(template, p, (xb,)), in_dims=(0, None if shared else 1))(
            self.params(), x)

    def l1_penalties(self) -> torch.Tensor:
        """Each model's :func:`l1_penalty` ``(K,)``."""
        return vmap(lambda p: l1_penalty(self._template[0], p))(self.params())

    def keep(self, rows: Sequence[int]) -> FusedRegressors:
        """A new network of the models at ``rows`` (their weights copied, in that order)."""
        device = self.stacked[0].device
        index = torch.as_tensor(list(rows), dtype=torch.long, device=device)
        kept = FusedRegressors(self.arch, self.padding, self.seq_len, len(index), self.dtype).to(device)
        with torch.no_grad():
            for new, old in zip(kept.parameters(), self.parameters(), strict=True):
                new.copy_(old.index_select(0, index))
        return kept


def n_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def receptive_field(arch: str) -> int:
    """Input positions seen by one position of the last convolution layer."""
    spec = arch_spec(arch)
    return spec.n_conv * (spec.width - 1) + 1


def conv_output_length(arch: str, padding: str, seq_len: int = 100) -> int:
    """Positions left after the convolution stack (``L - n_conv (w - 1)`` for 'valid')."""
    spec = arch_spec(arch)
    return seq_len if _check_padding(padding) == "same" else seq_len - spec.n_conv * (spec.width - 1)


def forward_macs(arch: str, padding: str, seq_len: int = 100) -> int:
    """Multiply-accumulates of one forward pass for one sequence (analytic count)."""
    spec = arch_spec(arch)
    macs, length, c_in = 0, seq_len, N_CHANNELS
    for _ in range(spec.n_conv):
        length = length if padding == "same" else length - (spec.width - 1)
        macs += length * spec.filters * c_in * spec.width
        c_in = spec.filters
    units = [spec.filters, *spec.dense, 1]
    return macs + sum(a * b for a, b in zip(units, units[1:]))


def save(path: str | os.PathLike, model: ConvRegressor, meta: dict[str, Any]) -> None:
    """Write ``model`` with its architecture and ``meta`` to ``path`` atomically.

    Parameters
    ----------
    path : path-like
        Target file (conventionally ``*.pt``); parent directories are created.
    model : ConvRegressor
        A model made by :func:`build`.
    meta : dict
        Plain data (str, numbers, lists, dicts) stored alongside, e.g. the config
        slice and training summary. Torch and lookloss versions are added.
    """
    record = {
        "format": FORMAT_TAG,
        "arch": model.arch,
        "padding": model.padding,
        "seq_len": model.seq_len,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": plain_data({**meta, "torch_version": torch.__version__, "lookloss_version": lookloss.__version__}),
    }
    buffer = io.BytesIO()  # a file object: torch then names the archive "archive", not after the temp file
    torch.save(record, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def relabel(source: str | os.PathLike, target: str | os.PathLike, identity: dict[str, Any]) -> None:
    """Write the model file ``source`` to ``target`` (atomically) with ``identity`` as the
    identity in its meta, and everything else as it was.

    For a model reused under another name (:func:`lookloss.grow.reuse`): the file is
    then the one :func:`save` writes for the same weights and meta under that identity.
    """
    record = read_record(source)
    record["meta"] = {**record["meta"], "identity": plain_data(identity)}
    buffer = io.BytesIO()
    torch.save(record, buffer)
    with atomic_path(target) as tmp:
        tmp.write_bytes(buffer.getvalue())


def plain_data(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` as JSON-like builtins (numpy scalars -> numbers, other objects -> str).

    ``torch.load(weights_only=True)`` refuses anything else, so this keeps every
    saved file loadable.
    """

    from lookloss.io import plain

    return plain(meta)


def read_record(path: str | os.PathLike) -> dict[str, Any]:
    """Load the raw record written by :func:`save`; ``ValueError`` if it is not one."""
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as error:  # pickle / zip errors of arbitrary files
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"{path}: not a lookloss model file ({reason})") from error
    if not isinstance(record, dict) or record.get("format") != FORMAT_TAG:
        raise ValueError(f"{path}: not a lookloss model file (no {FORMAT_TAG!r} record)")
    return record


def load(path: str | os.PathLike, arch: str | None = None, padding: str | None = None) -> ConvRegressor:
    """Load a model written by :func:`save`, in eval mode.

    Parameters
    ----------
    path : path-like
        Model file.
    arch, padding : str, optional
        Expected architecture; a file that records another one raises ``ValueError``.

    Returns
    -------
    ConvRegressor
        The model on the CPU in eval mode; ``model.meta`` holds the stored meta.
    """
    record = read_record(path)
    expected = (arch or record["arch"], padding or record["padding"])
    recorded = (record["arch"], record["padding"])
    if expected != recorded:
        raise ValueError(
            f"{path}: expected architecture {expected[0]}/{expected[1]} "
            f"but the file records {recorded[0]}/{recorded[1]}"
        )
    model = ConvRegressor(record["arch"], record["padding"], record["seq_len"])
    model.load_state_dict(record["state_dict"])
    model.meta = record["meta"]
    return model.eval()
