"""A model as the loss test runs it: read from its file, one number per sequence, fast and safe.

:class:`Head` turns a model that returns a tuple of outputs with several tasks, and takes
control tracks as its second input, into one number per sequence: ``--output`` picks the
tuple element, ``--task`` the column, the control tracks of each locus go in unchanged
with every variant and null of it, and ``--rc-average`` averages each prediction with
that of the reverse complement. On the CPU it runs the model traced, frozen and fused by
oneDNN where that is safe and gives the same answer, and falls back to the model as it
is otherwise (docs/genomic.md, "Inputs").
"""

from __future__ import annotations

import contextlib
import sys
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lookloss import devices, inference
from lookloss.loci import GenomicError

#: Shortest run (sequences) that shows a progress bar.
PROGRESS_MIN = 2000
#: Sequences per forward pass by default: the fastest on 2 CPU cores for a default BPNet.
BATCH = 64


# ----------------------------------------------------------------------------- models
def load_model(path: Path, trust_pickle: bool = False) -> torch.nn.Module:
    """A model file as :func:`lookloss.inference.load_model` reads it, or a pickled module with ``trust_pickle``,
    in float32 if it was saved in half precision (:func:`full_precision`).

    bpnet-lite and ChromBPNet save whole modules with ``torch.save``; unpickling one
    runs code from the file, so it is read only when ``trust_pickle`` says so.
    """
    return full_precision(_read_model(path, trust_pickle), path)


def full_precision(model: torch.nn.Module, path: Path) -> torch.nn.Module:
    """``model`` with float16 or bfloat16 parameters converted to float32, said once on stderr:
    half precision rounds predictions to 2-3 significant digits, coarser than the interactions
    the test compares."""
    _, dtype = devices.placement(model)
    if dtype not in (torch.float16, torch.bfloat16):
        return model
    print(f"lookloss: model {str(path)!r} has {str(dtype).removeprefix('torch.')} parameters; running it in float32 "
          "(half precision rounds its predictions more coarsely than the interactions the test compares)",
          file=sys.stderr)
    return model.float()


def _read_model(path: Path, trust_pickle: bool) -> torch.nn.Module:
    """The module in a model file (see :func:`load_model`)."""
    try:
        return inference.load_model(path)
    except FileNotFoundError as error:
        raise GenomicError(str(error)) from None
    except ValueError as error:
        if not _is_pickle(path):
            raise GenomicError(str(error)) from None
    if not trust_pickle:
        raise GenomicError(f"model file {str(path)!r} is a pickled module (torch.save): loading it runs code from "
                           "the file; pass --trust-pickle if you trust it (or save it with torch.jit.save or "
                           "torch.export)")
    try:
        model = torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as error:  # noqa: BLE001  (a class that cannot be imported, a damaged file)
        raise GenomicError(f"cannot unpickle model file {str(path)!r}: {error}") from None
    if not isinstance(model, torch.nn.Module):
        raise GenomicError(f"model file {str(path)!r} holds a {type(model).__name__}, not a torch.nn.Module; "
                           "expected a whole module saved with torch.save(model, path)")
    return model.eval()


def _is_pickle(path: Path) -> bool:
    """Whether ``path`` is a ``torch.save`` archive (a zip with a ``data.pkl``) that is no TorchScript."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(e.endswith("/data.pkl") for e in entries) and not any(e.endswith("/constants.pkl") for e in entries)


#: The runner of a :class:`Head` that runs the model as it is.
_PLAIN = "plain"


@contextlib.contextmanager
def _onednn_fusion() -> Iterator[None]:
    """oneDNN fusion on inside the block only (a process-wide setting, restored after)."""
    before = torch.jit.onednn_fusion_enabled()
    torch.jit.enable_onednn_fusion(True)
    try:
        yield
    finally:
        torch.jit.enable_onednn_fusion(before)


def _traceable(model: torch.nn.Module) -> bool:
    """Whether a trace can represent ``model`` (see :meth:`Head._fused`): no TorchScript branch or loop."""
    if isinstance(model, torch.jit.ScriptModule):
        kinds = {node.kind() for node in model.inlined_graph.nodes()}
        return not kinds & {"prim::If", "prim::Loop"}
    return True


def _hint(model: torch.nn.Module, error: BaseException, batch_size: int) -> str:
    """The error's first line, and how to fix it where lookloss can tell."""
    text = inference.first_line(error)
    if isinstance(model, torch.fx.GraphModule) and ("guard" in str(error).lower() or "shape" in str(error).lower()):
        text += (" (a torch.export program exported for one batch size? export it with a dynamic batch, "
                 "dynamic_shapes={0: torch.export.Dim('batch')} for each input, or give --batch-size the size it "
                 f"was exported with; now {batch_size})")
    return text


class _Chosen(torch.nn.Module):
    """A model followed by a :class:`Head`'s choice of output and task: one value per sequence.
    Traced as one, it leaves the outputs not chosen as dead code, which freezing removes.

    It selects without :meth:`Head.pick`'s checks of the shapes (comparisons of traced sizes
    would warn and stop the trace): the fused model is used only after its output was
    checked against the model's, picked with those checks, on the same inputs.
    """

    def __init__(self, model: torch.nn.Module, output: int | None, task: int | None) -> None:
        super().__init__()
        self.model, self.output, self.task = model, output, task

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        out = self.model(*inputs)
        if self.output is not None:
            out = out[self.output]
        return out[:, 0 if self.task is None else self.task] if out.dim() == 2 else out


@dataclass
class Head:
    """A model as the loss test runs it (:data:`lookloss.losstest.Predictor`): one value per sequence.

    Attributes
    ----------
    model : torch.nn.Module
        Takes one-hot ``(N, 4, L)``, and the control tracks as a second input when
        ``control_tracks`` is given (tangermeme's ``args=`` convention).
    label : str
        How messages name the model (its file).
    output : int, optional
        The element of a tuple output to use (a BPNet's count head: 1).
    task : int, optional
        The column of an ``(N, T)`` output to use.
    control_tracks : numpy.ndarray, optional, shape=(n, tracks, L)
        The control tracks of each tested sequence, passed unchanged with every
        variant and null derived from it.
    rc_average : bool
        Average each prediction with that of the reverse complement (control
        tracks reversed and swapped: + and - strands).
    batch_size : int
        Sequences per forward pass.
    progress : bool
        Show a progress bar for calls of at least :data:`PROGRESS_MIN` sequences.
    trace : bool
        On the CPU, run the model traced (``torch.jit.trace``) and frozen with oneDNN fusion, together with
        the choice of output and task (so that what is not chosen, such as a BPNet's
        profile head, is never computed), after checking on the first batch that it
        gives the model's chosen output; a model that cannot be traced runs as it is.
        ``BENCHMARKS.md`` gives what this is worth for a BPNet.
    genomic : bool
        Genomic input (``--loci``), where a missing control track is worth a hint; the
        FASTA route has none.
    out_window : int, optional
        The bases the targets sum over: a tuple output whose profile element (3-D,
        channels first, ``(N, strands, length)`` with more positions than strands)
        covers another length (nor one that bins it evenly) is refused, since its count
        head then predicts the counts of another window than the targets'.
    """

    model: torch.nn.Module
    label: str
    output: int | None = None
    task: int | None = None
    control_tracks: np.ndarray | None = None
    rc_average: bool = False
    batch_size: int = BATCH
    progress: bool = False
    trace: bool = False
    out_window: int | None = None
    genomic: bool = True
    _runner: Any = field(default=None, init=False, repr=False)

    def __call__(self, codes: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Predictions ``(m,)`` (float64) for integer codes ``(m, L)`` derived from tested sequences ``rows``."""
        from tqdm import tqdm

        device, dtype = devices.placement(self.model)
        codes = torch.from_numpy(np.ascontiguousarray(codes, dtype=np.int64))
        bar = tqdm(range(0, len(codes), self.batch_size), desc=f"predicting {len(codes)} sequences", unit="batch",
                   leave=False, disable=not self.progress or len(codes) < PROGRESS_MIN)
        parts = []
        with inference.evaluating(self.model), torch.inference_mode():
            for start in bar:
                x = torch.nn.functional.one_hot(codes[start:start + self.batch_size], 4).transpose(1, 2)
                x = x.to(device=device, dtype=dtype).contiguous()
                ctl = None if self.control_tracks is None else torch.as_tensor(
                    self.control_tracks[rows[start:start + self.batch_size]]).to(device=device, dtype=dtype)
                y = self._one(x, ctl)
                if self.rc_average:
                    y = (y + self._one(x.flip(1, 2), None if ctl is None else ctl.flip(1, 2))) / 2
                parts.append(y.double().cpu())
        return torch.cat(parts).numpy() if parts else np.zeros(0)

    def _one(self, x: torch.Tensor, ctl: torch.Tensor | None) -> torch.Tensor:
        """The chosen prediction for one batch: by the fused runner while it works (every batch
        padded to the batch size, repeating its last sequence, so that the fused graph is
        compiled for one shape only), else by the model as it is."""
        n = len(x)
        inputs = (x,) if ctl is None else (x, ctl)
        if self.trace and self._runner is not _PLAIN:
            padded = tuple(_padded(t, self.batch_size) for t in inputs)
            if self._runner is None:
                try:
                    self._runner = traced(self, padded)
                except GenomicError:
                    raise
                except Exception as error:  # noqa: BLE001  (the model itself fails: say what it was given)
                    raise GenomicError(f"model {self.label!r} fails on {self._given(x, ctl)}: "
                                       f"{_hint(self.model, error, self.batch_size)}") from None
            if self._runner is not _PLAIN:
                try:
                    with _onednn_fusion():
                        return self._runner(*padded)[:n]
                except Exception as error:  # noqa: BLE001  (the optimisation failed: the plain model answers)
                    self._fall_back(error)
        if isinstance(self.model, torch.fx.GraphModule):  # an export may take only its batch size: keep it fixed
            inputs = tuple(_padded(t, self.batch_size) for t in inputs)
        try:
            return self.pick(self.model(*inputs), inputs[0].shape[0])[:n]
        except GenomicError:
            raise
        except Exception as error:  # noqa: BLE001  (any failure of the user's model: say what it was given)
            raise GenomicError(f"model {self.label!r} fails on {self._given(x, ctl)}: "
                               f"{_hint(self.model, error, self.batch_size)}") from None

    def _given(self, x: torch.Tensor, ctl: torch.Tensor | None) -> str:
        """What the model was given, for a message; on genomic input, the --control advice."""
        given = f"one-hot sequences of shape (batch, 4, {x.shape[-1]})"
        if ctl is not None:
            return given + f" and --control's {ctl.shape[1]} track(s), (batch, {ctl.shape[1]}, {ctl.shape[-1]})"
        if not self.genomic:  # the FASTA route: no --control there
            return given + (" (a model that takes control tracks as a second input needs genomic input: --loci with "
                            "--control)")
        return given + (" and no control tracks (a model trained with them needs --control, one bigWig per "
                        "track)")

    def _fall_back(self, error: BaseException) -> None:
        """Run the plain model for the rest of the run, and say so once on stderr."""
        self._runner = _PLAIN
        print(f"lookloss: the traced model {self.label!r} failed ({inference.first_line(error)}); running the "
              "model as it is for the rest of the run (--no-trace does so from the start)", file=sys.stderr)

    def pick(self, out: Any, n: int) -> torch.Tensor:
        """The chosen output element and task of a model's output for ``n`` sequences (:func:`choose`)."""
        return choose(out, n, self.label, self.output, self.task, self.out_window)


def _padded(tensor: torch.Tensor, size: int) -> torch.Tensor:
    """``tensor`` with its last row repeated up to ``size`` rows."""
    if len(tensor) >= size:
        return tensor
    return torch.cat([tensor, tensor[-1:].expand(size - len(tensor), *tensor.shape[1:])])


def choose(out: Any, n: int, label: str, output: int | None = None, task: int | None = None,
           out_window: int | None = None) -> torch.Tensor:
    """Output element ``output`` and task ``task`` of model ``label``'s output for ``n`` sequences, as a
    vector; :class:`GenomicError` saying what to choose when the output does not fit (see :class:`Head`)."""
    where = f"model {label!r}"
    if isinstance(out, dict):
        raise GenomicError(f"{where} returns a dict with keys {list(out)}; expected a tensor or a tuple or list "
                           "of tensors (choose one with --output): wrap the model so that it returns them, e.g. "
                           "a module whose forward returns (out['profile'], out['counts'])")
    if isinstance(out, (tuple, list)):
        shapes = [tuple(getattr(o, "shape", ())) for o in out]
        if output is None:
            raise GenomicError(f"{where} returns {len(out)} outputs, shapes {shapes}; choose one with --output "
                               "INDEX (a BPNet's log counts: 1)")
        if not -len(out) <= output < len(out):
            raise GenomicError(f"{where}: --output {output} is out of range: the model returns "
                               f"{len(out)} outputs, shapes {shapes}; expected 0 to {len(out) - 1}")
        profiles = [shape[-1] for shape in shapes if len(shape) == 3 and shape[-1] > shape[1]]  # (N, strands, L)
        if out_window is not None and profiles and out_window % profiles[0]:  # not even a binned one
            raise GenomicError(f"{where}: its profile output covers {profiles[0]} bases (shapes {shapes}) but "
                               f"the targets sum over --out-window {out_window}; give --out-window "
                               f"{profiles[0]}, and the --in-window the model was trained on")
        out = out[output]
    elif output is not None:
        raise GenomicError(f"{where}: --output {output} given, but the model returns one tensor of shape "
                           f"{tuple(getattr(out, 'shape', ()))}; expected a tuple of outputs")
    shape = tuple(getattr(out, "shape", ()))
    if len(shape) == 2 and shape[0] == n:
        if task is None and shape[1] > 1:
            raise GenomicError(f"{where}: the output has shape {shape}, {shape[1]} tasks; choose one with "
                               "--task K")
        task = 0 if task is None else task
        if not -shape[1] <= task < shape[1]:
            raise GenomicError(f"{where}: --task {task} is out of range: the output has shape {shape}, "
                               f"{shape[1]} task(s); expected 0 to {shape[1] - 1}")
        return out[:, task]
    if shape == (n,) and task in (None, 0):
        return out
    raise GenomicError(f"{where}: the output has shape {shape} for {n} sequences; expected one value per "
                       f"sequence and task, ({n},) or ({n}, tasks) (a profile output? choose the count head "
                       "with --output)")


def traced(head: Head, inputs: tuple[torch.Tensor, ...]) -> Any:
    """``head``'s model and its choice of output traced, frozen and fused by oneDNN (CPU only),
    or :data:`_PLAIN` when that is not safe or not the same.

    Traced are only models a trace can represent: a Python module whose trace raises no
    tracer warning (a data-dependent branch, a tensor turned into a Python number: the trace
    would bake in one batch's path), a TorchScript module without branches or loops, and a
    ``torch.export`` or ``torch.fx`` graph (static by construction; its input checks warn,
    harmlessly). The fused model must then give the model's chosen output on ``inputs``
    (relative difference below 1e-4, on three calls: the profiling calls and an optimised
    one); any failure on a later batch falls back to the plain model (:meth:`Head._one`).
    """
    if inputs[0].device.type != "cpu" or not _traceable(head.model):
        return _PLAIN
    chosen = _Chosen(head.model, head.output, head.task)
    graph = isinstance(head.model, torch.fx.GraphModule)
    expected = head.pick(head.model(*inputs), inputs[0].shape[0])  # a wrong --output or --task raises here
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore" if graph else "error", torch.jit.TracerWarning)
            trace = torch.jit.trace(chosen, inputs, check_trace=False).eval()
        with _onednn_fusion(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fused = torch.jit.freeze(trace)
            same = all(torch.allclose(fused(*inputs), expected, rtol=1e-4, atol=1e-6) for _ in range(3))
    except Exception:  # noqa: BLE001  (a model that cannot be traced or frozen runs as it is)
        return _PLAIN
    return fused if same else _PLAIN
