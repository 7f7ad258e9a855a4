"""envs/wheelhouse.py: a wheelhouse built here installs lookloss offline beside a node's own torch.

The "node" is a fresh virtual environment that already has torch and the scientific
stack (the GPU box had torch, numpy, scipy, pandas, pyarrow, matplotlib and seaborn) but
no snakemake, jsonschema, memelite or tangermeme: those distributions are linked into it
from this environment. The wheelhouse is built for it (downloads from the package index),
then installed with pip's index switched off.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import subprocess
import sys
import types
from importlib import metadata
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs Snakemake, subprocesses or real trainings

ROOT = Path(__file__).resolve().parents[1]


def _load(path: Path) -> types.ModuleType:
    """A script of the repository (not a package module) loaded by its path."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


wheelhouse = _load(ROOT / "envs" / "wheelhouse.py")

#: What the node brings (with everything these need).
NODE_HAS = ["torch", "numpy", "scipy", "pandas", "pyarrow", "matplotlib", "seaborn"]


def test_the_closure_leaves_out_torch_and_only_what_torch_needs():
    env = wheelhouse.target_environment("3.12", "manylinux_2_28_x86_64")
    assert env["python_version"] == "3.12" and env["sys_platform"] == "linux"
    needed = wheelhouse.closure("lookloss", {"torch"}, env)
    assert {"snakemake", "snakemake-executor-plugin-slurm", "memelite", "tangermeme", "jsonschema"} <= set(needed)
    assert "torch" not in needed and "sympy" not in needed  # sympy: only torch needs it
    assert needed["numpy"] == metadata.version("numpy")  # the project's pin, as installed here
    assert "pytest" not in needed  # extras are not followed


def test_older_manylinux_tags_are_listed():
    tags = wheelhouse.platforms("manylinux_2_28_x86_64")
    assert tags[0] == "manylinux_2_28_x86_64" and "manylinux_2_17_x86_64" in tags
    assert "manylinux2014_x86_64" in tags and "manylinux1_x86_64" in tags
    assert wheelhouse.platforms("macosx_11_0_arm64") == ["macosx_11_0_arm64"]


def link_distributions(names: list[str], site: Path) -> None:
    """Make ``site`` hold these installed distributions and what they need (symlinks)."""
    here = Path(metadata.distribution("numpy").locate_file(""))
    env = wheelhouse.target_environment(".".join(map(str, sys.version_info[:2])), "linux")
    dists = set()
    for name in names:
        dists |= set(wheelhouse.closure(name, set(), env))
    for dist in dists:
        for entry in {Path(str(f)).parts[0] for f in metadata.distribution(dist).files or []}:
            if entry != ".." and not (site / entry).exists():
                (site / entry).symlink_to(here / entry)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the wheelhouse targets a Linux node")
def test_a_node_without_network_installs_lookloss_from_the_wheelhouse(tmp_path):
    node, site = tmp_path / "node", tmp_path / "node-site"
    site.mkdir()
    link_distributions(NODE_HAS, site)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(node)], check=True)
    python = node / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "node-site.pth").write_text(f"{site}\n")
    pip = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check"]
    freeze = subprocess.run([*pip, "freeze"], capture_output=True, text=True, check=True).stdout
    assert "torch==" in freeze and "snakemake" not in freeze
    (tmp_path / "node-freeze.txt").write_text(freeze)

    wheels = tmp_path / "wheelhouse"
    build = subprocess.run([sys.executable, str(ROOT / "envs" / "wheelhouse.py"), "--platform",
                            f"manylinux_2_28_{platform.machine()}", "--have", str(tmp_path / "node-freeze.txt"),
                            "--have-any-version", "--out", str(wheels)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-3000:]
    names = {w.name.split("-")[0].lower() for w in wheels.glob("*.whl")}
    assert {"lookloss", "snakemake", "memelite", "tangermeme", "connection_pool", "bpnet_lite", "h5py"} <= names
    assert not names & {"torch", "numpy", "scipy", "pandas"}

    install = subprocess.run([*pip, "install", "--no-index", "--no-deps", *map(str, sorted(wheels.glob("*.whl")))],
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-3000:]
    check = subprocess.run([*pip, "check"], capture_output=True, text=True)
    # bpnet-lite travels without its declared dependencies (macs3, modisco, ...), as .ci/run installs it
    unmet = [line for line in check.stdout.splitlines() if not line.lower().startswith("bpnet-lite ")]
    assert unmet in ([], ["No broken requirements found."]), check.stdout + check.stderr
    node_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the node's own paths only
    where = subprocess.run([python, "-c", "import lookloss.fused, bpnetlite.bpnet, torch; "
                            "print(lookloss.__file__, torch.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env=node_env)
    assert where.returncode == 0 and purelib in where.stdout and str(site) in where.stdout, where.stderr
    plan = subprocess.run([python, "-m", "snakemake", "-n", "--cores", "1", "--configfile", "presets/smoke.yaml",
                           "--config", f"results_dir={tmp_path / 'results'}"], cwd=ROOT, capture_output=True, text=True)
    assert plan.returncode == 0, plan.stderr[-3000:]
