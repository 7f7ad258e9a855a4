"""The data contract (lookloss.layout): names round-trip, and the workflow and the code agree."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from lookloss import layout

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("arch", "l1", "seed"), [("arch1", 0.0, 100), ("arch3", 1e-4, 5), ("arch2", 1e-5, 0)])
def test_model_names_round_trip(arch, l1, seed):
    name = layout.model_id(arch, l1, seed)
    assert layout.parse_model_id(name) == (arch, l1, seed)
    assert layout.model_id(arch, str(l1), str(seed)) == name  # wildcards arrive as text


def test_model_names_are_the_study_spelling():
    assert layout.model_id("arch1", 0.0001, 100) == "arch1-l1_0.0001-seed_100"
    assert layout.model_id("arch2", 0, 500) == "arch2-l1_0-seed_500"


@pytest.mark.parametrize("name", ["arch1-l1_0-seed_x", "arch1_l1_0_seed_1", "model.pt", ""])
def test_a_foreign_name_is_rejected(name):
    with pytest.raises(ValueError, match="not a model folder name"):
        layout.parse_model_id(name)


def test_model_paths_are_parsed_back():
    path = Path("results") / layout.model_dir("interactions", "neg", "same", "arch3-l1_0.001-seed_200") / "test.parquet"
    assert layout.parse_model_path(path) == ("neg", "same", "arch3-l1_0.001-seed_200")
    with pytest.raises(ValueError):
        layout.parse_model_path("test.parquet")


def test_wildcard_constraints_match_exactly_the_names():
    for key, values in (("padding", layout.PADDINGS), ("split", layout.SPLITS), ("pair_set", layout.PAIR_SETS)):
        pattern = re.compile(layout.WILDCARDS[key])
        assert all(pattern.fullmatch(v) for v in values)
        assert not pattern.fullmatch(values[0] + "x")
    name = layout.parse_model_id(layout.model_id("arch2", 1e-3, 300))
    assert re.fullmatch(layout.WILDCARDS["l1"], layout.l1_label(name.l1))
    assert re.fullmatch(layout.control_constraint(["neg", "e1.5"]), "e1.5")
    assert not re.fullmatch(layout.control_constraint(["neg", "e1.5"]), "e1x5")


def test_layout_imports_nothing_heavy():
    """Snakemake imports it at start-up: it must not pull in torch, numpy or pandas."""
    code = "import sys, lookloss.layout; print(sorted({'torch', 'numpy', 'pandas'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
