"""The table of figures (lookloss.figures) agrees with the drawing functions, the inputs and the captions."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from lookloss import figures, plots

ROOT = Path(__file__).resolve().parents[1]
#: The keyword each input reaches the drawing function as (lookloss.plots.draw).
LOADED = {"models": "models", "summary": "summary", "power": "power", "detectors": "detectors", "pairs": "pairs",
          "motif_file": "ppms"}


def _parameters(function) -> tuple[set[str], set[str]]:
    """The positional-or-keyword and the keyword-only parameters of ``function``."""
    parameters = inspect.signature(function).parameters
    keyword = {k for k, v in parameters.items() if v.kind is inspect.Parameter.KEYWORD_ONLY}
    return set(parameters) - keyword, keyword


@pytest.mark.parametrize("name", figures.FIGURES)
def test_the_named_functions_resolve_through_the_explicit_mapping(name):
    spec = figures.FIGURES[name]
    for function_name in filter(None, (spec.draw, spec.pairs_of)):
        function = plots.FUNCTIONS[function_name]
        assert inspect.isfunction(function), function_name
        assert function.__name__ == function_name and function.__module__.startswith("lookloss.plots."), function
        assert getattr(plots, function_name) is function  # importable as lookloss.plots.<name>
    if spec.pairs_of is not None:
        assert list(inspect.signature(plots.FUNCTIONS[spec.pairs_of]).parameters) == ["models", "options"]


def test_the_mapping_holds_only_what_the_table_names():
    named = {n for spec in figures.FIGURES.values() for n in (spec.draw, spec.pairs_of) if n is not None}
    assert set(plots.FUNCTIONS) == named


@pytest.mark.parametrize("name", figures.FIGURES)
def test_options_are_the_keyword_only_parameters_and_inputs_the_others(name):
    spec = figures.FIGURES[name]
    positional, keyword = _parameters(plots.FUNCTIONS[spec.draw])
    assert keyword == set(spec.options)
    assert positional == {LOADED[i] for i in spec.inputs}


@pytest.mark.parametrize("name", figures.FIGURES)
def test_inputs_are_known_and_pair_columns_come_with_pairs(name):
    spec = figures.FIGURES[name]
    assert spec.inputs and set(spec.inputs) <= set(figures.INPUTS) == set(LOADED)
    assert bool(spec.pair_columns) == ("pairs" in spec.inputs)
    assert not spec.focus or "pairs" in spec.inputs


@pytest.mark.parametrize("name", figures.FIGURES)
def test_every_figure_has_a_caption(name):
    assert (ROOT / "workflow" / "report" / f"{name}.rst").is_file()


def test_all_options_add_what_the_inputs_are_read_with():
    assert figures.FIGURES["figS3"].all_options == ()
    assert figures.FIGURES["fig6"].all_options == ("seq_len", "hexbin_gridsize", "distance_bin", "motifs",
                                                   "pseudocount", "focus_controls")
    assert figures.FIGURES["fig8"].all_options == ("alpha", "fig8_models", "focus_controls")  # no repeats


def test_the_table_imports_no_plotting_library():
    """The workflow reads the table at start-up: neither matplotlib nor lookloss.plots may come with it."""
    code = "import sys, lookloss.figures; print(sorted(m for m in sys.modules if m.split('.')[0] in {'matplotlib', " \
           "'scipy'} or m.startswith('lookloss.plots')))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
