"""The loss test on a genomics model: peaks in a BED file, a genome FASTA and bigWig tracks.

`lookloss loss-test --loci BED --genome FASTA --signal BW ...` (docs/genomic.md) runs
the study's test (:func:`lookloss.losstest.loss_test`) where a researcher's data live:

- **Windows.** Each locus is centred on its midpoint (or its summit, BED column 10);
  the model sees ``in_window`` bases and the target is the signal summed over the
  centred ``out_window`` bases, all tracks summed. Sequences and signals are read by
  tangermeme's :func:`tangermeme.io.extract_loci` (pyfaidx and figwig). A window that
  runs off its chromosome, or holds a base other than A, C, G, T, is skipped and
  counted.
- **Held-out chromosomes.** ``--chroms`` or a ChromBPNet splits file per model
  (``--fold``, its ``test`` list).
- **Real models.** :class:`Head` turns a model that returns a tuple of outputs with
  several tasks, and takes control tracks as its second input, into one number per
  sequence: ``--output`` picks the tuple element, ``--task`` the column, the control
  tracks of each locus go in unchanged with every variant and null of it, and
  ``--rc-average`` averages each prediction with that of the reverse complement.
- **Several models.** Each model (e.g. one per fold) gets its own four tests; the
  summary applies the study's consistency rule (:func:`lookloss.tables.consistency_table`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from lookloss import devices, inference, losstest

#: Characters a genome may hold besides A, C, G, T (IUPAC codes, N, gaps); a window
#: with any of them is skipped. Lower case (soft-masked) bases are read as upper case.
OTHER_BASES = tuple("NRYKMSWBDHVUX-.")
#: Shortest run (sequences) that shows a progress bar.
PROGRESS_MIN = 2000
#: Sequences per forward pass by default: the fastest on 2 CPU cores for a default BPNet.
BATCH = 64
#: Fraction of one architecture's models that must have a significant paired test.
CONSISTENCY_FRACTION = 0.5


class GenomicError(losstest.LossTestError):
    """The genomic input cannot be tested as given; the message names the file, the key and what was expected."""


# ----------------------------------------------------------------------------- motifs
def read_pair(path: Path, pair: list[str]) -> tuple[list[np.ndarray], tuple[str, str]]:
    """The two motifs of ``pair``, each found by its ID or its name, case-insensitive.

    A MEME ``MOTIF`` line holds an ID and optionally a name (``MOTIF MA0035.4 Gata1``).
    A word is matched against the IDs first, then against the names.

    Returns
    -------
    ppms : list of numpy.ndarray, shape=(4, w)
        The two matrices (rows A, C, G, T).
    labels : tuple of str
        Each motif as it was matched, spelled as in the file.

    Raises
    ------
    GenomicError
        A missing file, a word that matches no motif ("not found in", with the IDs the
        file holds) or several (an ambiguous name, with the candidates).
    """
    from memelite.io import read_meme

    if not Path(path).is_file():
        raise GenomicError(f"motif file {str(path)!r} does not exist")
    records = {key: np.asarray(value, dtype=np.float64) for key, value in read_meme(str(path)).items()}
    ppms, labels = [], []
    for word in pair:
        key, label = _match_motif(path, records, word)
        ppms.append(records[key])
        labels.append(label)
    return ppms, (labels[0], labels[1])


def _match_motif(path: Path, records: dict[str, np.ndarray], word: str) -> tuple[str, str]:
    """The MEME key and the label of the one motif whose ID, else whose name, is ``word``."""
    ids = {key: key.split()[0] for key in records}
    names = {key: key.split()[1] for key in records if len(key.split()) > 1}
    for words in (ids, names):
        hits = [key for key, value in words.items() if value.lower() == word.lower()]
        if len(hits) == 1:
            return hits[0], words[hits[0]]
        if len(hits) > 1:
            raise GenomicError(f"motif name {word!r} is ambiguous in {str(path)!r}: it names {sorted(hits)}; "
                               "give one of their IDs instead")
    raise GenomicError(f"motif {word!r} not found in {str(path)!r} (neither an ID nor a name); the file holds "
                       f"{sorted(ids.values())[:20]}{' ...' if len(ids) > 20 else ''}")


# ----------------------------------------------------------------------------- loci and folds
def read_fold(path: Path) -> list[str]:
    """The ``test`` chromosomes of a ChromBPNet splits file (``{"train": [...], "valid": [...], "test": [...]}``)."""
    expected = 'expected the ChromBPNet splits format {"train": [...], "valid": [...], "test": ["chr1", ...]}'
    try:
        splits = json.loads(Path(path).read_text())
    except OSError:
        raise GenomicError(f"fold file {str(path)!r} does not exist or cannot be read") from None
    except ValueError as error:
        raise GenomicError(f"fold file {str(path)!r} is not JSON ({error}); {expected}") from None
    test = splits.get("test") if isinstance(splits, dict) else None
    if not isinstance(test, list) or not test or not all(isinstance(c, str) for c in test):
        raise GenomicError(f"fold file {str(path)!r} has no 'test' list of chromosome names; {expected}")
    return test


def read_loci(path: Path, summits: bool) -> pd.DataFrame:
    """The loci of a BED file: ``chrom``, ``centre`` (midpoint, or start + summit), ``name`` and ``line``.

    The midpoint is ``start + (end - start) // 2``, tangermeme's; with ``summits`` the
    centre is ``start + column 10`` (narrowPeak), or the midpoint where column 10 is -1
    (narrowPeak's "no summit called"). Track, browser and ``#`` lines are skipped. A locus
    without a name (column 4) is named ``chrom:centre``; a name that several lines share
    gets `` (line N)`` added, so that every row of the pair table names its own locus.
    """
    if not Path(path).is_file():
        raise GenomicError(f"BED file {str(path)!r} does not exist")
    rows = []
    with open(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip() or line.startswith(("track", "browser", "#")):
                continue
            rows.append((number, line.rstrip("\n").split("\t")))
    if not rows:
        raise GenomicError(f"BED file {str(path)!r} holds no locus")
    need = 10 if summits else 3
    loci = []
    for number, fields in rows:
        try:
            if len(fields) < need:
                raise ValueError
            start, end = int(fields[1]), int(fields[2])
            summit = int(fields[9]) if summits else -1
            if not -1 <= summit < end - start:
                raise ValueError
            centre = start + summit if summit >= 0 else start + (end - start) // 2
        except ValueError:
            what = ("10 tab-separated columns with an integer summit offset in column 10, from 0 to end - start - 1 "
                    "or -1 for none (--summits)") if summits else "tab-separated chrom, start, end with integer start "\
                "and end"
            raise GenomicError(f"BED file {str(path)!r} line {number}: expected {what}") from None
        name = fields[3] if len(fields) > 3 and fields[3] not in ("", ".") else f"{fields[0]}:{centre}"
        loci.append((fields[0], centre, name, number))
    table = pd.DataFrame(loci, columns=["chrom", "centre", "name", "line"])
    shared = table["name"].duplicated(keep=False)
    table.loc[shared, "name"] = [f"{name} (line {line})" for name, line in zip(table["name"][shared],
                                                                              table["line"][shared], strict=True)]
    return table


@dataclass
class Windows:
    """The loci that can be tested, as the model sees them.

    Attributes
    ----------
    loci : pandas.DataFrame
        ``chrom``, ``centre``, ``name``, ``line`` of each kept locus.
    onehot : numpy.ndarray, shape=(n, 4, in_window)
        Their sequences, uint8.
    targets : numpy.ndarray, shape=(n,)
        The signal summed over the centred output window, tracks summed.
    controls : numpy.ndarray or None, shape=(n, tracks, in_window)
        The control tracks over the input window (float32).
    skipped : dict
        ``off_chromosome`` and ``non_acgt``: loci left out, and why.
    """

    loci: pd.DataFrame
    onehot: np.ndarray
    targets: np.ndarray
    controls: np.ndarray | None
    skipped: dict[str, int]

    def subset(self, keep: np.ndarray) -> Windows:
        """The windows where ``keep`` is true (the skipped counts of those loci's chromosomes are not split)."""
        return Windows(self.loci[keep].reset_index(drop=True), self.onehot[keep], self.targets[keep],
                       None if self.controls is None else self.controls[keep], dict(self.skipped))


def check_chromosomes(loci: pd.DataFrame, bed: Path, genome: Path, tracks: list[Path]) -> None:
    """Fail, naming the files, when a locus's chromosome is missing from the genome or a bigWig."""
    import figwig
    import pyfaidx

    if not Path(genome).is_file():
        raise GenomicError(f"genome FASTA {str(genome)!r} does not exist")
    try:
        with pyfaidx.Fasta(str(genome)) as fasta:
            sizes = {str(k): len(v) for k, v in fasta.items()}
    except (ValueError, pyfaidx.FastaIndexingError, OSError) as error:
        raise GenomicError(f"cannot read genome FASTA {str(genome)!r}: {error}") from None
    _missing(loci, sizes, f"the genome {str(genome)!r}", bed)
    for track in tracks:
        if not Path(track).is_file():
            raise GenomicError(f"bigWig file {str(track)!r} does not exist")
        try:
            sizes = figwig.BigWigReader(str(track)).chrom_sizes
        except Exception as error:  # noqa: BLE001  (whatever figwig raises for a file that is no bigWig)
            raise GenomicError(f"cannot read {str(track)!r} as a bigWig file: {error}") from None
        _missing(loci, sizes, f"the bigWig {str(track)!r}", bed)


def _missing(loci: pd.DataFrame, sizes: dict[str, int], what: str, bed: Path) -> None:
    """Fail, naming the BED line, when a locus's chromosome is not one of ``sizes`` (of ``what``)."""
    absent = ~loci["chrom"].isin(list(sizes))
    if absent.any():
        first = loci[absent].iloc[0]
        raise GenomicError(f"BED file {str(bed)!r} line {first['line']}: chromosome {first['chrom']!r} is not in "
                           f"{what} (it holds {sorted(sizes)[:10]}); expected every locus on one of its "
                           "chromosomes (restrict them with --chroms or --fold)")


def extract(loci: pd.DataFrame, genome: Path, signals: list[Path], controls: list[Path] | None,
            windows: tuple[int, int], non_acgt: str = "skip") -> Windows:
    """Sequences, targets and control tracks of ``loci`` (:func:`read_loci`) by tangermeme's ``extract_loci``.

    ``windows`` is ``(in_window, out_window)``. Loci whose windows run off their
    chromosome, or whose sequence holds a base other than A, C, G, T, are left out
    and counted in :attr:`Windows.skipped`; with ``non_acgt="fail"`` the first such
    sequence is an error instead.
    """
    from tangermeme.io import extract_loci

    in_window, out_window = windows
    frame = pd.DataFrame({"chrom": loci["chrom"], "start": loci["centre"], "end": loci["centre"] + 1})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = extract_loci(frame, str(genome), signals=[str(s) for s in signals],
                                  in_signals=[str(c) for c in controls] if controls else None,
                                  in_window=in_window, out_window=out_window, ignore=list(OTHER_BASES),
                                  return_mask=True, n_jobs=1)
        except ValueError as error:
            if "No loci remain" not in str(error):
                raise GenomicError(f"cannot read the loci from {str(genome)!r}: {error}") from None
            return _empty(loci, len(loci), controls, in_window)
    seqs, signal, mask = result[0], result[1], result[-1]
    ctl = result[2].numpy() if controls else None
    kept = loci[mask.numpy()].reset_index(drop=True)
    onehot = seqs.numpy().astype(np.uint8)
    acgt = (onehot.sum(axis=1) == 1).all(axis=1)
    if non_acgt == "fail" and not acgt.all():
        first = kept[~acgt].iloc[0]
        raise GenomicError(f"BED line {first['line']} ({first['name']}): its {in_window}-base window of "
                           f"{str(genome)!r} holds a base other than A, C, G, T; expected only ACGT with "
                           "--non-acgt fail (use --non-acgt skip to leave such loci out)")
    skipped = {"off_chromosome": int((~mask.numpy()).sum()), "non_acgt": int((~acgt).sum())}
    targets = signal.numpy().astype(np.float64).sum(axis=(1, 2))
    return Windows(kept[acgt].reset_index(drop=True), onehot[acgt], targets[acgt],
                   None if ctl is None else ctl[acgt], skipped)


def _empty(loci: pd.DataFrame, off: int, controls: list[Path] | None, in_window: int) -> Windows:
    """No window fits: every locus runs off its chromosome."""
    return Windows(loci.iloc[:0], np.zeros((0, 4, in_window), np.uint8), np.zeros(0),
                   None if not controls else np.zeros((0, len(controls), in_window), np.float32),
                   {"off_chromosome": off, "non_acgt": 0})


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
        ``controls`` is given (tangermeme's ``args=`` convention).
    label : str
        How messages name the model (its file).
    output : int, optional
        The element of a tuple output to use (a BPNet's count head: 1).
    task : int, optional
        The column of an ``(N, T)`` output to use.
    controls : numpy.ndarray, optional, shape=(n, tracks, L)
        The control tracks of each tested sequence, passed unchanged with every
        variant and null derived from it.
    rc_average : bool
        Average each prediction with that of the reverse complement (controls
        reversed and their tracks swapped: + and - strands).
    batch_size : int
        Sequences per forward pass.
    progress : bool
        Show a progress bar for calls of at least :data:`PROGRESS_MIN` sequences.
    fuse : bool
        On the CPU, run the model traced and frozen with oneDNN fusion, together with
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
    controls: np.ndarray | None = None
    rc_average: bool = False
    batch_size: int = BATCH
    progress: bool = False
    fuse: bool = False
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
                ctl = None if self.controls is None else torch.as_tensor(
                    self.controls[rows[start:start + self.batch_size]]).to(device=device, dtype=dtype)
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
        if self.fuse and self._runner is not _PLAIN:
            padded = tuple(_padded(t, self.batch_size) for t in inputs)
            if self._runner is None:
                try:
                    self._runner = self._fused(padded)
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
        print(f"lookloss: the fused (traced) model {self.label!r} failed ({inference.first_line(error)}); running the "
              "model as it is for the rest of the run (--no-fuse does so from the start)", file=sys.stderr)

    def _fused(self, inputs: tuple[torch.Tensor, ...]) -> Any:
        """The model and the choice of output traced, frozen and fused by oneDNN (CPU only), or
        :data:`_PLAIN` when that is not safe or not the same.

        Traced are only models a trace can represent: a Python module whose trace raises no
        tracer warning (a data-dependent branch, a tensor turned into a Python number: the trace
        would bake in one batch's path), a TorchScript module without branches or loops, and a
        ``torch.export`` or ``torch.fx`` graph (static by construction; its input checks warn,
        harmlessly). The fused model must then give the model's chosen output on ``inputs``
        (relative difference below 1e-4, on three calls: the profiling calls and an optimised
        one); any failure on a later batch falls back to the plain model (:meth:`_one`).
        """
        if inputs[0].device.type != "cpu" or not _traceable(self.model):
            return _PLAIN
        chosen = _Chosen(self.model, self.output, self.task)
        graph = isinstance(self.model, torch.fx.GraphModule)
        expected = self.pick(self.model(*inputs), inputs[0].shape[0])  # a wrong --output or --task raises here
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore" if graph else "error", torch.jit.TracerWarning)
                traced = torch.jit.trace(chosen, inputs, check_trace=False).eval()
            with _onednn_fusion(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fused = torch.jit.freeze(traced)
                same = all(torch.allclose(fused(*inputs), expected, rtol=1e-4, atol=1e-6) for _ in range(3))
        except Exception:  # noqa: BLE001  (a model that cannot be traced or frozen runs as it is)
            return _PLAIN
        return fused if same else _PLAIN

    def pick(self, out: Any, n: int) -> torch.Tensor:
        """The chosen output element and task of a model's output for ``n`` sequences, as a vector."""
        where = f"model {self.label!r}"
        if isinstance(out, dict):
            raise GenomicError(f"{where} returns a dict with keys {list(out)}; expected a tensor or a tuple or list "
                               "of tensors (choose one with --output): wrap the model so that it returns them, e.g. "
                               "a module whose forward returns (out['profile'], out['counts'])")
        if isinstance(out, (tuple, list)):
            shapes = [tuple(getattr(o, "shape", ())) for o in out]
            if self.output is None:
                raise GenomicError(f"{where} returns {len(out)} outputs, shapes {shapes}; choose one with --output "
                                   "INDEX (a BPNet's log counts: 1)")
            if not -len(out) <= self.output < len(out):
                raise GenomicError(f"{where}: --output {self.output} is out of range: the model returns "
                                   f"{len(out)} outputs, shapes {shapes}; expected 0 to {len(out) - 1}")
            profiles = [shape[-1] for shape in shapes if len(shape) == 3 and shape[-1] > shape[1]]  # (N, strands, L)
            if self.out_window is not None and profiles and self.out_window % profiles[0]:  # not even a binned one
                raise GenomicError(f"{where}: its profile output covers {profiles[0]} bases (shapes {shapes}) but "
                                   f"the targets sum over --out-window {self.out_window}; give --out-window "
                                   f"{profiles[0]}, and the --in-window the model was trained on")
            out = out[self.output]
        elif self.output is not None:
            raise GenomicError(f"{where}: --output {self.output} given, but the model returns one tensor of shape "
                               f"{tuple(getattr(out, 'shape', ()))}; expected a tuple of outputs")
        shape = tuple(getattr(out, "shape", ()))
        if len(shape) == 2 and shape[0] == n:
            if self.task is None and shape[1] > 1:
                raise GenomicError(f"{where}: the output has shape {shape}, {shape[1]} tasks; choose one with "
                                   "--task K")
            task = 0 if self.task is None else self.task
            if not -shape[1] <= task < shape[1]:
                raise GenomicError(f"{where}: --task {task} is out of range: the output has shape {shape}, "
                                   f"{shape[1]} task(s); expected 0 to {shape[1] - 1}")
            return out[:, task]
        if shape == (n,) and self.task in (None, 0):
            return out
        raise GenomicError(f"{where}: the output has shape {shape} for {n} sequences; expected one value per "
                           f"sequence and task, ({n},) or ({n}, tasks) (a profile output? choose the count head "
                           "with --output)")


def _padded(tensor: torch.Tensor, size: int) -> torch.Tensor:
    """``tensor`` with its last row repeated up to ``size`` rows."""
    if len(tensor) >= size:
        return tensor
    return torch.cat([tensor, tensor[-1:].expand(size - len(tensor), *tensor.shape[1:])])


# ----------------------------------------------------------------------------- the command
#: Options of the genomic input alone, with the flag that sets each (for the FASTA route's check).
GENOMIC_ONLY = {"genome": "--genome", "signal": "--signal", "control": "--control", "fold": "--fold",
                "chroms": "--chroms", "summits": "--summits", "in_window": "--in-window",
                "out_window": "--out-window", "arch": "--arch"}


@dataclass
class Report:
    """What the genomic command writes: the pair table of every model, the summary, one figure per model."""

    pairs: pd.DataFrame
    summary: dict[str, Any]
    figures: dict[str, Any]


@dataclass
class _Run:
    """One model to test: its file, how it is named, its architecture label and held-out chromosomes."""

    path: Path
    label: str
    arch: str
    chroms: list[str] | None


def _runs(args: argparse.Namespace) -> list[_Run]:
    """The models to test, each with its held-out chromosomes (``--fold``: one file per model)."""
    paths = list(args.model)
    folds = list(args.fold or [])
    if folds and len(folds) != len(paths):
        raise GenomicError(f"--fold: {len(folds)} fold file(s) for {len(paths)} model(s); expected one per model, "
                           "in the order of --model")
    arch = list(args.arch or ["model"] * len(paths))
    if len(arch) != len(paths):
        raise GenomicError(f"--arch: {len(arch)} label(s) for {len(paths)} model(s); expected one per model")
    labels = [p.stem for p in paths]
    labels = [f"{i}-{s}" for i, s in enumerate(labels)] if len(set(labels)) < len(labels) else labels
    chroms = [read_fold(f) for f in folds] if folds else [list(args.chroms) if args.chroms else None] * len(paths)
    return [_Run(p, lab, a, c) for p, lab, a, c in zip(paths, labels, arch, chroms, strict=True)]


def _geometry(args: argparse.Namespace) -> tuple[int, int, int]:
    """``(in_window, out_window, scan_window)``, checked: positive (the batch size too), the scan window
    inside the input window."""
    in_window = 2114 if args.in_window is None else args.in_window
    out_window = 1000 if args.out_window is None else args.out_window
    scan = out_window if args.scan_window is None else args.scan_window
    checked = (("--in-window", in_window), ("--out-window", out_window), ("--scan-window", scan),
               ("--batch-size", args.batch_size or BATCH))
    for flag, value in checked:
        if value < 1:
            raise GenomicError(f"{flag} {value}: expected a positive number")
    if scan > in_window:
        raise GenomicError(f"--scan-window {scan} is larger than the input window (--in-window {in_window}); "
                           f"expected at most {in_window}")
    return in_window, out_window, scan


def command(args: argparse.Namespace) -> Report:
    """Run the loss test of every model on its held-out loci; raise :class:`GenomicError` on bad input.

    ``args`` are those of ``lookloss loss-test`` with ``--loci`` (:func:`lookloss.cli.parser`).
    """
    if args.targets is not None or args.sequences is not None:
        raise GenomicError("--targets and --sequences are for FASTA input; with --loci the targets come from "
                           "--signal")
    if args.genome is None or not args.signal:
        raise GenomicError("--loci needs --genome FASTA and --signal BW [BW ...] (the targets' tracks)")
    in_window, out_window, scan = _geometry(args)
    ppms, labels = read_pair(args.motifs, list(args.pair))
    runs = _runs(args)
    device = _device(args.device)
    models = [load_model(run.path, args.trust_pickle).to(device) for run in runs]
    loci = read_loci(args.loci, args.summits)
    held = sorted({c for run in runs for c in run.chroms}) if runs[0].chroms is not None else None
    used = loci if held is None else loci[loci["chrom"].isin(held)].reset_index(drop=True)
    if used.empty:
        raise GenomicError(f"no locus of BED file {str(args.loci)!r} lies on the held-out chromosomes {held}; "
                           "expected some (check --chroms or the fold files' 'test' lists)")
    check_chromosomes(used, args.loci, args.genome, [*args.signal, *(args.control or [])])
    windows = extract(used, args.genome, args.signal, args.control, (in_window, out_window), args.non_acgt)
    results = []
    for run, model in zip(runs, models, strict=True):
        sub = windows if run.chroms is None else windows.subset(windows.loci["chrom"].isin(run.chroms).to_numpy())
        if not len(sub.targets):
            raise GenomicError(f"model {str(run.path)!r}: no testable locus of {str(args.loci)!r} on its held-out "
                               f"chromosomes {run.chroms} ({windows.skipped['off_chromosome']} off a chromosome, "
                               f"{windows.skipped['non_acgt']} with other bases than ACGT)")
        head = Head(model, str(run.path), args.output, args.task, sub.controls, args.rc_average,
                    args.batch_size or BATCH, progress=True, fuse=not args.no_fuse, out_window=out_window)
        try:
            result = losstest.loss_test(head, sub.onehot, sub.targets, ppms[0], ppms[1], link=args.link,
                                        min_logodds=args.min_logodds, alpha=args.alpha, seed=args.seed,
                                        names=sub.loci["name"].tolist(), motif_names=labels, scan_window=scan,
                                        max_gap=args.max_gap, min_gap=args.min_gap, strands=args.strands,
                                        knockout_min_ddg=args.knockout_min_ddg)
        except GenomicError:
            raise
        except losstest.LossTestError as error:
            raise GenomicError(f"model {str(run.path)!r}: {error}") from None
        results.append((run, sub, result))
    summary = summary_across_models(results, args.alpha)
    summary.update(n_loci=len(loci), n_loci_held_out=len(used), in_window=in_window, out_window=out_window,
                   **{f"n_skipped_{k}": v for k, v in windows.skipped.items()})
    return Report(_pair_table(results), summary, _figures(results))


def _device(name: str | None) -> torch.device:
    """The ``--device`` (default: the CPU), or a one-line error."""
    try:
        return devices.resolve_device(name or "cpu")
    except (RuntimeError, ValueError) as error:
        raise GenomicError(f"--device: {error}") from None


def summary_across_models(results: list[tuple[_Run, Windows, losstest.LossTestResult]],
                          alpha: float) -> dict[str, Any]:
    """Every model's summary and the call across them, by the study's consistency rule.

    An architecture (``--arch``; all models one by default) supports an interaction
    when more than :data:`CONSISTENCY_FRACTION` of its models have a significant
    paired test; the call is ``interaction`` when every architecture supports it,
    ``no interaction`` when none does, ``inconsistent`` otherwise. With one model it is
    that model's call. It is ``too few pairs`` when some model's paired test could not
    reach ``alpha`` with the pairs it had (:func:`lookloss.losstest.summarise`) and the
    call would differ had that model been significant.
    """
    from lookloss import tables

    rows = [{"model": run.label, "file": str(run.path), "arch": run.arch, "test_chroms": run.chroms,
             **result.summary} for run, _, result in results]
    table = pd.DataFrame({"control": "-", "padding": "-", "arch": [r["arch"] for r in rows],
                          "p_paired": [r["p_paired"] for r in rows]})
    consistency = tables.consistency_table(table, alpha, CONSISTENCY_FRACTION)
    few = np.array([r["call"] == "too few pairs" for r in rows])
    call = str(consistency["call"].iloc[0])
    if few.any():  # the call stands only if those models' tests could not have changed it
        optimistic = table.assign(p_paired=np.where(few, 0.0, table["p_paired"]))
        if str(tables.consistency_table(optimistic, alpha, CONSISTENCY_FRACTION)["call"].iloc[0]) != call:
            call = "too few pairs"
    first = {k: v for k, v in rows[0].items() if k not in ("model", "file", "arch", "test_chroms")}
    shared = ("motif_a", "motif_b", "link", "alpha", "min_logodds", "seed", "strands", "knockout_min_ddg",
              "scan_window", "max_gap", "min_gap")
    summary = {**(first if len(rows) == 1 else {k: first.get(k) for k in shared}),
               "n_models": len(rows), "n_sig_paired": int(sum(r["p_paired"] < alpha for r in rows)),
               "consistency_fraction": CONSISTENCY_FRACTION,
               "architectures": consistency.drop(columns=["control", "padding", "call"]).to_dict("records"),
               "call": call, "models": rows}
    return json.loads(json.dumps(summary, default=_plain))


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers, for JSON."""
    return value.item() if hasattr(value, "item") else str(value)


def _pair_table(results: list[tuple[_Run, Windows, losstest.LossTestResult]]) -> pd.DataFrame:
    """The pair tables of every model, with the model, chromosome and centre of each locus."""
    frames = []
    for run, sub, result in results:
        where = sub.loci.set_index("name")[["chrom", "centre"]]
        where = where[~where.index.duplicated()]
        pairs = result.pairs
        frames.append(pairs.assign(model=run.label, chrom=where.loc[pairs["name"], "chrom"].to_numpy(),
                                   centre=where.loc[pairs["name"], "centre"].to_numpy()))
    table = pd.concat(frames, ignore_index=True)
    return table[["model", "chrom", "centre", *losstest.PAIR_COLUMNS]]


def _figures(results: list[tuple[_Run, Windows, losstest.LossTestResult]]) -> dict[str, Any]:
    """``loss.png`` for one model, ``loss-{model}.png`` for each of several."""
    from lookloss import plots

    if len(results) == 1:
        return {"loss.png": plots.loss_test_figure(results[0][2].pairs, results[0][2].summary)}
    return {f"loss-{run.label}.png": plots.loss_test_figure(result.pairs, result.summary)
            for run, _, result in results}


def write(report: Report, out: Path) -> list[Path]:
    """Write ``pairs.parquet``, ``summary.json`` and the figures to ``out``, whole or not at all."""
    from lookloss import io

    parent = out.parent if out.parent.exists() else None
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    names = ["pairs.parquet", "summary.json", *report.figures]
    try:  # every output is written to a staging folder first
        io.write_parquet(stage / "pairs.parquet", report.pairs)
        io.write_json(stage / "summary.json", report.summary)
        for name, figure in report.figures.items():
            figure.savefig(stage / name, dpi=150, metadata={"Software": None})
        out.mkdir(parents=True, exist_ok=True)
        for name in names:
            os.replace(stage / name, out / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return [out / name for name in names]


def fasta_model(args: argparse.Namespace, model: torch.nn.Module) -> torch.nn.Module | Callable:
    """The FASTA route's model: as it is, or a :class:`Head` when ``--output``, ``--task``, ``--rc-average``,
    ``--device`` or ``--batch-size`` ask for one; genomic-only options are refused."""
    given = [flag for key, flag in GENOMIC_ONLY.items() if getattr(args, key, None) not in (None, False, [])]
    if given:
        raise GenomicError(f"{', '.join(given)}: only for genomic input (--loci BED --genome FASTA --signal BW)")
    if len(args.model) != 1:
        raise GenomicError(f"--model given {len(args.model)} times; FASTA input takes one model (several need --loci)")
    if args.batch_size is not None and args.batch_size < 1:
        raise GenomicError(f"--batch-size {args.batch_size}: expected a positive number of sequences")
    if args.output is None and args.task is None and not args.rc_average and args.device is None \
            and args.batch_size is None:
        return model
    return Head(model.to(_device(args.device)), str(args.model[0]), args.output, args.task, None,
                args.rc_average, args.batch_size or BATCH, progress=True, fuse=not args.no_fuse, genomic=False)
