"""Build a wheelhouse for a machine without network: what lookloss needs, except torch.

Many cluster GPU nodes have no network but do have Python and a CUDA build of torch.
On a connected machine, with the project installed (``pip install -e .``), this
downloads, for the node's Python version and platform, a wheel of every distribution
lookloss needs at the version installed here (the project's pins, and bpnet-lite with h5py for
the genome-scale run), leaving out torch
and what only torch needs (the node's own torch is used, see ``pyproject.toml`` for the
supported range) and what the node already has at the same version (``--have``), and
builds a wheel of lookloss itself. Distributions that publish no wheel (pure-Python
sdists, e.g. ``connection_pool``) are built into one here with ``pip wheel``.

On the connected machine (``--have-any-version`` also leaves out what the node has at
another version: a smaller folder, checked by ``pip check`` on the node)::

    ssh node 'python3 -m pip freeze' > node-freeze.txt          # optional
    .venv/bin/python envs/wheelhouse.py --python-version 3.12 \\
        --platform manylinux_2_28_x86_64 --have node-freeze.txt --out wheelhouse

On the node (after copying the repository with its ``wheelhouse/``)::

    python3 -m venv --system-site-packages .venv     # sees the node's torch
    .venv/bin/pip install --no-index --no-deps wheelhouse/*.whl
    .venv/bin/pip check                               # every requirement met, torch's range too

The file ``wheelhouse/requirements.txt`` lists what the folder holds.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
#: What the genome-scale run (docs/genome.md) needs beyond lookloss's requirements: bpnet-lite
#: without its declared dependencies (see pyproject.toml, the "test" extra), and h5py, which
#: its BPNet imports.
GENOME_NO_DEPS = ("bpnet-lite",)
GENOME = ("h5py",)


def closure(project: str, skip: set[str], environment: dict[str, str]) -> dict[str, str]:
    """Every distribution ``project`` needs (name -> installed version), not descending into ``skip``.

    Requirements are read from the installed distributions' metadata, their markers
    evaluated for ``environment`` (the target Python and platform), extras ignored.

    Raises
    ------
    SystemExit
        When a needed distribution is not installed here (its version is unknown).
    """
    found: dict[str, str] = {}
    todo = [canonicalize_name(project)]
    while todo:
        name = todo.pop()
        if name in found or name in skip:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise SystemExit(f"{name} is needed but not installed here: install the project first "
                             "(pip install -e .)") from None
        found[name] = dist.version
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({**environment, "extra": ""}):
                todo.append(canonicalize_name(requirement.name))
    return found


def target_environment(python_version: str, platform: str) -> dict[str, str]:
    """Marker values for the node: its Python version, Linux (or macOS/Windows) and machine."""
    env = dict(default_environment())
    major_minor = ".".join(python_version.split(".")[:2])
    env.update(python_version=major_minor, python_full_version=f"{major_minor}.0",
               implementation_version=f"{major_minor}.0")
    machine = re.sub(r"^(manylinux|musllinux)(_\d+_\d+|\d+)?_", "", platform)
    if platform.startswith(("manylinux", "musllinux", "linux")):
        env.update(sys_platform="linux", platform_system="Linux", os_name="posix", platform_machine=machine)
    return env


def platforms(platform: str) -> list[str]:
    """``platform`` and the older tags its machine also runs (``manylinux_2_28`` runs ``manylinux_2_17``, ...).

    ``pip download --platform`` takes each tag literally, so the older glibc tags, and
    their legacy names (manylinux2014, 2010, 1), are listed explicitly.
    """
    match = re.fullmatch(r"manylinux_(\d+)_(\d+)_(\w+)", platform)
    if match is None:
        return [platform]
    major, minor, arch = int(match[1]), int(match[2]), match[3]
    tags = [f"manylinux_{major}_{m}_{arch}" for m in range(minor, 4, -1)]
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    return tags + [f"{name}_{arch}" for m, name in legacy.items() if major == 2 and m <= minor]


def have(path: Path | None) -> dict[str, str]:
    """``name==version`` lines of a ``pip freeze`` file (name -> version)."""
    if path is None:
        return {}
    pins = {}
    for line in path.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[canonicalize_name(name)] = version.strip()
    return pins


def fetch(name: str, version: str, args: argparse.Namespace) -> str:
    """Download the wheel of ``name==version`` for the target; build it here when none is published."""
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    tags = [option for tag in platforms(args.platform) for option in ("--platform", tag)]
    download = [*pip, "download", "--no-deps", "--only-binary=:all:", "--python-version", args.python_version,
                "--implementation", "cp", *tags, "--dest", str(args.out), f"{name}=={version}"]
    fetched = subprocess.run(download, capture_output=True, text=True)
    if fetched.returncode == 0:
        return "downloaded"
    with tempfile.TemporaryDirectory() as tmp:  # an sdist only: build it, keep it only if pure Python
        built = subprocess.run([*pip, "wheel", "--no-deps", "--wheel-dir", tmp, f"{name}=={version}"],
                               capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if built.returncode != 0 or len(wheels) != 1 or not wheels[0].name.endswith("-none-any.whl"):
            raise SystemExit(f"{name}=={version}: no wheel for {args.platform} / Python {args.python_version}:\n"
                             f"{fetched.stderr[-1500:]}\nand no pure-Python wheel could be built from its sdist "
                             f"({[w.name for w in wheels] or built.stderr[-1500:]})")
        shutil.move(str(wheels[0]), args.out / wheels[0].name)
    return "built from its sdist (pure Python)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python-version", default=".".join(map(str, sys.version_info[:2])),
                        help="the node's Python, e.g. 3.12 (default: this one)")
    parser.add_argument("--platform", default="manylinux_2_28_x86_64", help="the node's wheel platform tag")
    parser.add_argument("--skip", nargs="*", default=["torch"],
                        help="distributions the node provides, with everything only they need (default: torch)")
    parser.add_argument("--have", type=Path, help="the node's `pip freeze`: what it has at the same version is left out")
    parser.add_argument("--have-any-version", action="store_true",
                        help="leave out what the node has at any version (smaller; `pip check` then tells "
                             "whether its versions meet the requirements)")
    parser.add_argument("--out", type=Path, default=ROOT / "wheelhouse")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    env = target_environment(args.python_version, args.platform)
    skip = {canonicalize_name(s) for s in args.skip}
    needed = closure("lookloss", skip, env)
    needed.pop("lookloss")
    for name in GENOME:
        needed.update(closure(name, skip, env))
    for name in GENOME_NO_DEPS:
        try:
            needed[canonicalize_name(name)] = metadata.version(name)
        except metadata.PackageNotFoundError:
            raise SystemExit(f"{name} is needed (the genome-scale run) but not installed here: "
                             f"pip install --no-deps {name} (the version .ci/run pins)") from None
    present = have(args.have)
    wanted = {name: version for name, version in sorted(needed.items())
              if not (name in present and (args.have_any_version or present[name] == version))}
    with ThreadPoolExecutor(4) as pool:
        outcomes = dict(zip(wanted, pool.map(lambda item: fetch(*item, args), wanted.items())))
    project = subprocess.run([sys.executable, "-m", "pip", "-q", "wheel", "--no-deps", "--wheel-dir", str(args.out),
                              str(ROOT)], capture_output=True, text=True)
    if project.returncode != 0:
        raise SystemExit(f"building the lookloss wheel failed:\n{project.stderr[-2000:]}")
    lines = [f"{name}=={version}" for name, version in wanted.items()] + [f"lookloss=={metadata.version('lookloss')}"]
    (args.out / "requirements.txt").write_text("\n".join(lines) + "\n")
    for name, outcome in outcomes.items():
        print(f"{name}=={wanted[name]}: {outcome}")
    left_out = sorted(set(needed) - set(wanted))
    print(f"{len(wanted) + 1} wheels in {args.out} for Python {args.python_version} on {args.platform}; "
          f"left out: {', '.join(args.skip)} (and what only they need), and {len(left_out)} the node has: "
          f"{', '.join(left_out) or 'none'}")


if __name__ == "__main__":
    main()
