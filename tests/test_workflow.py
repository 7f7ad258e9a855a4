"""The whole workflow on the smoke preset, end to end, through Snakemake."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def snakemake(*args: str) -> subprocess.CompletedProcess:
    # Targets first: --configfile takes several values and would swallow a target after it.
    return subprocess.run([sys.executable, "-m", "snakemake", *args, "--configfile", "presets/smoke.yaml"],
                          cwd=ROOT, capture_output=True, text=True)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("smoke")
    run = snakemake("--cores", "2", "--config", f"results_dir={out}")
    assert run.returncode == 0, run.stderr[-4000:]
    return out


def test_default_config_plans_the_study_grid(tmp_path):
    run = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--quiet", "rules",
                          "--config", f"results_dir={tmp_path}"],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    counts = dict(line.split()[:2] for line in run.stdout.splitlines()
                  if line.split() and line.split()[0] in {"train", "interactions", "simulate"})
    # one analysis job per control x padding x arch x L1 covers that configuration's 5 seeds
    assert counts == {"simulate": "2", "train": "180", "interactions": "36"}


def test_smoke_preset_produces_every_table(smoke_run):
    models = pd.read_csv(smoke_run / "tables" / "models.tsv", sep="\t")
    assert len(models) == 2 * 1 * 2 * 2 * 2  # archs x l1 x seeds x paddings x controls
    assert models[["p_paired", "p_unpaired", "p_magnitude", "p_randpos"]].notna().all().all()
    summary = pd.read_csv(smoke_run / "tables" / "summary.tsv", sep="\t")
    assert set(zip(summary["control"], summary["padding"])) == {
        (c, p) for c in ("neg", "pos") for p in ("valid", "same")}
    assert (summary["n_models"] == 4).all()
    consistency = pd.read_csv(smoke_run / "tables" / "consistency.tsv", sep="\t")
    assert set(consistency["call"]) <= {"interaction", "no interaction", "inconsistent"}
    for model_dir in (smoke_run / "models").glob("*/*/*"):
        history = pd.read_csv(model_dir / "history.tsv", sep="\t")
        assert list(history.columns[:4]) == ["epoch", "train_loss", "val_loss", "seconds"]


def test_a_rerun_has_nothing_to_do(smoke_run):
    run = snakemake("-n", "--cores", "1", "--config", f"results_dir={smoke_run}")
    assert run.returncode == 0
    assert "Nothing to be done" in run.stdout + run.stderr


def test_outputs_are_deterministic(smoke_run, tmp_path):
    """Simulated data and trained tables are byte-identical when rebuilt from scratch."""
    run = snakemake("tables", "--cores", "2", "--config", f"results_dir={tmp_path}")
    assert run.returncode == 0, run.stderr[-4000:]

    def digest(root: Path, pattern: str) -> dict[str, str]:
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.glob(pattern))}

    for pattern in ["simulation/*/*", "tables/*.tsv", "interactions/*/*/*/*.parquet"]:
        first, second = digest(smoke_run, pattern), digest(tmp_path, pattern)
        assert first and first == second, pattern


def test_every_figure_is_built_and_the_report_renders(smoke_run):
    for name in ["fig3", "fig4", "fig5", "fig6", "fig7", "fig8", "figS1", "figS2", "figS3", "figS4", "figS5"]:
        assert (smoke_run / "figures" / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
        assert (smoke_run / "figures" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = smoke_run / "report.html"
    run = snakemake("--cores", "1", "--config", f"results_dir={smoke_run}", "--report", str(report))
    assert run.returncode == 0, run.stderr[-4000:]
    html = report.read_text(errors="replace")
    assert "fig4" in html and "summary.tsv" in html
