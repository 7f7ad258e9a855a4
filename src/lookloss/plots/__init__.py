"""The study's figures (docs/study.md section 6, poster numbering) from its tables.

Every figure function takes DataFrames and returns a :class:`matplotlib.figure.Figure`
built without pyplot (no global state, any backend); :func:`save_figure` writes it as
PDF and PNG. :func:`draw` reads what a figure needs from the workflow's files and draws
it, as the table of figures :data:`lookloss.figures.FIGURES` says (a module of its own,
so that the workflow reads the table without importing matplotlib); the table names its
functions, and :data:`FUNCTIONS` maps each name to the function. A new figure is one
function in the module of its family, one entry of :data:`FUNCTIONS`, one entry of that
table and one caption (``workflow/report/{name}.rst``).

Modules, one per family of figures:

- :mod:`lookloss.plots.style`: colours, sizes and the drawing helpers they share;
- :mod:`lookloss.plots.study`: the main figures, 3 to 8;
- :mod:`lookloss.plots.supplement`: the supplementary figures, S1 to S5;
- :mod:`lookloss.plots.sweeps`: power and the detectors' error rates across controls;
- :mod:`lookloss.plots.losstest`: the per-pair loss panels of fig8 and the figure of
  ``lookloss loss-test``;
- this module: reading the workflow's files and saving figures.

scipy is imported where it is used, never at module level: the CLI and every figure
job import this whole package, and scipy.stats would add more than a second to each.

Inputs
------
models : pandas.DataFrame
    ``models.tsv``: one row per model (control, padding, arch, l1, seed, model and the
    statistics of :func:`lookloss.tables.model_row`).
summary : pandas.DataFrame
    ``summary.tsv``: one row per control and padding.
pairs : pandas.DataFrame
    Interaction tables (:func:`lookloss.interactions.interaction_table`) of many models
    stacked, with ``control``, ``padding`` and ``model`` columns added
    (:func:`read_interactions`).

Conventions: panels are laid out with one row per control and one column per padding
(whichever the data hold); a model whose paired loss test is significant
(``p_paired < alpha``) is drawn in red; each panel states its number of models or pairs
and the p-values of its test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lookloss.figures import FIGURES
from lookloss.io import atomic_path
from lookloss.layout import parse_model_path
from lookloss.plots.losstest import loss_panels, loss_test_figure
from lookloss.plots.study import (
    fig3,
    fig4,
    fig5,
    fig6,
    fig7,
    fig8,
    fig8_shown,
    select_fig8_models,
)
from lookloss.plots.style import (
    BLUE,
    CONTROL_LABEL,
    CONTROL_ORDER,
    COVERAGE,
    DELTA_LABEL,
    GREY,
    LOGO_COLOURS,
    LOSS_UNIT,
    PANEL_SIZE,
    RED,
    SCATTER_BELOW,
    SIGN_COLOURS,
    centre_distance,
    flagged,
    format_p,
    information_content,
)
from lookloss.plots.supplement import figS1, figS2, figS3, figS4, figS5
from lookloss.plots.sweeps import detector_rates, power

__all__ = [
    "BLUE", "CONTROL_LABEL", "CONTROL_ORDER", "COVERAGE", "DELTA_LABEL", "FUNCTIONS", "GREY", "LOGO_COLOURS",
    "LOSS_UNIT", "PANEL_SIZE", "RED", "SCATTER_BELOW", "SIGN_COLOURS", "centre_distance", "detector_rates", "draw",
    "fig3", "fig4", "fig5", "fig6", "fig7", "fig8", "fig8_shown", "figS1", "figS2", "figS3", "figS4", "figS5",
    "flagged", "format_p", "information_content", "loss_panels", "loss_test_figure", "power", "read_interactions",
    "read_ppms", "save_figure", "select_fig8_models",
]

#: The functions :data:`lookloss.figures.FIGURES` names (:attr:`~lookloss.figures.FigureSpec.draw`
#: and :attr:`~lookloss.figures.FigureSpec.pairs_of`), by name.
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "fig3": fig3,
    "fig4": fig4,
    "fig5": fig5,
    "fig6": fig6,
    "fig7": fig7,
    "fig8": fig8,
    "fig8_shown": fig8_shown,
    "figS1": figS1,
    "figS2": figS2,
    "figS3": figS3,
    "figS4": figS4,
    "figS5": figS5,
    "power": power,
    "detector_rates": detector_rates,
}


def read_interactions(paths: Iterable[str | Path], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Stack per-model interaction tables, adding where each came from.

    Parameters
    ----------
    paths : iterable of path
        ``.../interactions/{control}/{padding}/{model}/{set}.parquet`` files
        (:func:`lookloss.layout.parse_model_path`).
    columns : sequence of str, optional
        Columns to read (all when None); fewer columns read faster and use less memory.

    Returns
    -------
    pandas.DataFrame
        The tables concatenated, with ``control``, ``padding``, ``model`` and
        ``pair_set`` taken from each path.
    """
    frames = []
    for path in map(Path, paths):
        frame = pd.read_parquet(path, columns=list(columns) if columns is not None else None)
        where = parse_model_path(path)
        frames.append(frame.assign(control=where.control, padding=where.padding,
                                   model=where.model, pair_set=path.stem))
    if not frames:
        return pd.DataFrame(columns=[*(columns or []), "control", "padding", "model", "pair_set"])
    return pd.concat(frames, ignore_index=True)


def draw(name: str, *, models: str | Path | None = None, summary: str | Path | None = None,
          power: str | Path | None = None, pairs: Sequence[str | Path] = (),
          motif_file: str | Path | None = None, options: Mapping[str, Any],
          detectors: str | Path | None = None) -> Figure:
    """Read what figure ``name`` needs from the workflow's files and draw it.

    Parameters
    ----------
    name : str
        A key of :data:`lookloss.figures.FIGURES`.
    models, summary, power, detectors : path, optional
        ``models.tsv``, ``summary.tsv``, ``power.tsv`` and ``detectors.tsv``.
    pairs : sequence of path
        Test-pair Parquet files (``.../{control}/{padding}/{model}/test.parquet``); a
        figure reads only those it shows (see :class:`lookloss.figures.FigureSpec`).
    motif_file : path, optional
        MEME motif file.
    options : mapping
        At least the figure's :attr:`lookloss.figures.FigureSpec.all_options`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    try:
        spec = FIGURES[name]
    except KeyError:
        raise ValueError(f"unknown figure {name!r}; known: {list(FIGURES)}") from None
    drawing = FUNCTIONS[spec.draw]
    missing = [option for option in spec.all_options if option not in options]
    if missing:
        raise ValueError(f"figure {name!r} needs the option(s) {missing}")
    files = {"models": models, "summary": summary, "power": power, "detectors": detectors, "motif_file": motif_file}
    absent = [i for i in spec.inputs if i != "pairs" and files[i] is None]
    if absent:
        raise ValueError(f"figure {name!r} needs the input(s) {absent}")
    data: dict[str, Any] = {}
    for table in ("models", "summary", "power", "detectors"):
        if table in spec.inputs:
            data[table] = pd.read_csv(files[table], sep="\t")
    if "pairs" in spec.inputs:
        where = {Path(p): parse_model_path(p) for p in pairs}
        if spec.focus:
            where = {p: w for p, w in where.items() if w.control in options["focus_controls"]}
        if spec.pairs_of is not None:
            shown = FUNCTIONS[spec.pairs_of](data["models"], options)
            wanted = set(zip(shown["control"], shown["padding"], shown["model"], strict=True))
            where = {p: w for p, w in where.items() if tuple(w) in wanted}
        data["pairs"] = read_interactions(where, spec.pair_columns)
    if "motif_file" in spec.inputs:
        data["ppms"] = read_ppms(motif_file, options["motifs"], options["pseudocount"])
    return drawing(**data, **{option: options[option] for option in spec.options})


def read_ppms(motif_file: str | Path, motifs: Mapping[str, str], pseudocount: float) -> dict[str, np.ndarray]:
    """The smoothed matrices of the motifs named in ``motifs`` (role -> name), keyed by role."""
    from lookloss.motifs import read_motifs, smooth

    ppms = read_motifs(motif_file, list(motifs.values()))
    return {role: smooth(ppms[name], pseudocount) for role, name in motifs.items()}


def save_figure(fig: Figure, pdf_path: str | Path, png_path: str | Path, dpi: int = 150) -> None:
    """Write ``fig`` as PDF and PNG, each atomically (temporary file, then rename).

    Dense layers drawn rasterized (hexbins) are rendered at ``dpi`` in the PDF too.
    Metadata dates are left out so the same figure gives the same bytes.
    """
    with atomic_path(pdf_path) as tmp:
        fig.savefig(tmp, format="pdf", dpi=dpi, metadata={"CreationDate": None})
    # The layout is settled by the first save; reusing it halves the cost of the second.
    engine = fig.get_layout_engine()
    fig.set_layout_engine("none")
    try:
        with atomic_path(png_path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None})
    finally:
        fig.set_layout_engine(engine)
