"""A published run that grows model by model (lookloss.grow, ``lookloss grow``)."""

from __future__ import annotations

import copy
import datetime
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from lookloss import checkpoints, cli, grow, jobs
from lookloss.config import training_job_settings

ROOT = Path(__file__).resolve().parents[1]



def test_any_prefix_of_the_order_fills_every_group_evenly(smoke_config):
    config = copy.deepcopy(smoke_config)
    config["models"].update(archs=["arch1", "arch2", "arch3"], l1=[0.0, 1e-4, 1e-3], seeds=[100, 200, 300])
    order = grow.grid_order(config)
    assert len(order) == len({grow.key(i) for i in order}) == len(checkpoints.grid_models(config))
    groups = {(c, p, a) for c in config["models"]["controls"] for p in config["models"]["paddings"]
              for a in config["models"]["archs"]}
    for n in range(1, len(order) + 1):
        counts = Counter((i["control"], i["padding"], i["arch"]) for i in order[:n])
        filled = [counts.get(g, 0) for g in groups]
        assert max(filled) - min(filled) <= 1, n
    assert [i["seed"] for i in order] == sorted(i["seed"] for i in order)  # seed by seed


@pytest.mark.slow
def test_a_run_grows_across_calls_and_never_redoes_a_published_model(small_grid, tmp_path):
    paper = tmp_path / "paper"
    first = grow.grow(small_grid, paper, jobs=2, root=ROOT, limit=3)
    assert (first["n_models"], first["n_grid"], first["complete"]) == (3, 4, False)
    assert set(first["models"]) == {grow.key(i) for i in grow.grid_order(small_grid)[:3]}
    assert first == json.loads((paper / "manifest.json").read_text())
    for name, sha in first["files"].items():
        assert checkpoints.sha256(paper / name) == sha
    record = first["models"]["neg/valid/arch1-l1_0.0001-seed_100"]
    assert record["threads"] == 1 and record["device"] == "cpu" and record["train_seconds"] > 0
    assert record["cpu"] and len(record["commit"]) == 40
    assert set(first["simulation"]) == set(checkpoints.simulation_files(small_grid))
    stamps = {name: (paper / name).stat().st_mtime_ns for name in first["files"]}

    second = grow.grow(small_grid, paper, jobs=2, root=ROOT)
    assert (second["n_models"], second["complete"]) == (4, True)
    assert {name: (paper / name).stat().st_mtime_ns for name in first["files"]} == stamps
    assert all(second["files"][name] == sha for name, sha in first["files"].items())
    # a model trained by the workflow's job, alone, is the published one, byte for byte
    identity = grow.grid_order(small_grid)[3]
    results = Path(small_grid["results_dir"])
    alone = {k: tmp_path / "alone" / Path(v).name for k, v in grow.model_paths(results, identity).items()}
    splits = {s: results / "simulation" / "valid" / f"{s}.npz" for s in ("train", "valid", "test")}
    jobs.train_model(splits, alone, identity, training_job_settings(small_grid))
    published = paper / "models" / grow.key(identity) / "model.pt"
    assert alone["model"].read_bytes() == published.read_bytes()
    # and the complete folder supplies the workflow's checkpoint route
    assert checkpoints.check_manifest(paper, small_grid) == []


@pytest.mark.slow
def test_a_killed_job_is_trained_again_and_a_finished_one_only_published(small_grid, tmp_path):
    results, paper = Path(small_grid["results_dir"]), tmp_path / "paper"
    grow.grow(small_grid, tmp_path / "elsewhere", jobs=2, root=ROOT, limit=2)  # two models finish in results
    first, second = grow.grid_order(small_grid)[:2]
    grow.model_paths(results, second)["metrics"].unlink()  # as if killed before its last file
    manifest = grow.grow(small_grid, paper, jobs=1, root=ROOT, limit=0)  # publish what is finished, train nothing
    assert list(manifest["models"]) == [grow.key(first)]
    manifest = grow.grow(small_grid, paper, jobs=1, root=ROOT, limit=1)
    assert set(manifest["models"]) == {grow.key(first), grow.key(second)}


@pytest.mark.slow
def test_other_data_or_a_corrupt_published_file_stop_it(small_grid, tmp_path):
    paper = tmp_path / "paper"
    grow.grow(small_grid, paper, jobs=1, root=ROOT, limit=1)
    results = Path(small_grid["results_dir"])
    with open(results / "simulation" / "valid" / "test.npz", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(checkpoints.CheckpointError, match="simulation/valid/test.npz"):
        grow.grow(small_grid, paper, jobs=1, root=ROOT, limit=0)
    (results / "simulation" / "valid" / "test.npz").unlink()  # rebuilt from the config: the same bytes
    assert grow.grow(small_grid, paper, jobs=1, root=ROOT, limit=0)["n_models"] == 1
    stale = copy.deepcopy(small_grid)  # a results folder simulated from another configuration is not reused
    stale["simulation"]["seed"] += 1
    grow.ensure_simulation(stale, results, ROOT)
    assert grow.grow(small_grid, paper, jobs=1, root=ROOT, limit=0)["n_models"] == 1

    other = copy.deepcopy(small_grid)
    other["training"]["patience"] += 1
    with pytest.raises(checkpoints.CheckpointError, match=r"training keys \['patience'\] differ"):
        grow.grow(other, paper, jobs=1, root=ROOT, limit=0)

    model = next(paper.rglob("model.pt"))
    model.write_bytes(model.read_bytes()[:-1])
    with pytest.raises(checkpoints.CheckpointError, match=f"{model}' is missing or does not match"):
        grow.grow(small_grid, paper, jobs=1, root=ROOT, limit=0)


@pytest.mark.slow
def test_a_model_that_another_run_holds_as_the_same_computation_is_reused(small_grid, tmp_path):
    """A sweep whose control ``e1`` draws the very counts of the published run's ``mid``
    (equal rates, drawn first: controls are drawn in name order) takes its models from
    there, byte for byte what training them here gives. ``x`` has ``neg``'s rates but is
    drawn last, so other counts: it is trained. The data decide, not the rates."""
    small_grid["models"]["controls"] = ["mid", "neg"]
    paper = tmp_path / "paper"
    trained = grow.grow(small_grid, paper, jobs=2, root=ROOT)
    sweep = copy.deepcopy(small_grid)
    sweep["results_dir"] = str(tmp_path / "sweep-results")
    controls = sweep["simulation"]["controls"]
    assert sorted(controls) == ["mid", "neg", "pos"]
    controls.update(e1=dict(controls["mid"]), x=dict(controls["neg"]))
    sweep["models"]["controls"] = ["e1", "x"]
    other = copy.deepcopy(sweep)
    other["training"]["patience"] += 1  # another training: nothing is the same computation
    grow.ensure_simulation(other, Path(other["results_dir"]), ROOT)
    assert grow.reuse(other, paper, grow.grid_order(other), ROOT) == []

    manifest = grow.grow(sweep, tmp_path / "sweep", jobs=2, root=ROOT, reuse_from=paper)
    assert manifest["complete"]
    models = [f"valid/arch1-l1_0.0001-seed_{seed}" for seed in (100, 200)]
    assert {k: r["reused_from"] for k, r in manifest["models"].items() if "reused_from" in r} == {
        f"e1/{m}": f"{paper}:mid/{m}" for m in models}
    for m in models:  # where and how long the original trained
        assert manifest["models"][f"e1/{m}"]["train_seconds"] == trained["models"][f"mid/{m}"]["train_seconds"]
    identity = next(i for i in grow.grid_order(sweep) if i["control"] == "e1")
    results = Path(sweep["results_dir"])
    alone = {k: tmp_path / "alone" / Path(v).name for k, v in grow.model_paths(results, identity).items()}
    splits = {s: results / "simulation" / "valid" / f"{s}.npz" for s in ("train", "valid", "test")}
    jobs.train_model(splits, alone, identity, training_job_settings(sweep))
    assert alone["model"].read_bytes() == (tmp_path / "sweep" / "models" / grow.key(identity) / "model.pt").read_bytes()
    assert checkpoints.check_manifest(tmp_path / "sweep", sweep) == []
    imported = {k: tmp_path / "imported" / Path(v).name for k, v in alone.items()}  # the workflow's checkpoint route
    checkpoints.import_models(tmp_path / "sweep", [identity], [imported])
    assert imported["model"].read_bytes() == alone["model"].read_bytes()
    fused = copy.deepcopy(sweep)  # trained otherwise here (one fused job): not the same computation
    fused["training"]["fuse"] = True
    assert grow.reuse(fused, paper, grow.grid_order(fused), ROOT) == []

    (paper / "models" / "mid" / "valid").rename(tmp_path / "moved")  # a file of a model to copy is missing
    with pytest.raises(checkpoints.CheckpointError, match="is missing"):
        grow.reuse(sweep, paper, grow.grid_order(sweep), ROOT)


def test_fused_jobs_take_the_missing_models_of_each_padding_and_architecture(smoke_config):
    config = copy.deepcopy(smoke_config)
    config["models"].update(archs=["arch1", "arch3"], l1=[0.0], seeds=[100, 200], paddings=["valid", "same"])
    order = grow.grid_order(config)
    assert grow.units(order, fused=False) == [[i] for i in order]
    fused = grow.units(order[3:], fused=True)
    assert [(u[0]["padding"], u[0]["arch"]) for u in fused] == [("same", "arch1"), ("valid", "arch3"),
                                                                ("same", "arch3"), ("valid", "arch1")]
    assert sorted(grow.key(i) for u in fused for i in u) == sorted(grow.key(i) for i in order[3:])
    assert all(len({(i["padding"], i["arch"]) for i in u}) == 1 for u in fused)


@pytest.mark.slow
def test_where_training_fuses_each_group_is_one_job_and_published_whole(small_grid, tmp_path):
    small_grid["training"]["fuse"] = True
    manifest = grow.grow(small_grid, tmp_path / "paper", jobs=1, root=ROOT)
    assert manifest["complete"] and {r["fused"] for r in manifest["models"].values()} == {True}
    assert {r["group_size"] for r in manifest["models"].values()} == {4}  # one padding x arch: every model
    assert not (Path(small_grid["results_dir"]) / "snapshots").exists() or not any(
        (Path(small_grid["results_dir"]) / "snapshots").rglob("*.pt"))


def test_the_grow_command_exits_2_naming_the_problem(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text(f"results_dir: {tmp_path / 'results'}\n")
    (tmp_path / "paper").mkdir()
    (tmp_path / "paper" / "manifest.json").write_text("{")
    args = ["grow", "--root", str(ROOT), "--configfile", str(ROOT / "presets" / "smoke.yaml"), str(tmp_path / "c.yaml"),
            "--into", str(tmp_path / "paper"), "--limit", "0"]
    assert cli.main(args) == 2
    assert "manifest.json' is not valid JSON" in capsys.readouterr().err
    assert cli.main([*args[:-2], "--jobs", "0"]) == 2
    (tmp_path / "paper" / "manifest.json").unlink()
    assert cli.main([*args, "--reuse", str(tmp_path / "nowhere")]) == 2
    assert "nowhere/manifest.json' does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_no_model_starts_after_the_deadline_and_none_in_flight_is_lost(small_grid, tmp_path):
    """With one job and a deadline a moment away, the first model (started before it) is
    finished and published; none starts after it."""
    paper = tmp_path / "paper"
    manifest = grow.grow(small_grid, paper, jobs=1, root=ROOT, until=time.time() + 0.5)
    assert manifest["n_models"] == 1 and not manifest["complete"]
    assert grow.grow(small_grid, paper, jobs=1, root=ROOT, until=time.time() - 1)["n_models"] == 1


def test_the_pace_says_how_many_per_hour_and_how_long_the_rest_takes():
    assert grow.pace(3, 5400, 72) == " (2.0 per hour in this call; 72 left, about 36.0 h at that pace)"
    assert grow.pace(3, 5400, 0) == " (2.0 per hour in this call)"
    assert grow.pace(0, 10, 5) == "" and grow.pace(2, 0, 5) == ""


def test_until_is_the_next_such_time_of_day():
    noon = datetime.datetime(2026, 12, 2, 12, 0).timestamp()
    assert cli._next_time_of_day("16:45", now=noon) == datetime.datetime(2026, 12, 2, 16, 45).timestamp()
    assert cli._next_time_of_day("09:30", now=noon) == datetime.datetime(2026, 12, 3, 9, 30).timestamp()
    with pytest.raises(cli.UsageError, match="--until must be a time of day HH:MM"):
        cli._next_time_of_day("4pm")
    assert cli.main(["grow", "--into", "x", "--until", "25:00"]) == 2


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie waiting to be reaped."""
    status = Path(f"/proc/{pid}/status")
    try:
        return "\nState:\tZ" not in status.read_text()
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads process states from /proc")
def test_a_training_worker_ends_when_the_grow_that_started_it_is_killed(tmp_path):
    """A grow killed outright (SIGKILL: no clean-up runs) leaves no worker training on.

    The parent starts a pool as grow does (spawned workers, :func:`grow.exit_with` as
    initializer) and gives its worker a two-minute job; once the worker has started, the
    parent is killed. Without the watch the worker would sleep on for two minutes.
    """
    started = tmp_path / "worker.pid"
    script = tmp_path / "grow_like.py"
    script.write_text(textwrap.dedent(f"""
        import multiprocessing, os, time
        from concurrent.futures import ProcessPoolExecutor
        from lookloss.grow import exit_with

        def job(path):
            open(path + ".tmp", "w").write(str(os.getpid()))
            os.replace(path + ".tmp", path)
            time.sleep(120)

        if __name__ == "__main__":
            pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=exit_with,
                                       initargs=(os.getpid(), 0.1))
            pool.submit(job, {str(started)!r})
            time.sleep(120)
    """))
    parent = subprocess.Popen([sys.executable, str(script)], env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    worker = None
    try:
        for _ in range(1200):  # the worker's start: an interpreter and lookloss.grow's imports
            if started.is_file() or parent.poll() is not None:
                break
            time.sleep(0.1)
        assert started.is_file(), "the worker never started its job"
        worker = int(started.read_text())
        assert _alive(worker)
        parent.kill()
        parent.wait()
        for _ in range(100):
            if not _alive(worker):
                break
            time.sleep(0.1)
        assert not _alive(worker), "the worker trains on after its grow was killed"
    finally:
        parent.kill()
        if worker is not None and _alive(worker):
            os.kill(worker, signal.SIGKILL)
