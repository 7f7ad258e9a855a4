"""Published runs (lookloss.checkpoints): the manifest, and models taken from it only when intact."""

from __future__ import annotations

import copy
import json
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from lookloss import checkpoints, cli, io, layout, models, provenance, training
from lookloss import config as cfg

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def run(tmp_path, smoke_config):
    """A finished (fake) run of a 4-model grid: models, a table and a figure."""
    config = copy.deepcopy(smoke_config)
    config["results_dir"] = str(tmp_path / "results")
    config["models"].update(archs=["arch1"], seeds=[100], paddings=["valid", "same"], controls=["neg", "pos"])
    results = Path(config["results_dir"])
    for control, padding, name in checkpoints.grid_models(config):
        identity = {"control": control, "padding": padding, "arch": "arch1", "l1": 1e-4, "seed": 100}
        folder = results / layout.model_dir("models", control, padding, name)
        model = models.build("arch1", padding, config["simulation"]["seq_len"], generator=training.init_generator(100))
        models.save(folder / "model.pt", model, {"identity": identity})
        (folder / "history.tsv").write_text(f"epoch\ttrain_loss\n1\t{len(control + padding)}\n")
        io.write_json(folder / "metrics.json", {"device": "cpu", "test_mse": 1.5})
    for name in checkpoints.simulation_files(config):  # stand-ins: the manifest records their digest
        (results / name).parent.mkdir(parents=True, exist_ok=True)
        (results / name).write_text(name)
    (results / "tables").mkdir()
    (results / "tables" / "models.tsv").write_text("model\nx\n")
    (results / "figures").mkdir()
    (results / "figures" / "fig3.png").write_bytes(b"\x89PNG fake")
    return config


def identities_and_outs(config, target: Path):
    identities, outs = [], []
    for control, padding, name in checkpoints.grid_models(config):
        identities.append({"control": control, "padding": padding, "arch": "arch1", "l1": 1e-4, "seed": 100})
        folder = target / layout.model_dir("models", control, padding, name)
        outs.append({"model": folder / "model.pt", "history": folder / "history.tsv", "metrics": folder / "metrics.json"})
    return identities, outs


def test_publish_writes_every_file_and_its_sha256(run, tmp_path):
    manifest = checkpoints.publish(run, tmp_path / "published", root=ROOT)
    assert manifest == json.loads((tmp_path / "published" / "manifest.json").read_text())
    assert len(manifest["files"]) == 4 * 3 + 2 and "figures/fig3.png" in manifest["files"]
    for name, digest in manifest["files"].items():
        assert checkpoints.sha256(tmp_path / "published" / name) == digest
    assert manifest["devices"] == ["cpu"] and manifest["versions"]["torch"]
    assert manifest["config"]["models"]["archs"] == ["arch1"] and len(manifest["commit"]) == 40
    assert checkpoints.check_manifest(tmp_path / "published", run) == []


def test_a_gpu_name_is_recorded_only_where_the_model_has_one(run, tmp_path):
    results = Path(run["results_dir"])
    gpu_model = next((results / "models").glob("*/*/*/metrics.json"))
    io.write_json(gpu_model, {"device": "cuda", "fused": True, "group_size": 2, "gpu": "NVIDIA H200"})
    records = checkpoints.publish(run, tmp_path / "published", root=ROOT)["models"]
    named = {key: record["gpu"] for key, record in records.items() if "gpu" in record}
    assert named == {"/".join(gpu_model.parent.parts[-3:]): "NVIDIA H200"}
    assert all("reused_from" not in record for record in records.values())


def test_a_copy_without_git_takes_its_commit_from_the_environment(run, tmp_path, monkeypatch):
    copy_root = tmp_path / "copy"  # no .git: e.g. a tarball of the repository on an offline node
    copy_root.mkdir()
    monkeypatch.setenv("LOOKLOSS_COMMIT", "0123456789abcdef0123456789abcdef01234567")
    manifest = checkpoints.publish(run, tmp_path / "published", root=copy_root)
    assert manifest["commit"] == "0123456789abcdef0123456789abcdef01234567"
    assert manifest["uncommitted_changes"] is None  # unknown without git
    monkeypatch.delenv("LOOKLOSS_COMMIT")
    assert checkpoints.publish(run, tmp_path / "published", root=copy_root)["commit"] == ""


def code_repository(tmp_path: Path) -> tuple[Path, Callable[..., None]]:
    """A folder with one code file, ``src/code.py``, and a function that runs git in it."""
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "code.py").write_text("x = 1\n")

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True,
                       capture_output=True)

    return repo, git


def test_a_manifest_counts_changed_code_but_not_the_published_folder_it_lives_in(run, tmp_path):
    """A checkout with its own published folder (paper/): growing that folder is no code change."""
    repo, git = code_repository(tmp_path)
    git("init", "-q")
    checkpoints.publish(run, repo / "paper", root=repo)
    (repo / "paper" / "notes.txt").write_text("first\n")
    git("add", "-A")
    git("commit", "-qm", "code and a published folder")
    (repo / "paper" / "notes.txt").write_text("the folder grew\n")  # a change of results only
    assert checkpoints.publish(run, repo / "paper", root=repo)["uncommitted_changes"] is False
    assert provenance.commit(repo)["uncommitted_changes"] is True  # the same change, the folder not named
    (repo / "src" / "code.py").write_text("x = 2\n")  # a change of code: recorded, from any root
    assert checkpoints.publish(run, repo / "paper", root=repo / "src")["uncommitted_changes"] is True
    git("checkout", "src/code.py")
    assert checkpoints.publish(run, repo / "paper", root=repo / "src")["uncommitted_changes"] is False


def test_models_are_copied_only_when_every_file_matches(run, tmp_path):
    published = tmp_path / "published"
    checkpoints.publish(run, published, root=ROOT)
    identities, outs = identities_and_outs(run, tmp_path / "copy")
    checkpoints.import_models(published, identities, outs)
    for out in outs:
        for key, path in out.items():
            source = published / Path(path).relative_to(tmp_path / "copy")
            assert Path(path).read_bytes() == source.read_bytes(), key

    corrupt = Path(outs[2]["model"]).relative_to(tmp_path / "copy")
    with open(published / corrupt, "ab") as handle:
        handle.write(b"\0")
    _, fresh = identities_and_outs(run, tmp_path / "second")
    with pytest.raises(checkpoints.CheckpointError, match=f"{corrupt}' does not match its sha256"):
        checkpoints.import_models(published, identities, fresh)
    assert not (tmp_path / "second").exists()  # nothing written, not even the intact models

    (published / corrupt).unlink()
    with pytest.raises(checkpoints.CheckpointError, match=f"{corrupt}' is missing"):
        checkpoints.import_models(published, identities, fresh)


def test_a_checkpoint_of_another_model_is_refused(run, tmp_path):
    published = tmp_path / "published"
    manifest = checkpoints.publish(run, published, root=ROOT)
    a, b = (f"models/{c}/valid/arch1-l1_0.0001-seed_100/model.pt" for c in ("neg", "pos"))
    (published / a).write_bytes((published / b).read_bytes())  # the pos model filed as the neg one
    manifest["files"][a] = checkpoints.sha256(published / a)
    io.write_json(published / "manifest.json", manifest)
    identities, outs = identities_and_outs(run, tmp_path / "copy")
    with pytest.raises(checkpoints.CheckpointError, match="records the model .*'pos'.* expected .*'neg'"):
        checkpoints.import_models(published, identities, outs)


def test_the_configuration_check_names_what_does_not_fit(run, tmp_path):
    published = tmp_path / "published"
    checkpoints.publish(run, published, root=ROOT)
    other = copy.deepcopy(run)
    other["simulation"]["seed"] += 1
    other["models"]["seeds"] = [100, 200]
    other["models"]["checkpoints"] = str(published)
    with pytest.raises(cfg.ConfigError) as error:
        cfg.check(other, base_dir=ROOT)
    message = str(error.value)
    assert "'models.checkpoints'" in message and "simulation keys ['seed'] differ" in message
    assert "12 file(s) of the grid are not in the manifest" in message and "seed_200" in message
    other["models"]["checkpoints"] = str(tmp_path / "nowhere")
    with pytest.raises(cfg.ConfigError, match="nowhere/manifest.json' does not exist"):
        cfg.check(other, base_dir=ROOT)


def test_the_publish_command_reports_an_unfinished_run(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text(f"results_dir: {tmp_path / 'empty'}\n")
    status = cli.main(["publish", "--root", str(ROOT), "--configfile", str(ROOT / "presets" / "smoke.yaml"),
                       str(tmp_path / "c.yaml"), "--out", str(tmp_path / "out"), "--allow-dirty"])
    assert status == 2 and "finish the run first" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_two_publishers_take_turns_on_a_folder(small_grid, tmp_path):
    """add_files waits while another publisher holds the folder, then keeps both's files."""
    results = tmp_path / "r"
    for name in ("tables/a.tsv", "tables/b.tsv"):
        (results / name).parent.mkdir(parents=True, exist_ok=True)
        (results / name).write_text(f"{name}\n")
    folder, digest, done = tmp_path / "published", {"valid/x.npz": "0" * 64}, []
    checkpoints.add_files(folder, results, ["tables/a.tsv"], small_grid, digest, ROOT)

    def publish() -> None:
        done.append(checkpoints.add_files(folder, results, ["tables/b.tsv"], small_grid, digest, ROOT))

    with checkpoints.locked(folder):
        other = threading.Thread(target=publish)
        other.start()
        other.join(1.0)
        assert other.is_alive() and not done  # waiting for the folder
    other.join(30)
    assert done and set(done[0]["files"]) == {"tables/a.tsv", "tables/b.tsv"}
    assert json.loads((folder / "manifest.json").read_text())["files"] == done[0]["files"]


def test_publishing_from_a_checkout_with_uncommitted_code_is_refused_unless_allowed(tmp_path):
    """lookloss publish and reading --write-tables: a manifest must name the commit of the code."""
    repo, git = code_repository(tmp_path)
    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "code")
    cli._clean_checkout(repo, repo / "paper", False)  # clean: no error
    (repo / "paper").mkdir()
    (repo / "paper" / "manifest.json").write_text("{}\n")
    git("add", "-A")
    git("commit", "-qm", "published")
    (repo / "paper" / "manifest.json").write_text("{\"grew\": 1}\n")  # results changing: still clean
    cli._clean_checkout(repo, repo / "paper", False)
    (repo / "src" / "code.py").write_text("x = 2\n")
    with pytest.raises(cli.UsageError, match="--write-tables: the checkout .* has uncommitted changes .* "
                                             "commit first, or pass --allow-dirty"):
        cli._clean_checkout(repo, repo / "paper", False, "--write-tables")
    cli._clean_checkout(repo, repo / "paper", True)  # allowed: the manifest says so
