"""The loss-test example of docs/loss-test.md runs as written (its shell block, then its Python block)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs Snakemake, subprocesses or real trainings

ROOT = Path(__file__).resolve().parents[1]


def blocks(path: Path) -> dict[str, str]:
    """The fenced code blocks of a document, by language (the last of each)."""
    return {lang: code for lang, code in re.findall(r"```(\w+)\n(.*?)```", path.read_text(), re.S)}


def test_the_loss_test_example_runs_as_written():
    example = blocks(ROOT / "docs" / "loss-test.md")
    shell = example["bash"]
    # the commands name the project's environment, .venv/bin/...; run them with this one
    shell = shell.replace(".venv/bin/snakemake", f"{sys.executable} -m snakemake")
    shell = shell.replace(".venv/bin/lookloss", f"{sys.executable} -m lookloss.cli")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", shell], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    assert '"call"' in done.stdout and (ROOT / "results" / "example" / "loss-test" / "summary.json").is_file()
    run = subprocess.run([sys.executable, "-c", example["python"]], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-4000:]
    *call, p, n = run.stdout.split()
    assert " ".join(call) in ("interaction", "no interaction") and 0 <= float(p) <= 1 and int(n) > 0


def test_the_scan_example_prints_what_the_page_shows():
    """docs/scan.md's worked example: the cells, their sizes and calls and the passes counted are the
    page's (the statistics in float32 may round otherwise on another CPU: not compared)."""
    text = (ROOT / "docs" / "scan.md").read_text()
    code = re.search(r"## A worked example.*?```python\n(.*?)```", text, re.S).group(1)
    shown = re.search(r"\nprints\n\n```\n(.*?)```", text, re.S).group(1)
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-4000:]

    def cells(output: str) -> list[tuple[str, ...]]:
        rows = [line.split() for line in output.strip().splitlines()]
        return [(*row[:5], row[-1] if row[-1] == "interaction" else " ".join(row[-2:])) for row in rows[1:-1]] + [
            tuple(rows[-1])]

    assert cells(run.stdout) == cells(shown)
