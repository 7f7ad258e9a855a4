"""Tables of the genome-scale run (docs/genome.md): how well each model learned the simulation,
and which models each test flags, per truth, architecture and subset of pairs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lookloss import tables
from lookloss.detectors import DETECTORS, STUDY_TESTS

#: What each subset of a model's analysis keeps of the loss test on the recalibrated model
#: (``loss_test(recalibrate=True)``), with the suffix ``_recalibrated``.
RECALIBRATED = ("mean_I", "median_delta", "p_paired", "p_unpaired")
#: Columns of the fit table, after the model's identity.
FIT_COLUMNS = ("count_pearson", "count_spearman", "count_mse", "profile_pearson", "profile_jsd", "epochs",
               "best_epoch", "count_loss_weight", "train_seconds")


def fit_table(metrics: Sequence[str | Path]) -> pd.DataFrame:
    """One row per model (``metrics.json`` files): truth, architecture, seed and its held-out fit."""
    rows = []
    for path in metrics:
        record = json.loads(Path(path).read_text())
        rows.append({"truth": record["truth"], "arch": record["arch"], "seed": record["seed"],
                     **{k: record.get(k) for k in FIT_COLUMNS}})
    return pd.DataFrame(rows).sort_values(["truth", "arch", "seed"]).reset_index(drop=True)


def ceilings(loci: pd.DataFrame, truths: Sequence[str], chroms: Sequence[str]) -> pd.DataFrame:
    """Per truth, the held-out count Pearson (log1p reads of the peaks on ``chroms``) of the truth's
    own rate, and of the best log-linear function of the motifs' summed occupancies (least squares
    on log1p reads: a count head that multiplies motif effects and combines no motifs)."""
    peaks = loci[(loci["class"] != "negative") & loci["chrom"].isin(chroms)]
    occupancy = [c for c in peaks.columns if c.endswith("_total")]  # every site's, as the truth sums them
    design = np.column_stack([np.ones(len(peaks)), peaks[occupancy].to_numpy()])
    rows = []
    for truth in truths:
        y = np.log1p(peaks[f"reads_{truth}"].to_numpy(dtype=float))
        fitted = design @ np.linalg.lstsq(design, y, rcond=None)[0]
        rows.append({"truth": truth, "peaks": len(peaks),
                     "r_truth": float(np.corrcoef(np.log1p(peaks[f"rate_{truth}"]), y)[0, 1]),
                     "r_log_linear": float(np.corrcoef(fitted, y)[0, 1])})
    return pd.DataFrame(rows)


def model_table(summaries: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per model and subset of pairs: sizes, mean I (model's and true), median Δ, the four p-values."""
    rows = []
    for s in summaries:
        for subset, tests in s["subsets"].items():
            rows.append({"truth": s["truth"], "arch": s["arch"], "seed": s["seed"], "subset": subset,
                         "n_pairs": tests["n_pairs"], "planted_fraction": tests["planted_fraction"],
                         "true_mean_I": tests["true_mean_I"], "mean_I": tests["mean_I"],
                         "mean_abs_I": tests["mean_abs_I"], "mean_abs_I_null": tests.get("mean_abs_I_null"),
                         "median_delta": tests["median_delta"],
                         **{f"{k}_recalibrated": tests.get(f"{k}_recalibrated") for k in RECALIBRATED},
                         "calibration_gamma": s.get("recalibrated", {}).get("calibration", {}).get("gamma"),
                         # the study's tests per subset of pairs; the others score a model as a whole
                         **{d.column: tests[d.column] if d in STUDY_TESTS else s.get(d.column) if subset == "all"
                            else None for d in DETECTORS.values()}})
    return pd.DataFrame(rows).sort_values(["truth", "subset", "arch", "seed"]).reset_index(drop=True)


def flagged_table(models: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Per truth x subset x architecture (and ``all`` of them): models flagged by each test at
    ``alpha``, with Wilson 95% intervals, mean |I| against its shuffled null, median Δ."""
    rows = []
    for (truth, subset), group in models.groupby(["truth", "subset"], sort=False):
        for arch, part in [*group.groupby("arch", sort=True), ("all", group)]:
            row: dict[str, Any] = {"truth": truth, "subset": subset, "arch": arch, "n_models": len(part),
                                   "median_pairs": float(part["n_pairs"].median()),
                                   "true_mean_I": float(part["true_mean_I"].mean()),
                                   "mean_I": float(part["mean_I"].mean()),
                                   "mean_abs_I": float(part["mean_abs_I"].mean()),
                                   "mean_abs_I_null": float(part["mean_abs_I_null"].mean()),
                                   "median_delta": float(part["median_delta"].median())}
            counts = tables.flagged_table(part.assign(group=0), alpha, by=("group",))
            for c in counts.itertuples():
                row.update({f"n_{c.detector}": c.n_flagged, f"of_{c.detector}": c.n_models,
                            f"low_{c.detector}": c.ci_low, f"high_{c.detector}": c.ci_high})
            rows.append(row)
    return pd.DataFrame(rows)


def consistency(models: pd.DataFrame, alpha: float, fraction: float = 0.5) -> pd.DataFrame:
    """The study's call per truth x subset: an architecture supports an interaction when more than
    ``fraction`` of its models have a significant paired test; ``interaction`` when every
    architecture does, ``no interaction`` when none does, else ``inconsistent``."""
    rows = []
    for (truth, subset), group in models.groupby(["truth", "subset"], sort=False):
        support = {arch: float((part["p_paired"] < alpha).mean()) > fraction
                   for arch, part in group.groupby("arch", sort=True)}
        call = ("interaction" if all(support.values()) else "no interaction" if not any(support.values())
                else "inconsistent")
        rows.append({"truth": truth, "subset": subset, **{f"supports_{a}": s for a, s in support.items()},
                     "call": call})
    return pd.DataFrame(rows)


#: The call rules the grid is read against (issue 36: which one separates the truths), and what
#: one call is made of.
CALL_RULES = {
    "paired": "one model's paired loss test (the study's rule for one model)",
    "unpaired": "one model's unpaired loss test",
    "paired and unpaired": "both loss tests of one model",
    "recalibrated paired": "one model's paired loss test after recalibrating it on held-out peaks with at most one "
                           "of the two motifs (lookloss.calibration; of the models it could be fitted to)",
    "both architectures": "the paired tests of one seed's models of every architecture, all significant",
}


def rule_calls(models: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Per truth x subset x rule of :data:`CALL_RULES`: the calls of ``interaction`` at ``alpha``,
    of how many (``unit``: models, or seeds that have a model of every architecture in the
    table), with Wilson 95% intervals."""
    from lookloss.stats import wilson

    archs = sorted(models["arch"].unique())
    rows = []
    for (truth, subset), group in models.groupby(["truth", "subset"], sort=False):
        paired, unpaired = group["p_paired"] < alpha, group["p_unpaired"] < alpha
        recalibrated = pd.to_numeric(group["p_paired_recalibrated"], errors="coerce").dropna()  # where it was fitted
        counts = {rule: ("models", int(called.sum()), len(called))
                  for rule, called in (("paired", paired), ("unpaired", unpaired),
                                       ("paired and unpaired", paired & unpaired),
                                       ("recalibrated paired", recalibrated < alpha))}
        by_seed = group.assign(significant=paired).groupby("seed")
        whole = [part for _, part in by_seed if len(archs) > 1 and sorted(part["arch"]) == archs]
        counts["both architectures"] = ("seeds", sum(bool(part["significant"].all()) for part in whole), len(whole))
        for rule, (unit, called, n) in counts.items():
            low, high = wilson(called, n)
            rows.append({"truth": truth, "subset": subset, "rule": rule, "unit": unit, "n_called": called, "n": n,
                         "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows)


def rules_markdown(rules: pd.DataFrame) -> str:
    """Truths (and the spacing truth's subsets) x rules: ``called/of [Wilson 95%]``."""
    from lookloss.report import markdown

    cells = rules.assign(cell=[f"{r.n_called}/{r.n} [{r.ci_low:.2f}, {r.ci_high:.2f}]" if r.n else "–"
                               for r in rules.itertuples()])
    table = cells.pivot(index=["truth", "subset"], columns="rule", values="cell").reset_index()
    ordered = table[["truth", "subset", *[r for r in CALL_RULES if r in table.columns]]]
    return markdown(ordered.rename(columns={"subset": "pairs"}))


def scan_table(summaries: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per model: what its pair scan (``lookloss scan``, every pair of the four motifs) called:
    rows tested and called, the planted pair (GATA1 and TAL1) pooled, its cells called, and the cells
    called of the pairs that interact in no truth."""
    rows = [{"truth": s["truth"], "arch": s["arch"], "seed": s["seed"], "n_tested": s["scan"]["n_tested"],
             "n_called": s["scan"]["n_called"], "planted_pooled": s["scan"]["planted_pooled"],
             "n_planted_cells": len(s["scan"]["planted_cells"]), "n_other_cells": len(s["scan"]["other_cells"]),
             "planted_cells": "; ".join(s["scan"]["planted_cells"]), "other_cells": "; ".join(s["scan"]["other_cells"])}
            for s in summaries]
    return pd.DataFrame(rows).sort_values(["truth", "arch", "seed"]).reset_index(drop=True)


def scan_markdown(scans: pd.DataFrame) -> str:
    """Per truth x architecture: models whose scan calls the planted pair (pooled), models calling
    a cell of a pair that interacts in no truth, and the planted pair's cells called, most often first."""
    from collections import Counter

    from lookloss.report import markdown

    rows = []
    for (truth, arch), part in scans.groupby(["truth", "arch"], sort=True):
        cells = Counter(c for text in part["planted_cells"] for c in text.split("; ") if c and " all all" not in c)
        rows.append({"truth": truth, "arch": arch, "models": len(part),
                     "planted pair called (pooled)": f"{int(part['planted_pooled'].sum())}/{len(part)}",
                     "a non-interacting pair called": f"{int((part['n_other_cells'] > 0).sum())}/{len(part)}",
                     "planted pair's cells called (models)": ", ".join(f"{c.split(' ', 1)[1]} ({k})"
                                                                       for c, k in cells.most_common()) or "none"})
    return markdown(pd.DataFrame(rows))


def _cell(row: pd.Series, name: str) -> str:
    k, n = int(row[f"n_{name}"]), int(row[f"of_{name}"])
    return f"{k}/{n} [{row[f'low_{name}']:.2f}, {row[f'high_{name}']:.2f}]" if n else "–"


def flagged_markdown(flagged: pd.DataFrame, every_arch: bool = True) -> str:
    """The table of models flagged per truth (the spacing truth also inside and outside its window):
    per architecture and all together, or all together only."""
    from lookloss.report import markdown

    shown = flagged[(flagged["subset"] == "all") | (flagged["truth"] == "spacing")]
    if not every_arch:
        shown = shown[shown["arch"] == "all"]
    table = pd.DataFrame({"truth": shown["truth"], "pairs": shown["subset"], "arch": shown["arch"],
                          **{name: [_cell(r, name) for _, r in shown.iterrows()] for name in DETECTORS},
                          "mean I (true)": [f"{a:+.1f} ({b:+.1f})" for a, b in
                                            zip(shown["mean_I"], shown["true_mean_I"], strict=True)],
                          "mean abs I / null": [f"{a:.1f} / {b:.1f}" for a, b in
                                                zip(shown["mean_abs_I"], shown["mean_abs_I_null"], strict=True)],
                          "median delta": [f"{d:+.3g}" for d in shown["median_delta"]]})
    return markdown(table if every_arch else table.drop(columns="arch"))


def reading(flagged: pd.DataFrame, calls: pd.DataFrame, fit: pd.DataFrame, limits: pd.DataFrame,
            rules: pd.DataFrame, scans: pd.DataFrame) -> str:
    """Markdown: per truth, the models each test flags (all pairs; the spacing truth also inside
    and outside its window), each model family's held-out fit, and the consistency call."""
    from lookloss.report import markdown

    fits = fit.groupby(["truth", "arch"]).agg(models=("seed", "size"), count_r=("count_pearson", "median"),
                                              profile_r=("profile_pearson", "median"),
                                              epochs=("epochs", "median")).reset_index()
    fits = fits.merge(limits[["truth", "r_truth", "r_log_linear"]], on="truth", how="left")
    fits["count_r"] = fits["count_r"].map(lambda v: f"{v:.3f}")
    fits["r_truth"] = fits["r_truth"].map(lambda v: f"{v:.3f}")
    fits["r_log_linear"] = fits["r_log_linear"].map(lambda v: f"{v:.3f}")
    fits["profile_r"] = fits["profile_r"].map(lambda v: f"{v:.3f}")
    return (flagged_markdown(flagged) + "\nThe study's consistency call (across architectures, more than half of each "
            "one's models with a significant paired test):\n\n" + markdown(calls)
            + "\nCalls of an interaction under each candidate rule (models, or seeds with a model of every "
            "architecture; Wilson 95% intervals): a rule that separates the truths calls none of the additive "
            "truth and all of the super-additive one:\n\n" + rules_markdown(rules)
            + "\nThe pair scan (`lookloss scan`: every pair of the four motifs, by orientation and spacing bin, "
            "Benjamini-Hochberg over each model's cells at q < 0.05; only GATA1 and TAL1 interact, and only in the "
            "super-additive and spacing truths, where the composite is TAL1 7-11 bp upstream of GATA1 on its "
            "strand: `B>A>`, centres 20-24 bp apart):\n\n" + scan_markdown(scans)
            + "\nHeld-out fit (test chromosome peaks; medians over seeds), beside what the noise allows: the count "
            "Pearson of the truth's own rate (r_truth) and of the best log-linear function of the motifs' summed "
            "occupancies (r_log_linear):\n\n" + markdown(fits))




def scan_figures(summaries: Sequence[Mapping[str, Any]], results: Path, alpha: float) -> dict[str, Any]:
    """The pair scan's figure (:func:`lookloss.scanfigure.figure`) of the first seed of each truth x
    architecture analysed, named ``scan_{truth}_{arch}``."""
    from lookloss import genomeanalysis, genomegrow, scan, scanfigure

    out = {}
    for s in summaries:
        name = f"scan_{s['truth']}_{s['arch']}"
        if name in out:
            continue
        cells = pd.read_csv(genomeanalysis.analysis_dir(results, s) / "scan.tsv", sep="\t")
        out[name] = scanfigure.figure(cells.assign(model=genomegrow.key(s)), {"alpha": alpha,
                                                                              "min_pairs": scan.MIN_PAIRS})
    return out


def read_published(settings: Mapping[str, Any], published: Path, root: Path,
                   write_tables: bool = False) -> tuple[str, str]:
    """``lookloss reading`` of a genome-scale folder: analyse the models it holds that are not analysed
    yet (:func:`lookloss.genomeanalysis.analyse_published`), write every table and the figure to the
    results folder (and with ``write_tables`` publish them into ``published``), and return the
    folder page's text and the front page's (the models flagged, all architectures together).

    Raises
    ------
    lookloss.checkpoints.CheckpointError
        The folder does not fit the configuration, or holds no finished model yet.
    """
    from lookloss import checkpoints, genomeanalysis, genomefigures, genomegrow, io

    results = root / settings["results_dir"]
    alpha = settings["analysis"]["alpha"]
    summaries, digest = genomeanalysis.analyse_published(settings, published, root=root)
    if not summaries:
        raise checkpoints.CheckpointError(f"{published} holds no finished model yet")
    manifest = json.loads((published / checkpoints.MANIFEST).read_text())
    keys = [genomegrow.key(s) for s in summaries]
    fit = fit_table([published / "models" / k / "metrics.json" for k in keys])
    models = model_table(summaries)
    flagged = flagged_table(models, alpha)
    calls = consistency(models, alpha, settings["analysis"]["consistency_fraction"])
    rules = rule_calls(models, alpha)
    scans = scan_table(summaries)
    sim = results / "simulation"
    limits = ceilings(pd.read_csv(sim / "loci.tsv", sep="\t"), settings["genome"]["models"]["truths"],
                      json.loads((sim / "fold_0.json").read_text())["test"])
    tables = {"fit": fit, "models": models, "flagged": flagged, "consistency": calls, "rules": rules,
              "scan": scans, "ceilings": limits}
    for name, table in tables.items():
        io.write_tsv(results / "tables" / f"{name}.tsv", table)
    figures = {"genome": genomefigures.flagged_figure(flagged), **scan_figures(summaries, results, alpha)}
    for name, figure in figures.items():
        with io.atomic_path(results / "figures" / f"{name}.png") as tmp:
            figure.savefig(tmp, dpi=150, format="png", metadata={"Software": None})
    if write_tables:
        names = [f"tables/{name}.tsv" for name in tables] + [f"figures/{name}.png" for name in figures]
        manifest = genomegrow.publish(settings, published, results, names, digest, root)
    state = "complete" if manifest["complete"] else "partial"
    text = (f"{len(summaries)} of {manifest['n_grid']} models, {state} (published in {published}). Models "
            f"flagged by each test at α = {alpha:g}, Wilson 95% intervals; mean I is the models' against the "
            "truth's (reads), over the pairs each test found on the held-out chromosome:\n\n"
            + reading(flagged, calls, fit, limits, rules, scans))
    front = (f"{len(summaries)} of {manifest['n_grid']} models, {state}; models flagged at α = {alpha:g} (all "
             f"architectures; per architecture, the fit and the consistency call: {published}/README.md):\n\n"
             + flagged_markdown(flagged, every_arch=False))
    return text, front
