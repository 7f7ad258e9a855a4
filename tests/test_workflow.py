"""The whole workflow on the smoke preset, end to end, through Snakemake."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lookloss import figures, layout

pytestmark = pytest.mark.slow  # runs Snakemake, subprocesses or real trainings

ROOT = Path(__file__).resolve().parents[1]


def snakemake(*args: str, extra: list[str] = ()) -> subprocess.CompletedProcess:
    """Snakemake on the smoke preset (and the config files in ``extra``, applied after it)."""
    # Targets first: --configfile takes several values and would swallow a target after it.
    return subprocess.run([sys.executable, "-m", "snakemake", *args, "--configfile", "presets/smoke.yaml", *extra],
                          cwd=ROOT, capture_output=True, text=True)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("smoke")
    run = snakemake("--cores", "2", "--config", f"results_dir={out}")
    assert run.returncode == 0, run.stderr[-4000:]
    return out


def plan(results_dir: Path, *args: str) -> dict[str, str]:
    """Jobs per rule that ``snakemake -n`` plans for the default config (no GPU visible)."""
    run = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--quiet", "rules", *args,
                          "--config", f"results_dir={results_dir}"],
                         cwd=ROOT, capture_output=True, text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert run.returncode == 0, run.stderr[-2000:]
    return dict(line.split()[:2] for line in run.stdout.splitlines()
                if line.split() and line.split()[0] in {"train", "train_group", "interactions", "simulate"})


def test_default_config_plans_the_study_grid(tmp_path):
    # one analysis job per control x padding x arch x L1 covers that configuration's 5 seeds
    assert plan(tmp_path) == {"simulate": "2", "train": "180", "interactions": "36"}


def test_a_profile_that_gives_train_group_a_gpu_makes_auto_fuse(tmp_path):
    """profiles/slurm-gpu: the submit node has no GPU, but the training jobs get one."""
    planned = plan(tmp_path, "--set-resources", "train_group:gres=gpu:1")
    assert planned == {"simulate": "2", "train_group": "6", "interactions": "36"}


def test_the_workflow_is_lint_clean():
    run = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0 and "Congratulations" in run.stdout + run.stderr, run.stdout[-3000:] + run.stderr[-2000:]


def test_only_the_training_rule_in_force_is_defined(tmp_path):
    def rules(*config: str) -> set[str]:
        run = subprocess.run([sys.executable, "-m", "snakemake", "--list-rules", *config], cwd=ROOT,
                             capture_output=True, text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
        assert run.returncode == 0, run.stderr[-2000:]
        return {line.strip() for line in run.stdout.splitlines()} & {"train", "train_group", "import_models"}

    assert rules() == {"train"}
    (tmp_path / "fuse.yaml").write_text("training: {fuse: true}\n")
    assert rules("--configfile", str(tmp_path / "fuse.yaml")) == {"train_group"}


def test_a_dry_run_imports_neither_torch_nor_matplotlib(tmp_path):
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "snakemake", "-n", "--quiet", "rules",
                          "--config", f"results_dir={tmp_path}"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")}
    assert "snakemake" in imported and "lookloss.figures" in imported
    assert not {"torch", "matplotlib"} & imported


def test_smoke_preset_produces_every_table(smoke_run):
    models = pd.read_csv(smoke_run / "tables" / "models.tsv", sep="\t")
    assert len(models) == 2 * 1 * 2 * 2 * 3  # archs x l1 x seeds x paddings x controls
    assert models[["p_paired", "p_unpaired", "p_magnitude", "p_randpos"]].notna().all().all()
    summary = pd.read_csv(smoke_run / "tables" / "summary.tsv", sep="\t")
    assert set(zip(summary["control"], summary["padding"])) == {
        (c, p) for c in ("neg", "pos", "mid") for p in ("valid", "same")}
    assert (summary["n_models"] == 4).all()
    consistency = pd.read_csv(smoke_run / "tables" / "consistency.tsv", sep="\t")
    assert set(consistency["call"]) <= {"interaction", "no interaction", "inconsistent"}
    power = pd.read_csv(smoke_run / "tables" / "power.tsv", sep="\t")
    assert len(power) == 3 * 2 * 4  # controls x paddings x tests
    assert ((power["ci_low"] <= power["fraction"]) & (power["fraction"] <= power["ci_high"])).all()
    strength = power.groupby("control")["true_relative_I"].mean()
    assert abs(strength["neg"]) < 1e-9 < strength["mid"] < strength["pos"]  # additive; 1.2 below 1.5
    for model_dir in (smoke_run / "models").glob("*/*/*"):
        history = pd.read_csv(model_dir / "history.tsv", sep="\t")
        assert list(history.columns[:4]) == ["epoch", "train_loss", "val_loss", "seconds"]


def test_with_fusion_a_model_file_trains_its_group_and_the_grid_plans_six_jobs(tmp_path):
    """training.fuse: true: one train_group job per padding x arch; a model's file trains its group."""
    fuse = tmp_path / "fuse.yaml"
    fuse.write_text("training: {fuse: true}\n")
    model = tmp_path / "models" / "pos" / "same" / "arch3-l1_0.0001-seed_200" / "model.pt"
    run = snakemake(str(model), "--cores", "2", "--config", f"results_dir={tmp_path}", extra=[str(fuse)])
    assert run.returncode == 0, run.stderr[-4000:]
    written = sorted(p.parent.relative_to(tmp_path / "models") for p in tmp_path.glob("models/*/*/*/model.pt"))
    assert [str(p) for p in written] == [f"{c}/same/arch3-l1_0.0001-seed_{s}" for c in ("mid", "neg", "pos")
                                         for s in (100, 200)]
    metrics = json.loads((model.parent / "metrics.json").read_text())
    assert metrics["fused"] is True and metrics["group_size"] == 6 and metrics["device"] == "cpu"
    assert (tmp_path / "snapshots").is_dir() and not any((tmp_path / "snapshots").iterdir())  # used, then removed
    plan = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--quiet", "rules", "--configfile",
                           "config.yaml", str(fuse), "--config", f"results_dir={tmp_path / 'study'}"],
                          cwd=ROOT, capture_output=True, text=True)
    assert plan.returncode == 0, plan.stderr[-2000:]
    counts = dict(line.split()[:2] for line in plan.stdout.splitlines() if line.split()[:1] in (["train"], ["train_group"]))
    assert counts == {"train_group": "6"}  # 180 models: one fused job per padding x architecture


def test_a_rerun_has_nothing_to_do(smoke_run):
    run = snakemake("-n", "--cores", "1", "--config", f"results_dir={smoke_run}")
    assert run.returncode == 0
    assert "Nothing to be done" in run.stdout + run.stderr


def digest(root: Path, pattern: str) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.glob(pattern))}


#: What the analysis produces; equal bytes here mean equal science.
COMPARED = ["simulation/*/*", "tables/*.tsv", "interactions/*/*/*/*.parquet"]


def test_a_hard_killed_run_resumes_with_the_same_command_and_the_same_bytes(smoke_run, tmp_path):
    """SIGKILL mid-run, --unlock, the same command again: byte-identical to an unbroken run.

    The run starts from a copy of the unbroken one without one control's models, analyses
    and detectors, and without the tables: a third of the work, to stay quick. The resumed
    run needs no --rerun-incomplete: the workflow's default profile (profiles/default) sets it.
    """
    out = tmp_path / "run"
    shutil.copytree(smoke_run, out)  # keeps the times, so what is left is up to date
    for stage in layout.MODEL_STAGES:
        shutil.rmtree(out / stage / "mid")
    shutil.rmtree(out / "tables")
    # every table: the study's (rule tables) and the detectors' (rule detector_table)
    command = [sys.executable, "-m", "snakemake", "tables", "detector_table", "--cores", "2", "--configfile",
               "presets/smoke.yaml", "--config", f"results_dir={out}"]
    run = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    deadline = time.monotonic() + 600
    while not list(out.glob("models/mid/*/*/model.pt")) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(run.pid, signal.SIGKILL)  # Snakemake and every job it started
    run.wait()
    assert not (out / "tables" / "models.tsv").exists(), "the run finished before it could be killed"
    assert len(list(out.glob("models/mid/*/*/model.pt"))) < len(list(smoke_run.glob("models/mid/*/*/model.pt")))
    unlock = subprocess.run([*command, "--unlock"], cwd=ROOT, capture_output=True, text=True)
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    # without the default profile Snakemake refuses to go on: the kill left jobs incomplete
    refused = subprocess.run([*command, "-n", "--workflow-profile", "none"], cwd=ROOT, capture_output=True, text=True)
    assert refused.returncode != 0 and "IncompleteFilesException" in refused.stdout + refused.stderr
    resumed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    kept = {str(p.relative_to(smoke_run)): p.stat().st_mtime_ns for p in smoke_run.glob("models/[!m]*/*/*/model.pt")}
    assert kept and {name: (out / name).stat().st_mtime_ns for name in kept} == kept, "a kept model was trained again"
    for pattern in COMPARED:
        first, second = digest(smoke_run, pattern), digest(out, pattern)
        assert first and first == second, pattern


@pytest.fixture(scope="module")
def reuse_published(smoke_run, tmp_path_factory) -> Path:
    """A config file that points models.checkpoints at the smoke run, published."""
    folder = tmp_path_factory.mktemp("published")
    (folder / "run.yaml").write_text(f"results_dir: {smoke_run}\n")
    publish = subprocess.run([sys.executable, "-m", "lookloss.cli", "publish", "--configfile", "presets/smoke.yaml",
                              str(folder / "run.yaml"), "--out", str(folder / "published"), "--allow-dirty"], cwd=ROOT,
                             capture_output=True, text=True)
    assert publish.returncode == 0, publish.stderr[-2000:]
    (folder / "reuse.yaml").write_text(f"models: {{checkpoints: {folder / 'published'}}}\n")
    return folder / "reuse.yaml"


def test_models_from_a_published_run_give_the_same_analysis(smoke_run, reuse_published, tmp_path):
    """models.checkpoints: the smoke run published, then re-analysed from its checkpoints."""
    out = tmp_path / "reanalysed"
    run = snakemake("tables", "detector_table", "--cores", "2", "--config", f"results_dir={out}",
                    extra=[str(reuse_published)])
    assert run.returncode == 0, run.stderr[-4000:]
    assert not list(out.glob("logs/train*"))  # nothing was trained
    for pattern in ["models/*/*/*/*", *COMPARED]:
        first, second = digest(smoke_run, pattern), digest(out, pattern)
        assert first and first == second, pattern
    # lookloss reading (no Snakemake, the route of a partial folder) gives the same tables; on
    # one control's models, to stay quick (the one the preset adds): its rows, byte for byte
    from lookloss import config, reading

    settings = config.check(config.read_files([ROOT / "config.yaml", ROOT / "presets" / "smoke.yaml"]), base_dir=ROOT)
    settings["results_dir"], settings["models"]["controls"] = str(tmp_path / "reading"), ["mid"]
    reading.analyse_published(settings, reuse_published.parent / "published", root=ROOT)
    for name in layout.STUDY_TABLES:
        header, *rows = (smoke_run / "tables" / f"{name}.tsv").read_text().splitlines(keepends=True)
        column = header.rstrip("\n").split("\t").index("control")
        expected = header + "".join(row for row in rows if row.split("\t")[column] == "mid")
        assert expected != header and (tmp_path / "reading" / "tables" / f"{name}.tsv").read_text() == expected, name
    # the re-derived run publishes back into (a copy of) the folder it came from: the same models, byte for byte
    copy = tmp_path / "republished"
    shutil.copytree(reuse_published.parent / "published", copy)
    before = json.loads((copy / "manifest.json").read_text())
    (tmp_path / "rederived.yaml").write_text(f"results_dir: {out}\nmodels: {{checkpoints: {copy}}}\n")
    publish = subprocess.run([sys.executable, "-m", "lookloss.cli", "publish", "--configfile", "presets/smoke.yaml",
                              str(tmp_path / "rederived.yaml"), "--out", str(copy), "--allow-dirty"], cwd=ROOT, capture_output=True,
                             text=True)
    assert publish.returncode == 0, publish.stderr[-2000:]
    after = json.loads((copy / "manifest.json").read_text())
    assert after["complete"] and after["models"] == before["models"]
    assert {k: v for k, v in after["files"].items() if k.startswith("models/")} == {
        k: v for k, v in before["files"].items() if k.startswith("models/")}
    assert all(after["files"][f"tables/{name}.tsv"] == before["files"][f"tables/{name}.tsv"]
               for name in layout.STUDY_TABLES)


# Each rule's priority, as the Snakefile sets it for the config files given as arguments.
RULE_PRIORITIES = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings, StorageSettings
with SnakemakeApi(OutputSettings()) as api:
    workflow = api.workflow(resource_settings=ResourceSettings(cores=1), storage_settings=StorageSettings(),
                            config_settings=ConfigSettings(configfiles=[Path(f) for f in sys.argv[1:]]),
                            snakefile=Path("Snakefile"), workdir=Path("."))
    print(json.dumps({rule.name: rule.priority for rule in workflow._workflow.rules}))
"""


def test_when_jobs_compete_imports_come_first_then_the_studys_answer_then_the_detectors(reuse_published):
    run = subprocess.run([sys.executable, "-c", RULE_PRIORITIES, "presets/smoke.yaml", str(reuse_published)],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    priority = json.loads(run.stdout.splitlines()[-1])
    answer = {"interactions", "tables", *figures.FIGURES}
    assert priority["import_models"] > max(priority[rule] for rule in answer)
    assert min(priority[rule] for rule in answer) > max(priority["detect"], priority["detector_table"])


def test_a_pt2_export_of_a_smoke_model_gives_the_workflows_numbers(smoke_run, tmp_path):
    """`lookloss export`, `lookloss fasta` and `lookloss loss-test` on a trained smoke model.

    The loss test's knock-outs are its own random draws, so its per-pair table matches the
    workflow's where knock-outs do not enter (the pairs, f_ab, the target, loss_orig); fed
    the simulation's own knock-out variants, the exported model reproduces every number
    of the workflow's table.
    """
    import numpy as np

    from lookloss import inference, interactions, io

    model_dir = smoke_run / "models" / "neg" / "valid" / "arch1-l1_0.0001-seed_100"
    cli = [sys.executable, "-m", "lookloss.cli"]
    for args in (["export", str(model_dir / "model.pt"), str(tmp_path / "model.pt2")],
                 ["fasta", str(smoke_run / "simulation" / "valid" / "test.npz"), "--control", "neg",
                  "--out", str(tmp_path / "test.fa"), "--targets", str(tmp_path / "targets.tsv")],
                 ["loss-test", "--model", str(tmp_path / "model.pt2"), "--sequences", str(tmp_path / "test.fa"),
                  "--targets", str(tmp_path / "targets.tsv"), "--motifs", "resources/motifs.meme",
                  "--pair", "GATA_disc1", "TAL1_known1", "--out", str(tmp_path / "out")]):
        done = subprocess.run([*cli, *args], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
    workflow = pd.read_parquet(smoke_run / "interactions" / "neg" / "valid" / model_dir.name / "test.parquet")
    mine = pd.read_parquet(tmp_path / "out" / "pairs.parquet")
    mine = mine.assign(pair=mine["name"].str.removeprefix("seq").astype(int)).merge(workflow, on="pair")
    assert len(mine) == len(workflow)  # every analysed pair of the simulation is found ...
    assert (mine["a_start"] == mine["gata_start"]).all() and (mine["b_start"] == mine["tal_start"]).all()  # ... there
    # the workflow's analysis runs in float64 (lookloss.jobs.for_analysis), the user's model as given (float32)
    np.testing.assert_allclose(mine["f_ab"], mine["f_gt"], rtol=1e-5)
    np.testing.assert_allclose(mine["loss_orig_x"], mine["loss_orig_y"], rtol=1e-4, atol=2e-5)
    np.testing.assert_array_equal(mine["target"], mine["y"])
    pairs = io.load_npz(smoke_run / "simulation" / "valid" / "pairs_test.npz")
    exported = inference.load_model(tmp_path / "model.pt2")
    computed = interactions.variant_effects(exported, {v: pairs[f"s_{v}"] for v in ("gt", "g", "t", "0")},
                                            pairs["y_neg"])
    scale = np.abs(workflow["f_gt"].to_numpy()).max()  # float32 rounding: about 1e-7 of the predictions
    for column, values in computed.items():
        atol = LOSS_ROUNDING if "delta" in column or "loss" in column else 1e-5 * scale
        np.testing.assert_allclose(values, workflow[column].to_numpy(), rtol=1e-5, atol=atol, err_msg=column)


#: The last commit before the code was restructured around lookloss.layout (issue 10).
REFERENCE_COMMIT = "82a8ff1"


#: How far float32 rounding of predictions (about 7 in Anscombe space, 1e-7 relative, four per pair)
#: moves a squared-error loss of about 1 and a difference of two: a few 1e-5, bounded generously.
LOSS_ROUNDING = 5e-4
#: How far that moves a rank test's p-value where effects nearly tie; the calls must not move.
P_ROUNDING = 0.01


def same_to_float32(reference: Path, ours: Path) -> None:
    """Two tables (TSV or Parquet) with the same rows, text and calls, and numbers equal to the
    reference's float32 precision: the analysis runs in float64 since issue 38
    (:func:`lookloss.jobs.for_analysis`), the reference commit ran it in float32, so values move by
    float32 rounding (about 1e-6 of the predictions) and p-values by what that does to the ranks."""
    read = (lambda p: pd.read_csv(p, sep="\t")) if reference.suffix == ".tsv" else pd.read_parquet
    old, new = read(reference), read(ours)
    assert list(new.columns[:len(old.columns)]) == list(old.columns) and len(new) == len(old), reference.name
    predictions = max([float(old[c].abs().max()) for c in old.columns if c.startswith("f_")], default=0.0)
    for column in old.columns:
        a, b = old[column].to_numpy(), new[column].to_numpy()
        if a.dtype.kind not in "fiu":
            assert (a == b).all(), (reference.name, column)
            continue
        a, b = a.astype(np.float64), b.astype(np.float64)
        scale = max(float(np.nanmax(np.abs(a))) if np.isfinite(a).any() else 0.0, 1e-12)
        # a loss difference moves with the loss (about 1, Anscombe space), not with its own size; a
        # p-value with the ranks that rounding swaps (near-ties of a smoke model's tiny effects)
        atol = (P_ROUNDING if column.startswith("p_") else LOSS_ROUNDING if "delta" in column or "loss" in column
                else 1e-5 * max(scale, predictions))  # an effect moves with the predictions it is made of
        assert np.allclose(b, a, rtol=2e-3, atol=atol, equal_nan=True), (reference.name, column)
        if column.startswith("p_"):
            assert ((a < 0.05) == (b < 0.05)).all(), (reference.name, column)  # the same calls


def test_outputs_equal_those_of_the_reference_commit(tmp_path):
    """The reference commit's smoke preset (on a quarter of its grid, to stay quick), run by
    that commit's workflow and by this one: every simulation file the reference run writes is
    written byte-identical by this one (which may write more), and every table and interaction
    file with the same rows, text and calls and numbers equal to float32 precision."""
    git = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{REFERENCE_COMMIT}^{{commit}}"],
                         capture_output=True)
    if git.returncode != 0:
        pytest.skip(f"commit {REFERENCE_COMMIT} is not in this clone (shallow?)")
    old = tmp_path / "reference"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), REFERENCE_COMMIT],
                   check=True, capture_output=True)
    smaller = tmp_path / "smaller.yaml"
    smaller.write_text("models: {archs: [arch3], paddings: [same]}\n")
    # Each run's jobs must import its own tree's lookloss, not the installed one: the old
    # tree's scripts need PYTHONPATH for that; this tree's put src/ first themselves, which
    # a decoy package on PYTHONPATH checks.
    decoy = tmp_path / "decoy" / "lookloss"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise ImportError('the decoy lookloss was imported')\n")
    try:
        for tree, out, path in ((old, tmp_path / "old", old / "src"), (ROOT, tmp_path / "new", decoy.parent)):
            run = subprocess.run([sys.executable, "-m", "snakemake", "tables", "--cores", "2", "--configfile",
                                  str(old / "presets" / "smoke.yaml"), str(smaller), "--config", f"results_dir={out}"],
                                 cwd=tree, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(path)})
            assert run.returncode == 0, run.stderr[-4000:]
        reference, ours = digest(tmp_path / "old", COMPARED[0]), digest(tmp_path / "new", COMPARED[0])
        assert reference and {name: ours.get(name) for name in reference} == reference  # the simulation: bytes
        for pattern in COMPARED[1:]:  # the analysis: float64 since issue 38, the reference's float32 values
            names = sorted(digest(tmp_path / "old", pattern))
            assert names and set(names) <= set(digest(tmp_path / "new", pattern)), pattern
            for name in names:
                same_to_float32(tmp_path / "old" / name, tmp_path / "new" / name)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], capture_output=True)


def test_every_figure_is_built_and_the_report_renders(smoke_run):
    for name in figures.FIGURES:
        assert (smoke_run / "figures" / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
        assert (smoke_run / "figures" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = smoke_run / "report.html"
    run = snakemake("--cores", "1", "--config", f"results_dir={smoke_run}", "--report", str(report))
    assert run.returncode == 0, run.stderr[-4000:]
    html = report.read_text(errors="replace")
    assert "fig4" in html and "summary.tsv" in html
