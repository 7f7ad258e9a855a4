"""A published folder analysed as it grows (lookloss.reading, ``lookloss reading``), and the pages it writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from lookloss import checkpoints, cli, grow, reading, report

ROOT = Path(__file__).resolve().parents[1]


def test_a_partial_folder_is_analysed_once_per_model(small_grid, tmp_path):
    paper = tmp_path / "paper"
    grow.grow(small_grid, paper, jobs=2, root=ROOT, limit=3)
    reading_config = {**small_grid, "results_dir": str(tmp_path / "reading")}
    models = reading.analyse_published(reading_config, paper, root=ROOT)
    assert len(models) == 3 and set(models["control"]) == {"neg", "pos"}
    assert (tmp_path / "reading" / "tables" / "summary.tsv").is_file()
    stats = sorted((tmp_path / "reading").rglob("stats.json"))
    stamps = [p.stat().st_mtime_ns for p in stats]
    again = reading.analyse_published(reading_config, paper, root=ROOT)
    assert [p.stat().st_mtime_ns for p in stats] == stamps  # nothing analysed twice
    pd.testing.assert_frame_equal(models, again)
    found = sorted((tmp_path / "reading" / "detectors").rglob("stats.json"))
    assert len(found) == 3 and set(found) <= set(stats)
    other = {**reading_config, "detectors": {**reading_config["detectors"], "dfim_pairs": 7}}
    reading.analyse_published(other, paper, root=ROOT)  # other detector settings: the detectors again
    redone = [p.stat().st_mtime_ns != stamp for p, stamp in zip(stats, stamps, strict=True)]
    assert sum(redone) == 3 and all(redone[stats.index(p)] for p in found)
    assert {json.loads(p.read_text())["n_dfim_pairs"] for p in found} == {7}
    with open(next(paper.rglob("model.pt")), "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(checkpoints.CheckpointError, match="does not match its sha256"):
        reading.analyse_published({**small_grid, "results_dir": str(tmp_path / "fresh")}, paper, root=ROOT)


def test_a_reading_counts_only_the_models_it_analysed_while_the_folder_grows(capsys):
    record = {"device": "cpu", "cpu": "X", "threads": 1, "train_seconds": 60.0, "cpu_seconds": 60.0}
    keys = ["neg/valid/m1", "pos/valid/m1", "pos/valid/m2"]
    manifest = {"n_grid": 3, "n_models": 3, "complete": True, "models": dict.fromkeys(keys, record)}
    models = pd.DataFrame({"control": ["neg", "pos"], "padding": ["valid", "valid"], "model": ["m1", "m1"]})
    read = reading.as_read(manifest, models, "paper/x")  # m2 was published after the reading listed the folder
    assert (read["n_models"], read["complete"], sorted(read["models"])) == (2, False, keys[:2])
    assert "paper/x gained 1 model(s) while this ran" in capsys.readouterr().err
    assert ": 2 models, " in report.training_cost(read)
    whole = reading.as_read(manifest, pd.concat([models, models.iloc[[1]].assign(model="m2")]), "paper/x")
    assert whole == manifest and capsys.readouterr().err == ""


@pytest.mark.slow
def test_the_reading_command_prints_the_table_and_can_publish_it(small_grid, tmp_path, capsys):
    paper = tmp_path / "paper"
    grow.grow(small_grid, paper, jobs=2, root=ROOT, limit=2)
    (tmp_path / "c.yaml").write_text(
        "models: {archs: [arch1], l1: [0.0001], seeds: [100, 200], paddings: [valid], controls: [neg, pos]}\n"
        "training: {max_epochs: 2}\n")
    args = ["reading", "--root", str(ROOT), "--configfile", str(ROOT / "presets" / "smoke.yaml"), str(tmp_path / "c.yaml"),
            "--published", str(paper), "--results", str(tmp_path / "reading"), "--write-tables", "--allow-dirty"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("2 of 4 models, partial") and "| neg | valid | 1 |" in out
    assert "| detector | neg valid | pos valid |" in out and "| dfim | " in out
    manifest = json.loads((paper / "manifest.json").read_text())
    assert "tables/models.tsv" in manifest["files"] and manifest["n_models"] == 2
    assert {"tables/detectors.tsv", "tables/detector_models.tsv"} <= set(manifest["files"])
    assert len(pd.read_csv(paper / "tables" / "models.tsv", sep="\t")) == 2
    assert "- cpu (" in out and ", 1 thread per model): 2 models, " in out
    front = tmp_path / "FRONT.md"
    front.write_text("# x\n<!-- answer:start -->\nold\n<!-- answer:end -->\nend\n")
    assert cli.main([*args, "--front", str(front)]) == 0
    assert "| detector | neg valid | pos valid |" in front.read_text() and "old" not in front.read_text()
    capsys.readouterr()
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- power:start -->\nnot yet run\n<!-- power:end -->\nend\n")
    assert cli.main([*args, "--power", "--readme", str(readme)]) == 0  # neg: exponent 1, pos: 1.5
    out = capsys.readouterr().out
    assert "| test | padding | fpr | power 1.5 | crossing |" in out and "| paired | valid | " in out
    assert out in readme.read_text() and readme.read_text().endswith("<!-- power:end -->\nend\n")
    assert "| padding | exponent 1 | exponent 1.5 |" in out  # each control's strength
    assert cli.main([*args[:-6], "--published", str(tmp_path / "nowhere"), "--results", str(tmp_path / "r")]) == 2
    assert "nowhere/manifest.json' does not exist" in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_the_paper_page_shows_the_table_of_the_published_tables():
    """paper/README.md = lookloss.reading of paper/tables/models.tsv."""
    models_tsv = ROOT / "paper" / "tables" / "models.tsv"
    if not models_tsv.is_file():
        pytest.skip("no paper-scale tables published yet")
    manifest = json.loads((ROOT / "paper" / "manifest.json").read_text())
    models = pd.read_csv(models_tsv, sep="\t")
    grid = manifest["config"]["models"]
    groups = [(c, p) for c in grid["controls"] for p in grid["paddings"]]
    summary = pd.read_csv(ROOT / "paper" / "tables" / "summary.tsv", sep="\t")
    table = report.reading_table(models, manifest["config"]["analysis"]["alpha"], 45, groups, summary)
    expected = report.markdown(table)
    readme = (ROOT / "paper" / "README.md").read_text()
    block = re.search(r"<!-- reading:start -->\n(.*?)<!-- reading:end -->", readme, re.S)
    assert block, "paper/README.md lacks the <!-- reading:start --> ... <!-- reading:end --> block"
    assert expected in block.group(1)
    assert report.markdown(report.paper_differences(table, summary=summary)) in block.group(1)
    n, grid = len(models), manifest["n_grid"]
    state = "complete" if n == grid else "partial"
    assert f"{n} of {grid} models, {state}" in block.group(1)
    found = ROOT / "paper" / "tables" / "detectors.tsv"
    if found.is_file():
        table = report.detector_reading(pd.read_csv(found, sep="\t"), groups)
        assert report.markdown(table) in block.group(1)
    assert report.figure_gallery(ROOT / "paper", manifest, ROOT / "paper", ROOT) in block.group(1)


def test_the_front_page_shows_what_each_detector_flags_in_the_published_tables():
    """README.md's answer = the detector table of paper/tables/detectors.tsv, its numbers in the prose too."""
    manifest = json.loads((ROOT / "paper" / "manifest.json").read_text())
    grid = manifest["config"]["models"]
    groups = [(c, p) for c in grid["controls"] for p in grid["paddings"]]
    table = report.detector_reading(pd.read_csv(ROOT / "paper" / "tables" / "detectors.tsv", sep="\t"), groups)
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- answer:start -->\n(.*?)<!-- answer:end -->", readme, re.S)
    assert block and block.group(1) == report.markdown(table)
    loss = table.set_index("detector").loc["paired"]
    assert f"fooled by {int(loss['neg same'].split('/')[0])} of 45" in readme
    assert len(readme.splitlines()) <= 120 and readme.index("<!-- answer:start -->") < 1200  # on the first screen


def test_the_power_page_shows_the_power_reading_of_the_published_power_table():
    """paper/power/README.md = lookloss reading --power of paper/power."""
    power_tsv = ROOT / "paper" / "power" / "tables" / "power.tsv"
    readme = (ROOT / "paper" / "power" / "README.md").read_text()
    block = re.search(r"<!-- power:start -->\n(.*?)<!-- power:end -->", readme, re.S)
    assert block, "paper/power/README.md lacks the <!-- power:start --> ... <!-- power:end --> block"
    if not power_tsv.is_file():
        assert block.group(1) == "Not yet run.\n"
        return
    power = pd.read_csv(power_tsv, sep="\t")
    manifest = json.loads((ROOT / "paper" / "power" / "manifest.json").read_text())
    n = int(power.loc[power["detector"] == power["detector"].iloc[0], "n_models"].sum())  # the models the table read
    assert f"{n} of {manifest['n_grid']} models, {'complete' if n == manifest['n_grid'] else 'partial'}" in block.group(1)
    assert report.markdown(report.power_reading(power)) in block.group(1)
    assert report.markdown(report.strengths(power)) in block.group(1)
    assert report.figure_gallery(ROOT / "paper" / "power", manifest, ROOT / "paper" / "power", ROOT,
                                  ("power",)) in block.group(1)


def test_the_genome_pages_show_the_published_genome_tables():
    """README.md's and paper/genome/README.md's genome blocks = lookloss reading of paper/genome/tables."""
    from lookloss import genometables

    flagged_tsv = ROOT / "paper" / "genome" / "tables" / "flagged.tsv"
    blocks = [re.search(r"<!-- genome:start -->\n(.*?)<!-- genome:end -->", (ROOT / page).read_text(), re.S)
              for page in ("README.md", "paper/genome/README.md")]
    assert all(blocks), "a genome page lacks its <!-- genome:start --> ... <!-- genome:end --> block"
    if not flagged_tsv.is_file():
        pytest.skip("no genome-scale tables published yet")
    flagged = pd.read_csv(flagged_tsv, sep="\t")
    assert genometables.flagged_markdown(flagged, every_arch=False) in blocks[0].group(1)
    assert genometables.flagged_markdown(flagged) in blocks[1].group(1)
    fit = pd.read_csv(ROOT / "paper" / "genome" / "tables" / "fit.tsv", sep="\t")
    manifest = json.loads((ROOT / "paper" / "genome" / "manifest.json").read_text())
    assert f"{len(fit)} of {manifest['n_grid']} models" in blocks[0].group(1)
