"""The readings' text: the published tables condensed, rendered as Markdown, and written into a
page's marked block (``lookloss reading``; :mod:`lookloss.reading` analyses, this module reports).

:func:`reading_table` condenses ``models.tsv`` per control x padding beside what the paper
reported (:data:`PAPER`), :func:`paper_differences` tests each difference, :func:`detector_reading`
counts each detector's flags, :func:`power_reading` reads a power sweep, :func:`markdown`
renders a table, :func:`study_text` and :func:`power_text` compose a published folder's page,
and :func:`write_readme_block` puts a text between a page's markers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lookloss import io, stats
from lookloss.detectors import STUDY_TESTS


#: What the paper reported per control and padding (docs/study.md section 5), out of 45
#: models each. ``None``: not reported. The paper gives the positive control's Spearman
#: ρ as "−0.19 and −0.002" without naming the paddings; they are taken here in the order
#: it uses for the negative control (valid, then same).
PAPER: dict[tuple[str, str], dict[str, Any]] = {
    ("neg", "valid"): {"paired": 1, "unpaired": 0, "magnitude": 45, "rho": "0.78"},
    ("neg", "same"): {"paired": 19, "unpaired": 0, "magnitude": 45, "rho": "0.40"},
    ("pos", "valid"): {"paired": 45, "unpaired": 45, "magnitude": None, "rho": "-0.19"},
    ("pos", "same"): {"paired": 45, "unpaired": 45, "magnitude": None, "rho": "-0.002"},
}


def reading_table(models: pd.DataFrame, alpha: float, n_grid: int | None = None,
                  groups: list[tuple[str, str]] | None = None, summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per control x padding: models, how many each test flags, Spearman ρ, medians; the paper beside.

    Parameters
    ----------
    models : pandas.DataFrame
        ``models.tsv`` (:func:`lookloss.jobs.write_tables`).
    alpha : float
        Significance level.
    n_grid : int, optional
        Models per control x padding in the full grid (the paper's 45), for the
        paper's columns.
    groups : list of (control, padding), optional
        Every group to show, in order, also those without a model yet (default: the
        groups ``models`` holds).
    summary : pandas.DataFrame, optional
        ``summary.tsv`` of the same models: ρ is then its ``spearman_rho``, computed by
        the analysis at full precision (``models.tsv`` holds 6 significant digits, whose
        rounding can tie values and move ρ in the second decimal).
    """
    held = dict(list(models.groupby(["control", "padding"], sort=True)))
    rhos = _summary_rhos(summary)
    rows = []
    for control, padding in groups or list(held):
        group = held.get((control, padding), models.iloc[:0])
        n = len(group)
        row: dict[str, Any] = {"control": control, "padding": padding, "models": n}
        for test in STUDY_TESTS:
            row[test.name] = f"{int((group[test.column] < alpha).sum())}/{n}" if n else "–"
        rho = rhos[(control, padding)] if (control, padding) in rhos else stats.spearman(
            group["mean_abs_I"], group["test_mse"])[0]
        row["spearman_rho"] = f"{rho:.2f}" if n > 2 else "n/a"
        row["median_test_mse"] = f"{group['test_mse'].median():.4f}" if n else "–"
        row["median_epochs"] = f"{group['epochs_run'].median():g}" if n else "–"
        paper = PAPER.get((control, padding), {})
        of = f"/{n_grid or 45}"
        for test in ("paired", "unpaired", "magnitude"):
            value = paper.get(test)
            row[f"paper_{test}"] = "n/r" if value is None else f"{value}{of}"
        row["paper_rho"] = paper.get("rho", "n/r")
        rows.append(row)
    return pd.DataFrame(rows)


def paper_differences(table: pd.DataFrame, n_paper: int = 45, summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per row of a :func:`reading_table`: the two-sided p-value of each difference from the paper.

    If this run's models and the paper's were two samples of the same trainings, how
    surprising would the difference be? Counts of flagged models by Fisher's exact test
    (:func:`lookloss.stats.two_proportions`), ρ by Fisher's z
    (:func:`lookloss.stats.two_spearmans`); "–" where the paper gives no number or the
    group has no model. The paper's groups hold ``n_paper`` models each. The p-values are
    not corrected for their number (14 at paper scale).

    Parameters
    ----------
    summary : pandas.DataFrame, optional
        ``summary.tsv`` of the same models: ρ is then its full-precision
        ``spearman_rho``, else the table's, rounded to two decimals.
    """
    rhos = _summary_rhos(summary)
    rows = []
    for row in table.to_dict("records"):
        group, n = (row["control"], row["padding"]), int(row["models"])
        paper = PAPER.get(group, {})
        p = {f"p: {test}": stats.two_proportions(int(row[test].split("/")[0]), n, paper[test], n_paper)
             for test in ("paired", "unpaired", "magnitude") if n and paper.get(test) is not None}
        if n > 2 and "rho" in paper:
            rho = rhos.get(group, float(row["spearman_rho"]))
            p["p: ρ"] = stats.two_spearmans(rho, n, float(paper["rho"]), n_paper)
        rows.append({"control": group[0], "padding": group[1]} | {
            name: "–" if np.isnan(p.get(name, np.nan)) else f"{p[name]:.2g}"
            for name in ("p: paired", "p: unpaired", "p: magnitude", "p: ρ")})
    return pd.DataFrame(rows)


def _summary_rhos(summary: pd.DataFrame | None) -> dict[tuple[str, str], float]:
    """Spearman ρ per (control, padding) from a ``summary.tsv`` (none without one)."""
    return {} if summary is None else {(r.control, r.padding): r.spearman_rho for r in summary.itertuples()}


#: Column headers of the README's table.
HEADERS = {"control": "control", "padding": "padding", "models": "models", "paired": "paired",
           "unpaired": "unpaired", "magnitude": "magnitude", "random-position": "random-position",
           "spearman_rho": "ρ(\\|I\\|, MSE)", "median_test_mse": "median test MSE", "median_epochs": "median epochs",
           "paper_paired": "paper: paired", "paper_unpaired": "paper: unpaired",
           "paper_magnitude": "paper: magnitude", "paper_rho": "paper: ρ"}


def markdown(table: pd.DataFrame) -> str:
    """A reading table as a GitHub Markdown table (headers from :data:`HEADERS`, else the column names)."""
    lines = ["| " + " | ".join(HEADERS.get(c, c) for c in table.columns) + " |",
             "|" + "|".join("---" for _ in table.columns) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def training_cost(manifest: Mapping[str, Any]) -> str:
    """What the published models cost to train, per device and CPU model (from the manifest's records).

    The wall time of each model's training (``train_seconds``), and where recorded
    (models trained since 2026-12-02 02:10 UTC) its process's CPU time (``cpu_seconds``).
    Models trained fused (``fused``: many models at once on one device, ``group_size`` of
    them) get a line per device, GPU (``gpu``, where recorded) and host CPU; their times
    overlap, so their sum is the models' time, not the device's. Models reused from another
    published folder (``reused_from``) cost nothing here: they are counted on a line of
    their own.
    """
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    reused: dict[str, int] = {}
    for record in manifest["models"].values():
        if record.get("reused_from"):
            folder = str(record["reused_from"]).rsplit(":", 1)[0]
            reused[folder] = reused.get(folder, 0) + 1
            continue
        where = (str(record.get("device")), str(record.get("cpu")), str(record.get("threads")),
                 str(record.get("gpu") or "GPU not recorded") if record.get("fused") else "")
        groups.setdefault(where, []).append(record)
    lines = []
    for (device, cpu, threads, gpu), records in sorted(groups.items()):
        wall = sum(float(r.get("train_seconds") or 0.0) for r in records)
        timed = [float(r["cpu_seconds"]) for r in records if r.get("cpu_seconds") is not None]
        used = f"; CPU time {sum(timed) / 3600:.1f} h over the {len(timed)} that record it" if timed else ""
        each = f"{wall / len(records) / 60:.0f} min per model{used}"
        if gpu:
            sizes = sorted({int(r.get("group_size") or 1) for r in records})
            span = f"{sizes[0]}" if len(sizes) == 1 else f"{sizes[0]}–{sizes[-1]}"
            lines.append(f"- {device} ({gpu}, host {cpu}), fused in groups of {span}: {len(records)} models, "
                         f"{wall / 3600:.1f} h of training time summed over the models (a group's models train "
                         f"at once, so the device was busy for less), {each}")
        else:
            lines.append(f"- {device} ({cpu}, {threads} thread{'s' if threads != '1' else ''} per model): "
                         f"{len(records)} models, {wall / 3600:.1f} h of training wall time, {each}")
    lines += [f"- reused from {folder}: {n} models, trained there (their cost is that run's)"
              for folder, n in sorted(reused.items())]
    return "\n".join(lines) + "\n"


def detector_reading(table: pd.DataFrame, groups: list[tuple[str, str]] | None = None) -> pd.DataFrame:
    """Per detector, the models it flags in each control x padding (``k/n``), from ``tables/detectors.tsv``.

    ``groups`` orders the columns (default: as the table lists them); a group the
    table lacks shows "–".
    """
    rows = []
    for detector, group in table.groupby("detector", sort=False):
        flagged = {(r.control, r.padding): f"{r.n_flagged}/{r.n_models}" for r in group.itertuples()}
        row = {"detector": detector}
        row.update({f"{c} {p}": flagged.get((c, p), "–") for c, p in groups or list(flagged)})
        rows.append(row)
    return pd.DataFrame(rows)


#: The study's main figures (docs/study.md section 6), shown under the README's table once
#: the published folder holds them.
README_FIGURES = ("fig3", "fig4", "fig5", "fig6", "fig7", "fig8")


def figure_gallery(folder: str | Path, manifest: Mapping[str, Any], readme_dir: str | Path, root: str | Path = ".",
                   names: Sequence[str] = README_FIGURES) -> str:
    """Markdown images of the figures ``names`` that ``folder``'s manifest lists, in that order.

    Each image links ``figures/{name}.png`` relative to ``readme_dir`` (where the README
    is) under its caption's title (:func:`caption_title` of ``workflow/report/{name}.rst``
    below ``root``). Figures the manifest does not list are left out; none listed gives "".
    """
    parts = []
    for name in names:
        path = Path(folder) / "figures" / f"{name}.png"
        if f"figures/{name}.png" not in manifest.get("files", {}) or not path.is_file():
            continue
        title = caption_title(Path(root, "workflow", "report", f"{name}.rst").read_text())
        link = os.path.relpath(path.resolve(), Path(readme_dir).resolve()).replace(os.sep, "/")
        parts.append(f"{title}\n\n![{name}]({link})\n")
    return "\n".join(parts)


def caption_title(caption: str) -> str:
    """A figure caption's title: its first line where that ends a sentence, else its leading bold span.

    A caption whose first sentence runs past the first line (``**Title?** Per padding, the
    fraction of ...``) would be cut mid-sentence; its bold title stands alone instead. A first
    line that neither ends a sentence nor starts in bold is given as it is.
    """
    first = caption.strip().splitlines()[0].rstrip() if caption.strip() else ""
    bold = re.match(r"\*\*.+?\*\*", first)
    return bold.group(0) if bold and not first.endswith((".", "?", "!", ":")) else first


# ----------------------------------------------------------------------------- power
#: Power a test must reach for the README's crossing column.
POWER_TARGET = 0.8


def crossing(strength: Sequence[float], fraction: Sequence[float], target: float = POWER_TARGET,
             additive_first: bool = True) -> str:
    """Where the power curve first reaches ``target``, linearly interpolated between its points.

    ``strength`` (the mean true interaction relative to the mean joint effect) and
    ``fraction`` (models flagged) are one point per control, in order of rising
    exponent; with ``additive_first``, the first is the additive control (strength 0,
    its false-positive rate). The curve is the polyline through them; the crossing is
    where it first reaches ``target``, stated as interpolated between the two controls
    that bracket it (whose strengths are given: the crossing is only known to lie
    between them). A test that already flags ``target`` of the additive models has no
    crossing: it does not tell interaction from none. Where the curve never reaches
    ``target``, the highest power (above the additive control) is given.
    """
    x, y = np.asarray(strength, dtype=np.float64), np.asarray(fraction, dtype=np.float64)
    if not len(x):
        return "n/a"
    if np.isnan(x).any():
        return "n/a (a control's strength is unknown)"
    if y[0] >= target:
        return (f"n/a (flags {y[0]:.0%} of the additive models)" if additive_first
                else f"≤ {_three(x[0])} (already at the weakest)")
    for k in range(1, len(x)):
        if y[k] >= target:
            at = x[k - 1] + (target - y[k - 1]) * (x[k] - x[k - 1]) / (y[k] - y[k - 1])
            return f"{_three(at)} (interpolated between {_three(x[k - 1])} and {_three(x[k])})"
    above = y[1:] if additive_first else y  # the power, not the false-positive rate
    return f"not reached (at most {above.max():.0%})" if len(above) else "n/a (no control above the additive one)"


def _three(value: float) -> str:
    """``value`` to 3 decimals, a negative one that rounds to zero as 0.000."""
    text = f"{value:.3f}"
    return "0.000" if text == "-0.000" else text


def power_reading(power: pd.DataFrame, target: float = POWER_TARGET) -> pd.DataFrame:
    """Per test and padding: false-positive rate at exponent 1, power above it, the crossing.

    Parameters
    ----------
    power : pandas.DataFrame
        ``tables/power.tsv`` (:func:`lookloss.tables.power_table`).
    target : float
        Power whose crossing is reported (80%).

    Returns
    -------
    pandas.DataFrame
        One row per test (:data:`lookloss.detectors.STUDY_TESTS`) x padding: ``fpr`` (models
        flagged at exponent 1 and their fraction with its Wilson 95% interval; "–"
        without an additive control), ``power <e>`` per exponent above 1 (the same,
        at that exponent), and ``crossing``: the strength (mean true I / mean joint effect) at which
        :func:`crossing` puts ``target`` on the curve of the controls of exponent ≥ 1.

    Raises
    ------
    ValueError
        Two controls share an exponent (the curve would be ambiguous).
    """
    shared = power.drop_duplicates(["control", "exponent"]).groupby("exponent")["control"].unique()
    if (shared.map(len) > 1).any():
        raise ValueError(f"controls share an exponent: {shared[shared.map(len) > 1].map(sorted).to_dict()}; "
                         "the power reading needs one control per exponent")
    rows = []
    exponents = sorted(e for e in power["exponent"].unique() if e > 1)
    for (test, padding), group in power.groupby(["detector", "padding"], sort=False):
        group = group[group["exponent"] >= 1].sort_values("exponent", kind="stable")
        row: dict[str, Any] = {"test": test, "padding": padding}
        additive = group[group["exponent"] == 1]
        row["fpr"] = _share(additive.iloc[0]) if len(additive) else "–"
        for exponent in exponents:
            at = group[group["exponent"] == exponent]
            row[f"power {exponent:g}"] = _share(at.iloc[0]) if len(at) else "–"
        row["crossing"] = crossing(group["true_relative_I"], group["fraction"], target, additive_first=len(additive) > 0)
        rows.append(row)
    return pd.DataFrame(rows)


def strengths(power: pd.DataFrame) -> pd.DataFrame:
    """Per padding, each control's strength (mean true I / mean joint effect), to 3 decimals.

    A control with no model yet in that padding (a partial sweep) shows "–"; a strength
    that rounds to zero shows as 0.0, never -0.0.
    """
    table = power.drop_duplicates(["padding", "control"]).sort_values(["padding", "exponent"], kind="stable")
    wide = (table.pivot(index="padding", columns="exponent", values="true_relative_I")
            .rename(columns=lambda e: f"exponent {e:g}"))
    shown = wide.apply(lambda column: column.map(lambda v: "–" if pd.isna(v) else str(round(v, 3) + 0.0)))
    return shown.reset_index()


def _share(row: pd.Series) -> str:
    """``k/n = fraction [Wilson interval]`` of one row of the power table."""
    return (f"{int(row['n_flagged'])}/{int(row['n_models'])} = {row['fraction']:.2f} "
            f"[{row['ci_low']:.2f}, {row['ci_high']:.2f}]")


#: The README's blocks that :func:`write_readme_block` fills, by name.
README_BLOCKS = {"reading": ("<!-- reading:start -->\n", "<!-- reading:end -->"),
                 "power": ("<!-- power:start -->\n", "<!-- power:end -->"),
                 "genome": ("<!-- genome:start -->\n", "<!-- genome:end -->"),
                 "answer": ("<!-- answer:start -->\n", "<!-- answer:end -->")}


def write_readme_block(path: str | Path, text: str, block: str = "reading") -> None:
    """Replace what stands between the ``block`` markers of ``path`` (a README) with ``text``."""
    content = Path(path).read_text()
    start, end = README_BLOCKS[block]
    if content.count(start) != 1 or content.count(end) != 1 or content.index(start) > content.index(end):
        raise ValueError(f"{str(path)!r} needs one {start.strip()} ... {end} block")
    before, rest = content.split(start)
    after = rest.split(end)[1]
    with io.atomic_path(path) as tmp:
        tmp.write_text(before + start + text + end + after)


def study_text(models: pd.DataFrame, summary: pd.DataFrame, detectors: pd.DataFrame, manifest: Mapping[str, Any],
               settings: Mapping[str, Any], folder: str | Path, readme_dir: str | Path, root: str | Path = ".",
               power: pd.DataFrame | None = None) -> tuple[str, pd.DataFrame]:
    """A published folder's reading and the table of what each detector flags (the front page's).

    Parameters
    ----------
    models, summary, detectors : pandas.DataFrame
        ``models.tsv``, ``summary.tsv`` and ``detectors.tsv`` of the models read.
    manifest : mapping
        The folder's manifest, cut to those models (:func:`lookloss.reading.as_read`).
    settings : mapping
        The run's configuration (grid, ``analysis.alpha``).
    folder, readme_dir, root : path
        The published folder, where the page is (figure links are relative to it), the repository.
    power : pandas.DataFrame, optional
        ``power.tsv`` of a power sweep: the text is then its reading (:func:`power_reading`) instead
        of the study's table; ``ValueError`` when it cannot be read so.
    """
    state = "complete" if manifest["complete"] else "partial"
    groups = [(c, p) for c in settings["models"]["controls"] for p in settings["models"]["paddings"]]
    alpha = settings["analysis"]["alpha"]
    text = f"{len(models)} of {manifest['n_grid']} models, {state} (published in {folder})\n\n"
    if power is not None:
        text += (markdown(power_reading(power)) + "\nStrength of each control, mean true I / mean joint effect over "
                 "the test pairs:\n\n" + markdown(strengths(power)))
    else:
        per_group = manifest["n_grid"] // len(groups)
        table = reading_table(models, alpha, per_group, groups, summary)
        text += (markdown(table) + "\nTwo-sided p of each difference from the paper, were both samples of the same "
                 "trainings (Fisher's exact test for counts, Fisher's z for ρ; not corrected for their number):\n\n"
                 + markdown(paper_differences(table, summary=summary)))
    found = detector_reading(detectors, groups)
    text += (f"\nModels flagged by each detector at α = {alpha:g} (docs/study.md section 8; an additive control's "
             "flags are false positives):\n\n" + markdown(found)
             + f"\nTraining{' so far' if state == 'partial' else ''} (from the manifest):\n\n" + training_cost(manifest))
    gallery = figure_gallery(folder, manifest, readme_dir, root, ("power",) if power is not None else README_FIGURES)
    text += f"\nAs published in {folder}:\n\n{gallery}" if gallery else ""
    return text, found
