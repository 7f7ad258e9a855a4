"""The table of the study's figures: what each one reads and which options it takes.

:data:`FIGURES` drives the figure rules of the workflow (``workflow/rules/figures.smk``,
one rule per figure, named like it) and :func:`lookloss.plots.draw`. This module imports
no plotting library, so that Snakemake reads the table at start-up without matplotlib: it
names the functions, and :data:`lookloss.plots.FUNCTIONS` maps each name to its function.
"""

from __future__ import annotations

from dataclasses import dataclass

from lookloss.layout import ROLE_FACTORS, start_key


@dataclass(frozen=True)
class FigureSpec:
    """How one figure is built from the workflow's files.

    Attributes
    ----------
    draw : str
        The drawing function, a key of :data:`lookloss.plots.FUNCTIONS`. It is called with
        the loaded inputs as keywords (``models``, ``summary``, ``power``, ``detectors``:
        DataFrames; ``pairs``: stacked test-pair tables; ``ppms``: the motif matrices keyed
        by role, from ``motif_file``) and with ``options``.
    inputs : tuple of str
        What it reads, among :data:`INPUTS`.
    options : tuple of str
        Keyword options of ``draw``, each named like its config key.
    pair_columns : tuple of str
        Columns of the test-pair tables it reads (when ``pairs`` is an input).
    focus : bool
        A figure about the focus controls (the additive truth, the study's negative
        control): it reads only their pair tables (option ``focus_controls``).
    pairs_of : str, optional
        A key of :data:`lookloss.plots.FUNCTIONS`, ``(models, options) -> DataFrame`` of the
        models whose pair tables are read, when the figure shows only some models.
    """

    draw: str
    inputs: tuple[str, ...]
    options: tuple[str, ...] = ()
    pair_columns: tuple[str, ...] = ()
    focus: bool = False
    pairs_of: str | None = None

    @property
    def all_options(self) -> tuple[str, ...]:
        """Every option the figure depends on: ``options`` and those its inputs are read with."""
        extra = [o for i in self.inputs for o in INPUT_OPTIONS.get(i, ())]
        extra += ["focus_controls"] if self.focus else []
        return tuple(dict.fromkeys([*self.options, *extra]))


#: Inputs a figure may read: the workflow's file (or files) each stands for.
INPUTS = {
    "models": "tables/models.tsv",
    "summary": "tables/summary.tsv",
    "power": "tables/power.tsv",
    "detectors": "tables/detectors.tsv",
    "pairs": "interactions/{control}/{padding}/{model}/test.parquet of every model (of the focus controls)",
    "motif_file": "the MEME motif file (config simulation.motif_file)",
}
#: Options an input is read with (the motif file: which motifs, how smoothed).
INPUT_OPTIONS = {"motif_file": ("motifs", "pseudocount")}

_STARTS = tuple(start_key(role) for role in ROLE_FACTORS)


#: Every figure of the study: name -> how it is built (poster numbering; docs/study.md section 6).
FIGURES: dict[str, FigureSpec] = {
    "fig3": FigureSpec("fig3", ("models",), ("alpha",)),
    "fig4": FigureSpec("fig4", ("models",), ("alpha",)),
    "fig5": FigureSpec("fig5", ("models", "summary"), ("alpha",)),
    "fig6": FigureSpec("fig6", ("pairs", "motif_file"), ("seq_len", "hexbin_gridsize", "distance_bin"),
                       (*_STARTS, "interaction"), focus=True),
    "fig7": FigureSpec("fig7", ("models",), ("alpha",)),
    "fig8": FigureSpec("fig8", ("models", "pairs"), ("alpha", "fig8_models", "focus_controls"),
                       ("loss_orig", "loss_main", "delta"), focus=True, pairs_of="fig8_shown"),
    "figS1": FigureSpec("figS1", ("pairs", "models"), ("hexbin_gridsize",), ("m_g", "m_t", "interaction")),
    "figS2": FigureSpec("figS2", ("pairs", "models"), ("hexbin_gridsize",),
                        ("m_g", "m_t", "true_m_g", "true_m_t", "interaction")),
    "figS3": FigureSpec("figS3", ("models",)),
    "figS4": FigureSpec("figS4", ("models",), ("alpha",)),
    "figS5": FigureSpec("figS5", ("motif_file",), ("motifs",)),
    "power": FigureSpec("power", ("power",), ("alpha",)),
    "detectors": FigureSpec("detector_rates", ("detectors",), ("alpha", "focus_controls")),
}
