"""gpu/session.sh, the prepared GPU-box command, rehearsed on the CPU (SMOKE=1).

The full rehearsal (every phase, the study stopped at its deadline and resumed, models
carried to a second machine) takes minutes and is described in BENCHMARKS.md; here the
CUDA checks' self-test, the packing and the refusal of a misspelled phase are checked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs Snakemake, subprocesses or real trainings

ROOT = Path(__file__).resolve().parents[1]


def copy_of_repository(target: Path) -> Path:
    """The checkout's files but the published runs (paper/: hundreds of models no check reads)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    for name in [f for f in files if not f.startswith("paper/")]:
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name, follow_symlinks=False)
    return target


def session(repo: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SMOKE": "1", "OUT": str(out), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(["bash", "gpu/session.sh", *args], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=600)


def test_the_gpu_session_runs_its_checks_and_packs_what_it_made(tmp_path):
    repo = copy_of_repository(tmp_path / "repo")
    run = session(repo, tmp_path / "out", "300", "check")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = (repo / "results" / "gpu" / "cuda_check.xml").read_text()  # pytest's JUnit XML
    assert 'failures="0"' in report and 'errors="0"' in report and "test_a_killed_group_resumes" in report
    with tarfile.open(tmp_path / "out" / "gpu.tar.gz") as packed:
        assert "results/gpu/cuda_check.xml" in packed.getnames()
    assert "CUDA CHECKS FAILED" not in (tmp_path / "out" / "log.txt").read_text()


def test_a_misspelled_phase_is_refused_before_any_work(tmp_path):
    repo = tmp_path / "repo"  # the phases are checked before anything else is read: the script alone
    (repo / "gpu").mkdir(parents=True)
    shutil.copy2(ROOT / "gpu" / "session.sh", repo / "gpu" / "session.sh")
    run = session(repo, tmp_path / "out", "100", "check", "trian")
    assert run.returncode == 2 and "unknown phase trian" in run.stdout
    assert not (repo / "results").exists()  # not even the checks ran


def test_the_genome_phase_grows_the_bpnets_and_packs_them_apart(tmp_path):
    """The genome phase publishes the grid's BPNets (the smoke grid: 6 models of 2 epochs) and packs them in
    genome.tar.gz, a folder that unpacks over the checkout, not inside gpu.tar.gz."""
    import json

    repo = copy_of_repository(tmp_path / "repo")
    run = session(repo, tmp_path / "out", "540", "genome")  # about 40 s on an idle 2-core machine
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    with tarfile.open(tmp_path / "out" / "genome.tar.gz") as packed:
        names = packed.getnames()
        manifest = json.load(packed.extractfile("results/gpu/genome-smoke/manifest.json"))
    assert manifest["complete"] and manifest["n_models"] == 6
    assert {"results/gpu/genome-smoke/models/super/bpnet-seed_1/model.pt"} <= set(names)
    assert all(r["device"] == "cpu" and r["gpu"] is None for r in manifest["models"].values())  # no GPU here
    with tarfile.open(tmp_path / "out" / "gpu.tar.gz") as packed:
        assert not any("genome-smoke/models" in n for n in packed.getnames())
