"""BPNets trained on the simulated genome the way their users train them (bpnet-lite).

Two architectures of different inductive bias, both bpnet-lite's ``BPNet`` body (a wide
convolution, dilated residual convolutions, a profile head taking the control tracks):

- ``bpnet``: bpnet-lite's ``BPNet`` as it is. Its count head is a linear layer on the
  mean-pooled features and the log of the control's total: log-linear, so motif effects
  that add up in pooled features multiply in counts.
- ``additive``: :class:`AdditiveBPNet`, the same body with a count head that can add in
  counts: ``log(1 + Σ_positions softplus(w·h_i + v·c_i + b))`` over the pooled span
  (``h_i`` the features, ``c_i`` the control tracks at position ``i``). Motifs whose
  receptive fields do not overlap contribute additive counts.

:func:`train` trains one model with ``BPNet.fit`` on ``PeakGenerator``'s batches (jitter,
reverse-complement augmentation, negatives) on the training chromosomes, early-stopped on
the validation chromosome's peaks, the learning rate halved whenever the validation loss
stalls (``ReduceLROnPlateau``, which ``BPNet.fit`` steps each epoch), with the BPNet
paper's count-loss weight (half the mean total counts of the training peaks) unless one is
given. It then scores the best model on
the held-out chromosome with bpnet-lite's ``calculate_performance_measures`` and writes
``model.pt`` (the state dict and what it was made from), ``history.tsv`` (bpnet-lite's
log) and ``metrics.json`` (written last: a model is finished when it exists).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from lookloss import io, provenance

ARCHS = ("bpnet", "additive")
#: Strand suffixes of the simulated bigWigs, in the order the models' outputs take them.
STRANDS = ("plus", "minus")


def _base():
    from bpnetlite.bpnet import BPNet

    return BPNet


class Log1p(torch.nn.Module):
    """``log(1 + x)`` as a module, so that DeepLIFT rescales it (:data:`lookloss.detectors.explain.NONLINEAR`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log1p(x)


class AdditiveBPNet(_base()):  # type: ignore[misc]
    """bpnet-lite's BPNet with a count head that adds in counts (see the module docstring).

    Its nonlinearities are modules (``softplus``, ``log1p``), which DeepLIFT's hooks see.
    """

    def __init__(self, n_filters: int = 64, n_layers: int = 8, n_outputs: int = 2, n_control_tracks: int = 2,
                 **kwargs: Any) -> None:
        super().__init__(n_filters=n_filters, n_layers=n_layers, n_outputs=n_outputs,
                         n_control_tracks=n_control_tracks, **kwargs)
        self.linear = torch.nn.Linear(n_filters + n_control_tracks, 1)
        self.softplus, self.log1p = torch.nn.Softplus(), Log1p()

    def forward(self, X: torch.Tensor, X_ctl: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        start, end = self.trimming, X.shape[2] - self.trimming
        X = self.irelu(self.iconv(X))
        for i in range(self.n_layers):
            X = torch.add(X, self.rrelus[i](self.rconvs[i](X)))
        X_w_ctl = X if X_ctl is None else torch.cat([X, X_ctl], dim=1)
        y_profile = self.fconv(X_w_ctl)[:, :, start:end]
        pooled = X_w_ctl[:, :, max(start - 37, 0):end + 37]
        per_base = self.softplus(self.linear(pooled.transpose(1, 2)))
        return y_profile, self.log1p(per_base.sum(dim=(1, 2))).reshape(X.shape[0], 1)


def build(arch: str, n_filters: int, n_layers: int, name: str | None = None) -> torch.nn.Module:
    """An untrained model of ``arch`` (two strands out, two control tracks in)."""
    if arch not in ARCHS:
        raise ValueError(f"architecture {arch!r}: expected one of {ARCHS}")
    cls = _base() if arch == "bpnet" else AdditiveBPNet
    return cls(n_filters=n_filters, n_layers=n_layers, n_outputs=2, n_control_tracks=2, name=name, verbose=False)


def in_window(out_window: int, n_layers: int) -> int:
    """The input window bpnet-lite's default trimming gives an output window."""
    return out_window + 2 * (47 + sum(2**i for i in range(1, n_layers + 1)))


def tracks(sim: str | Path, truth: str) -> tuple[list[str], list[str]]:
    """The signal bigWigs of ``truth`` and the control bigWigs, strands in model order."""
    sim = Path(sim)
    return ([str(sim / "signal" / f"{truth}_{s}.bw") for s in STRANDS],
            [str(sim / f"control_{s}.bw") for s in STRANDS])


def peaks(sim: str | Path, chroms: list[str]) -> pd.DataFrame:
    """The simulated narrowPeak rows on ``chroms``."""
    table = pd.read_csv(Path(sim) / "peaks.narrowPeak", sep="\t", header=None)
    return table[table[0].isin(chroms)].reset_index(drop=True)


def count_loss_weight(sim: str | Path, truth: str, chroms: list[str]) -> float:
    """The BPNet paper's count-loss weight: half the mean total reads of the training peaks
    over the output window (kundajelab/basepairmodels' recommended weight)."""
    loci = pd.read_csv(Path(sim) / "loci.tsv", sep="\t")
    train = loci[(loci["class"] != "negative") & loci["chrom"].isin(chroms)]
    return float(train[f"reads_{truth}"].mean() / 2)


def held_out(sim: str | Path, truth: str, chroms: list[str], in_w: int, out_w: int
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sequences, signals and control tracks of the peaks on ``chroms``, centred on summits."""
    from tangermeme.io import extract_loci

    signals, controls = tracks(sim, truth)
    X, y, X_ctl = extract_loci(loci=peaks(sim, chroms), sequences=str(Path(sim) / "genome.fa"), signals=signals,
                               in_signals=controls, chroms=chroms, in_window=in_w, out_window=out_w,
                               summits=True, verbose=False)
    return X.float(), y.float(), X_ctl.float()


@contextlib.contextmanager
def _inside(folder: Path):
    """Run with ``folder`` as the working directory (bpnet-lite writes its files by name)."""
    here = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(here)


def train(config: Mapping[str, Any], sim: str | Path, truth: str, arch: str, seed: int, out: str | Path,
          threads: int = 1) -> dict[str, Any]:
    """Train one model of the grid into ``out`` (see the module docstring); return its metrics.

    It trains where the study's ``training.device`` says (``auto``: CUDA when a GPU is visible,
    else the CPU) and is scored on the CPU; ``threads`` are the CPU threads either way.
    """
    from bpnetlite.io import PeakGenerator

    from lookloss import devices

    section = config["genome"]
    grid, settings = section["models"], section["training"]
    sim = Path(sim).resolve()
    folds = json.loads((sim / "fold_0.json").read_text())
    out_w = section["out_window"]
    in_w = in_window(out_w, grid["n_layers"])
    out = Path(out).resolve()
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").unlink(missing_ok=True)
    device = devices.resolve_device(config.get("training", {}).get("device", "auto"))
    devices.cpu_threads(threads)
    torch.manual_seed(seed)
    weight = settings["count_loss_weight"]
    if weight == "auto":
        weight = count_loss_weight(sim, truth, folds["train"])
    signals, controls = tracks(sim, truth)
    started = time.time()
    with _inside(work):
        data = PeakGenerator(peaks=peaks(sim, folds["train"]), negatives=str(sim / "negatives.bed"),
                             sequences=str(sim / "genome.fa"), signals=signals,
                             controls=controls, chroms=folds["train"], in_window=in_w,
                             out_window=out_w, max_jitter=settings["max_jitter"],
                             negative_ratio=settings["negative_ratio"],
                             reverse_complement=settings["reverse_complement"], summits=True, random_state=seed,
                             pin_memory=False, batch_size=settings["batch_size"])
        X_valid, y_valid, ctl_valid = held_out(sim, truth, folds["valid"], in_w, out_w)
        model = build(arch, grid["n_filters"], grid["n_layers"], name="model").to(device)
        model.count_loss_weight = weight
        optimizer = torch.optim.Adam(model.parameters(), lr=settings["learning_rate"])
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=settings["lr_patience"])
        model.fit(data, optimizer, scheduler=scheduler, X_valid=X_valid, X_ctl_valid=ctl_valid, y_valid=y_valid,
                  max_epochs=settings["max_epochs"], batch_size=settings["batch_size"], device=device.type,
                  early_stopping=settings["early_stopping"])
        best = torch.load("model.torch", map_location="cpu", weights_only=False)
        history = pd.read_csv("model.log", sep="\t")
    seconds = time.time() - started
    metrics = evaluate(best, sim, truth, folds["test"], in_w, out_w)
    state = {k: v.detach().clone() for k, v in best.state_dict().items()}
    meta = {"arch": arch, "truth": truth, "seed": seed, "n_filters": grid["n_filters"], "n_layers": grid["n_layers"],
            "in_window": in_w, "out_window": out_w, "count_loss_weight": weight, "training": dict(settings)}
    save(state, meta, out / "model.pt")
    io.write_tsv(out / "history.tsv", history)
    saved = history["Saved?"].astype(str).str.lower() == "true"
    record = {**meta, **metrics, "epochs": int(len(history)), "best_epoch": int(history.loc[saved, "Epoch"].iloc[-1]),
              "train_seconds": round(seconds, 1), "threads": threads, "device": device.type,
              "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
              "cpu": provenance.cpu_model(), **provenance.commit()}
    for name in ("model.torch", "model.final.torch", "model.log"):
        (work / name).unlink(missing_ok=True)
    work.rmdir()
    io.write_json(out / "metrics.json", record)
    return record


def save(state: Mapping[str, torch.Tensor], meta: Mapping[str, Any], path: str | Path) -> None:
    """Write a model as :func:`load` reads it: its weights and its meta (``arch``, ``n_filters``,
    ``n_layers``, ...), no pickled code, so that ``lookloss loss-test --model`` and ``lookloss scan
    --model`` read it without ``--trust-pickle`` (:func:`lookloss.inference.load_model`)."""
    with io.atomic_path(path) as tmp:
        torch.save({"state_dict": dict(state), "meta": dict(meta)}, tmp)


def load(path: str | Path) -> torch.nn.Module:
    """A published model (``model.pt``: weights and meta, no pickled code), ready to predict."""
    return from_record(torch.load(path, map_location="cpu", weights_only=True))


def from_record(record: Mapping[str, Any]) -> torch.nn.Module:
    """The model of a record :func:`save` wrote (``state_dict`` and ``meta``), in eval mode."""
    meta = record["meta"]
    model = build(meta["arch"], meta["n_filters"], meta["n_layers"])
    model.load_state_dict(record["state_dict"])
    return model.eval()


def evaluate(model: torch.nn.Module, sim: str | Path, truth: str, chroms: list[str], in_w: int, out_w: int
             ) -> dict[str, float]:
    """bpnet-lite's performance measures of ``model`` on the peaks of ``chroms``: count Pearson,
    Spearman and MSE of log counts, and the median profile Pearson and Jensen-Shannon distance."""
    from bpnetlite.performance import calculate_performance_measures
    from tangermeme.predict import predict

    X, y, X_ctl = held_out(sim, truth, chroms, in_w, out_w)
    model.eval()
    with torch.no_grad():
        logits, log_counts = predict(model, X, args=(X_ctl,), batch_size=64, device="cpu", verbose=False)
    measures = calculate_performance_measures(logits, y, log_counts, kernel_sigma=7, kernel_width=81,
                                              measures=["profile_pearson", "profile_jsd", "count_pearson",
                                                        "count_spearman", "count_mse"])
    return {"test_peaks": int(len(X)),
            "count_pearson": float(measures["count_pearson"].mean()),
            "count_spearman": float(measures["count_spearman"].mean()),
            "count_mse": float(measures["count_mse"].mean()),
            "profile_pearson": float(np.nanmedian(measures["profile_pearson"].numpy())),
            "profile_jsd": float(np.nanmedian(measures["profile_jsd"].numpy()))}
