"""The tests on one BPNet of the genome-scale grid, on its held-out chromosomes (docs/genome.md).

:func:`analyse` runs what a user runs, ``lookloss loss-test --loci`` (the genomic route:
:func:`lookloss.extract`, :class:`lookloss.Head`,
:func:`lookloss.losstest.loss_test`), on the simulated peaks of the test chromosome, with
the model's count head (output 1, ``log1p`` link), its control tracks and the planted
GATA1 and TAL1 motifs: the paired and unpaired loss tests, the magnitude test against
dinucleotide-shuffled sequences and the random-position null, and the two loss tests again
on the model recalibrated on the held-out peaks that hold at most one of the two motifs
(:mod:`lookloss.calibration`). Each tested pair is then
joined to the simulation's truth (:mod:`lookloss.genomesim`'s ``loci.tsv`` and ``pairs.tsv``): whether the instances the
test found are the planted ones, the true interaction in reads, and for the spacing
truth whether the pair is in the cooperative arrangement. The four tests are rerun on
the pairs inside and outside that arrangement (:func:`lookloss.losstest.summarise` on the
rows of each), so that a table can say whether a test localises the interaction. The pair
scan (:func:`lookloss.scan.scan`, :func:`scan_model`) runs on the same windows over every
pair of the simulation's four motifs, so that the reading can also say whether it calls the
planted pair, in which cells, and any pair that interacts in no truth.

GIA and DFIM (:mod:`lookloss.detectors`, the study's implementations and settings, the
``detectors`` config section) run on the same model through :class:`LogCounts` (its count
head mapped to counts, a module DeepLIFT rescales) with each sequence's control tracks as
tangermeme's ``args`` (:func:`detect`): GIA on dinucleotide shuffles of held-out peak windows
with the consensus of each motif at the positions (and strands) of a fixed subsample of the
tested pairs, against random k-mers there; DFIM on a fixed subsample of the tested pairs,
each motif knocked out by random bases, against the same on dinucleotide-shuffled copies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from lookloss import io, losstest, motifs
from lookloss.genometables import RECALIBRATED

# Stream keys of the detectors' random draws here (lookloss.simulation.stream of the analysis seed).
_BACKGROUNDS, _POSITIONS, _KMERS, _PAIRS, _REFERENCES, _KNOCKOUTS = 31, 32, 33, 34, 35, 36
#: Fewest bases between the two tested instances: adjacent instances count, so that the
#: composite arrangement (a gap of 7-11 bases, below the study's rule of 15 for these motifs)
#: is tested as it is planted.
MIN_GAP = 0
#: The subsets of pairs each test is repeated on.
SUBSETS = ("all", "inside", "outside")


def analyse(model: Any, config: Mapping[str, Any], sim: str | Path, truth: str, seed: int = 0,
            batch_size: int = 64) -> tuple[pd.DataFrame, dict[str, Any], pd.DataFrame]:
    """The pair table (joined to the truth), the summary and the scan's cells (:func:`scan_model`)
    of one model (see the module docstring).

    ``model`` is a BPNet-shaped module (one-hot and control tracks in, ``(profile, log
    counts)`` out) with ``in_window`` inputs for the ``out_window`` of ``config["genome"]``.
    """
    from lookloss import bpnets
    from lookloss.head import Head
    from lookloss.loci import extract, read_loci

    sim = Path(sim)
    section = config["genome"]
    folds = json.loads((sim / "fold_0.json").read_text())
    out_w = section["out_window"]
    in_w = bpnets.in_window(out_w, section["models"]["n_layers"])
    loci = read_loci(sim / "peaks.narrowPeak", summits=True)
    loci = loci[loci["chrom"].isin(folds["test"])].reset_index(drop=True)
    signals, control_tracks = bpnets.tracks(sim, truth)
    windows = extract(loci, sim / "genome.fa", [Path(s) for s in signals], [Path(c) for c in control_tracks],
                              (in_w, out_w))
    names = config["simulation"]["motifs"]
    ppms = motifs.read_motifs(sim / "motifs.meme", [names["gata"], names["tal"]])  # the file a user has
    head = Head(model.eval(), "model", output=1, control_tracks=windows.control_tracks, batch_size=batch_size,
                        trace=False, out_window=out_w)
    result = losstest.loss_test(head, windows.onehot, windows.targets, ppms[names["gata"]], ppms[names["tal"]],
                                link="log1p", names=windows.loci["name"].tolist(),
                                motif_names=(names["gata"], names["tal"]), seed=seed,
                                scan_window=out_w, min_gap=MIN_GAP, recalibrate=True)
    pairs = join_truth(result.pairs, sim, truth, in_w)
    cells = scan_model(model, windows, sim, out_w, seed, batch_size)
    found = detect(model, windows, result.pairs, ppms[names["gata"]], ppms[names["tal"]], config.get("detectors", {}),
                   seed)
    summary = {"truth": truth, "in_window": in_w, "out_window": out_w, "n_loci": len(windows.targets),
               **{k: v for k, v in result.summary.items() if k != "alpha"}, "alpha": result.summary["alpha"],
               **found, "scan": scan_summary(cells, names["gata"], names["tal"]), "subsets": {}}
    masks = {"all": np.ones(len(pairs), bool)}
    if truth == "spacing":  # does a test localise the interaction to its window?
        masks.update(inside=pairs["composite"].to_numpy(), outside=~pairs["composite"].to_numpy())
    for name, mask in masks.items():
        if mask.sum() < 2:
            continue
        tests = _summarise_rows(result, mask)
        tests.update(mean_abs_I_null=float(result.shuffled["interaction"].abs()[mask].mean()),
                     true_mean_I=float(pairs.loc[mask, "true_interaction"].mean()),
                     planted_fraction=float(pairs.loc[mask, "planted"].mean()))
        if result.recalibrated is not None:
            recal = _summarise_rows(result.recalibrated, mask)
            tests.update({f"{k}_recalibrated": recal[k] for k in RECALIBRATED})
        summary["subsets"][name] = tests
    return pairs, io.plain(summary), cells


def _summarise_rows(result: losstest.LossTestResult, mask: np.ndarray) -> dict[str, Any]:
    """The four tests of a loss test's result on the pairs ``mask`` selects (and their nulls)."""
    rows = [table[mask].reset_index(drop=True) for table in (result.pairs, result.shuffled, result.randpos)]
    return losstest.summarise(*rows, result.summary["alpha"])


def scan_model(model: torch.nn.Module, windows: Any, sim: Path, out_w: int, seed: int, batch_size: int
               ) -> pd.DataFrame:
    """``lookloss scan`` of one model on its held-out peaks: every pair of the simulation's motifs
    (GATA1, TAL1 and the two distractors, ``motifs.meme``), by orientation and spacing bin, with the
    scan's defaults and the loss test's settings here (count head, ``log1p``, the output window,
    adjacent instances allowed)."""
    from lookloss import scan

    return scan.scan(model.eval(), windows.onehot, windows.targets, sim / "motifs.meme", args=windows.control_tracks,
                     names=windows.loci["name"].tolist(), output=1, link="log1p", scan_window=out_w,
                     min_gap=MIN_GAP, seed=seed, batch_size=batch_size, trace=False)


def scan_summary(cells: pd.DataFrame, gata: str, tal: str) -> dict[str, Any]:
    """What one model's scan called: rows tested and called, whether the planted pair (GATA1 and
    TAL1) is called pooled, its cells called, and the cells called of every other pair (none of
    which interacts in any truth)."""
    tested = cells[cells["call"].isin(["interaction", "no interaction"])]
    called = tested[tested["call"] == "interaction"]
    planted = (called["motif_a"].isin([gata, tal]) & called["motif_b"].isin([gata, tal])
               & (called["motif_a"] != called["motif_b"]))
    label = [f"{r.motif_a}·{r.motif_b} {r.orientation} {r.spacing_bin}" for r in called.itertuples()]
    return {"n_tested": len(tested), "n_called": len(called),
            "planted_pooled": bool((called[planted]["orientation"] == "all").any()),
            "planted_cells": [x for x, k in zip(label, planted, strict=True) if k],
            "other_cells": [x for x, k in zip(label, planted, strict=True) if not k],
            "passes": int(cells.attrs["summary"]["passes"])}


def join_truth(pairs: pd.DataFrame, sim: str | Path, truth: str, in_window: int) -> pd.DataFrame:
    """The loss test's pair table with, per locus, the truth: ``planted`` (the instances found
    start where GATA1 and TAL1 were planted), ``composite`` and ``true_interaction`` (reads;
    0 where the pair found is not the planted pair, whose knock-out changes no planted motif)."""
    loci = pd.read_csv(Path(sim) / "loci.tsv", sep="\t").set_index("name")
    truth_pairs = pd.read_csv(Path(sim) / "pairs.tsv", sep="\t").set_index("name")
    rows = loci.loc[pairs["name"]]
    offset = in_window // 2  # the window starts this far left of the summit
    planted = ((pairs["a_start"].to_numpy() == rows["gata_start"].to_numpy() + offset)
               & (pairs["b_start"].to_numpy() == rows["tal_start"].to_numpy() + offset))
    out = pairs.copy()
    out["class"] = rows["class"].to_numpy()
    out["planted"] = np.nan_to_num(planted.astype(float)).astype(bool)
    composite = truth_pairs["composite"].reindex(pairs["name"]).fillna(False).astype(bool).to_numpy()
    interaction = truth_pairs[f"interaction_{truth}"].reindex(pairs["name"]).fillna(0.0).to_numpy()
    out["composite"] = composite & out["planted"].to_numpy()
    out["true_interaction"] = np.where(out["planted"], interaction, 0.0)
    return out


def write(pairs: pd.DataFrame, summary: Mapping[str, Any], cells: pd.DataFrame, out: str | Path) -> None:
    """``pairs.tsv``, ``scan.tsv`` and ``summary.json`` (last) of one model."""
    out = Path(out)
    io.write_tsv(out / "pairs.tsv", pairs)
    io.write_tsv(out / "scan.tsv", cells)
    io.write_json(out / "summary.json", summary)


def analysis_dir(results: str | Path, identity: Mapping[str, Any]) -> Path:
    """Where one model's analysis goes: ``{results}/analysis/{truth}/{arch}-seed_{seed}``."""
    from lookloss.genomegrow import key

    return Path(results, "analysis", key(identity))


def analyse_published(config: Mapping[str, Any], folder: str | Path, root: str | Path = "."
                      ) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Analyse every model published in ``folder`` that the results folder has no fresh analysis of;
    return every published model's summary (with its identity), in grid order, and the digest of
    the simulated genome, rebuilt (or reused) and checked against the manifest's."""
    import logging

    from lookloss import bpnets, checkpoints, devices, genomegrow

    devices.cpu_threads(1)  # as the study's analysis: one thread, numba's kernels off torch's OpenMP
    log = logging.getLogger("lookloss")
    folder = Path(folder)
    results = Path(root, config["results_dir"])
    digest = genomegrow.ensure_simulation(config, results, root)
    manifest = json.loads((folder / checkpoints.MANIFEST).read_text())
    genomegrow.check_fits(manifest, config, digest, folder)
    summaries = []
    for identity in genomegrow.grid_order(config):
        files = genomegrow.model_files(identity)
        if not all(f in manifest["files"] for f in files):
            continue
        model_path = folder / files[0]
        if checkpoints.sha256(model_path) != manifest["files"][files[0]]:
            raise checkpoints.CheckpointError(f"{model_path} does not match its sha256 in the manifest")
        out = analysis_dir(results, identity)
        stamp = out / "summary.json"
        done = json.loads(stamp.read_text()) if stamp.is_file() else {}
        if done.get("model_sha256") != manifest["files"][files[0]] or "recalibrated" not in done:
            log.info("analysing %s", genomegrow.key(identity))
            pairs, summary, cells = analyse(bpnets.load(model_path), config, results / "simulation",
                                            identity["truth"])
            summary.update(identity, model_sha256=manifest["files"][files[0]])
            write(pairs, summary, cells, out)
        summaries.append(json.loads(stamp.read_text()))
    return summaries, digest


class LogCounts(torch.nn.Module):
    """A BPNet-shaped model's count head (output 1, log counts) as counts ``(N, 1)``: ``expm1`` a
    module of its own, so that DeepLIFT treats it as a nonlinearity (``nonlinear_ops``: the
    modules it and bpnet-lite's models hold that DeepLIFT must rescale, as
    :func:`lookloss.detectors.dfim.run` reads them)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model, self.counts = model, Expm1()
        self.nonlinear_ops = _nonlinear()

    def forward(self, x: torch.Tensor, ctl: torch.Tensor) -> torch.Tensor:
        return self.counts(self.model(x, ctl)[1].reshape(len(x), 1))


class Expm1(torch.nn.Module):
    """``exp(x) - 1``, elementwise."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.expm1(x)


def _nonlinear() -> dict:
    """The modules DeepLIFT rescales here besides tangermeme's and the study's own."""
    from tangermeme.deep_lift_shap import _nonlinear as rule

    from lookloss import bpnets

    return {Expm1: rule, bpnets.Log1p: rule}


def detect(model: torch.nn.Module, windows: Any, pairs: pd.DataFrame, gata: np.ndarray, tal: np.ndarray,
           settings: Mapping[str, int], seed: int = 0) -> dict[str, Any]:
    """GIA and DFIM on one BPNet (see the module docstring): the inputs built from its held-out
    windows and tested pairs, then each detector's ``run`` (:mod:`lookloss.detectors.gia`,
    :mod:`lookloss.detectors.dfim`), as for the study's models."""
    from tangermeme.ersatz import dinucleotide_shuffle

    from lookloss import simulation
    from lookloss.detectors import dfim, gia
    from lookloss.detectors.explain import consensus

    settings = {"gia_backgrounds": 1000, "gia_positions": 20, "dfim_pairs": 200, "dfim_references": 20,
                **dict(settings)}
    net = LogCounts(model.eval())
    rows_of = {name: i for i, name in enumerate(windows.loci["name"])}
    rows = np.array([rows_of[n] for n in pairs["name"]])
    codes = motifs.to_codes(windows.onehot)
    ctl = torch.from_numpy(np.ascontiguousarray(windows.control_tracks)).float()
    widths = (gata.shape[1], tal.shape[1])
    # GIA: shuffled held-out windows as backgrounds, with their own control tracks
    picks = simulation.stream(seed, _BACKGROUNDS).integers(0, len(codes), size=settings["gia_backgrounds"])
    backgrounds = dinucleotide_shuffle(torch.from_numpy(motifs.to_onehot(codes[picks])), n=1,
                                       random_state=simulation.shuffle_seed(simulation.stream(seed, _BACKGROUNDS, 1)))
    k = min(settings["gia_positions"], len(pairs))
    chosen = np.sort(simulation.stream(seed, _POSITIONS).choice(len(pairs), size=k, replace=False))
    patterns = []
    for ppm, strand in ((gata, pairs["a_strand"].to_numpy()[chosen]), (tal, pairs["b_strand"].to_numpy()[chosen])):
        forward = consensus(ppm)
        patterns.append(torch.cat([forward.flip(1, 2) if s == "-" else forward for s in strand]).float())
    kmer_rng = simulation.stream(seed, _KMERS)
    kmers = [torch.from_numpy(motifs.to_onehot(simulation.random_bases(kmer_rng, k, w))).float() for w in widths]
    found = gia.run(net, gia.Inputs(backgrounds[:, 0].float(), tuple(patterns), tuple(kmers),
                                    pairs[["a_start", "b_start"]].to_numpy()[chosen]), args=(ctl[picks],), batch_size=256)
    # DFIM: tested pairs, each motif knocked out by random bases; the null on shuffled copies
    n = min(settings["dfim_pairs"], len(pairs))
    take = np.sort(simulation.stream(seed, _PAIRS).choice(len(pairs), size=n, replace=False))
    starts = pairs[["a_start", "b_start"]].to_numpy()[take].astype(np.int64)
    ko_rng, ref_rng = simulation.stream(seed, _KNOCKOUTS), simulation.stream(seed, _REFERENCES)
    sets = []
    for shuffled in (False, True):
        seqs = codes[rows[take]]
        if shuffled:
            seqs = simulation.shuffle_dinucleotides(seqs, simulation.shuffle_seed(ko_rng))
        knocked = [simulation.embed(seqs, starts[:, j], simulation.random_bases(ko_rng, n, widths[j])) for j in (0, 1)]
        X = torch.from_numpy(motifs.to_onehot(seqs)).float()
        references = dinucleotide_shuffle(X, n=settings["dfim_references"],
                                          random_state=simulation.shuffle_seed(ref_rng))
        sets.append({"X": X, "knocked_out": tuple(torch.from_numpy(motifs.to_onehot(c)).float() for c in knocked),
                     "starts": starts, "references": references})
    found.update(dfim.run(net, dfim.Inputs(sets[0], sets[1], widths), args=(ctl[rows[take]],), batch_size=256))
    return found
