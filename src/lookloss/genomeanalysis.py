"""The tests on one BPNet of the genome-scale grid, on its held-out chromosomes (docs/genome.md).

:func:`analyse` runs what a user runs, ``lookloss loss-test --loci`` (the genomic route:
:func:`lookloss.extract`, :class:`lookloss.Head`,
:func:`lookloss.losstest.loss_test`), on the simulated peaks of the test chromosome, with
the model's count head (output 1, ``log1p`` link), its control tracks and the planted
GATA1 and TAL1 motifs: the paired and unpaired loss tests, the magnitude test against
dinucleotide-shuffled sequences and the random-position null. Each tested pair is then
joined to the simulation's truth (:mod:`lookloss.genomesim`'s ``loci.tsv`` and ``pairs.tsv``): whether the instances the
test found are the planted ones, the true interaction in reads, and for the spacing
truth whether the pair is in the cooperative arrangement. The four tests are rerun on
the pairs inside and outside that arrangement (:func:`lookloss.losstest.summarise` on the
rows of each), so that a table can say whether a test localises the interaction.

GIA and DFIM (:mod:`lookloss.detectors`) are written for the study's one-input networks
and sequences; they do not run on a BPNet yet (the registry of issue 38 is to make them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lookloss import io, losstest, motifs

#: Fewest bases between the two tested instances: adjacent instances count, so that the
#: composite arrangement (a gap of 7-11 bases, below the study's rule of 15 for these motifs)
#: is tested as it is planted.
MIN_GAP = 0
#: The subsets of pairs each test is repeated on.
SUBSETS = ("all", "inside", "outside")


def analyse(model: Any, config: Mapping[str, Any], sim: str | Path, truth: str, seed: int = 0,
            batch_size: int = 64) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The pair table (joined to the truth) and the summary of one model (see the module docstring).

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
    signals, controls = bpnets.tracks(sim, truth)
    windows = extract(loci, sim / "genome.fa", [Path(s) for s in signals], [Path(c) for c in controls],
                              (in_w, out_w))
    names = config["simulation"]["motifs"]
    ppms = motifs.read_motifs(sim / "motifs.meme", [names["gata"], names["tal"]])  # the file a user has
    head = Head(model.eval(), "model", output=1, controls=windows.controls, batch_size=batch_size,
                        fuse=False, out_window=out_w)
    result = losstest.loss_test(head, windows.onehot, windows.targets, ppms[names["gata"]], ppms[names["tal"]],
                                link="log1p", names=windows.loci["name"].tolist(),
                                motif_names=(names["gata"], names["tal"]), seed=seed,
                                scan_window=out_w, min_gap=MIN_GAP)
    pairs = join_truth(result.pairs, sim, truth, in_w)
    summary = {"truth": truth, "in_window": in_w, "out_window": out_w, "n_loci": len(windows.targets),
               **{k: v for k, v in result.summary.items() if k != "alpha"}, "alpha": result.summary["alpha"],
               "subsets": {}}
    masks = {"all": np.ones(len(pairs), bool)}
    if truth == "spacing":  # does a test localise the interaction to its window?
        masks.update(inside=pairs["composite"].to_numpy(), outside=~pairs["composite"].to_numpy())
    for name, mask in masks.items():
        if mask.sum() < 2:
            continue
        tests = losstest.summarise(result.pairs[mask].reset_index(drop=True),
                                   result.shuffled[mask].reset_index(drop=True),
                                   result.randpos[mask].reset_index(drop=True), result.summary["alpha"])
        tests.update(mean_abs_I_null=float(result.shuffled["interaction"].abs()[mask].mean()),
                     true_mean_I=float(pairs.loc[mask, "true_interaction"].mean()),
                     planted_fraction=float(pairs.loc[mask, "planted"].mean()))
        summary["subsets"][name] = tests
    return pairs, json.loads(json.dumps(summary, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


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


def write(pairs: pd.DataFrame, summary: Mapping[str, Any], out: str | Path) -> None:
    """``pairs.tsv`` and ``summary.json`` (last) of one model."""
    out = Path(out)
    io.write_tsv(out / "pairs.tsv", pairs)
    io.write_json(out / "summary.json", summary)


def analysis_dir(results: str | Path, identity: Mapping[str, Any]) -> Path:
    """Where one model's analysis goes: ``{results}/analysis/{truth}/{arch}-seed_{seed}``."""
    from lookloss.genomegrow import key

    return Path(results, "analysis", key(identity))


def analyse_published(config: Mapping[str, Any], folder: str | Path, root: str | Path = ".") -> list[dict[str, Any]]:
    """Analyse every model published in ``folder`` that the results folder has no fresh analysis of;
    return every published model's summary (with its identity), in grid order.

    The simulated genome is rebuilt (or reused) and checked against the manifest's digest.
    """
    import logging

    from lookloss import bpnets, checkpoints, genomegrow

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
        fresh = stamp.is_file() and json.loads(stamp.read_text()).get("model_sha256") == manifest["files"][files[0]]
        if not fresh:
            log.info("analysing %s", genomegrow.key(identity))
            pairs, summary = analyse(bpnets.load(model_path), config, results / "simulation", identity["truth"])
            summary.update(identity, model_sha256=manifest["files"][files[0]])
            write(pairs, summary, out)
        summaries.append(json.loads(stamp.read_text()))
    return summaries
