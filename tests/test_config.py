"""Bad configurations stop with one message naming the key and what was expected."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lookloss import config as cfg

ROOT = Path(__file__).resolve().parents[1]


def test_default_and_presets_are_valid():
    for preset in sorted((ROOT / "presets").glob("*.yaml")):
        base = [ROOT / "presets" / "power.yaml"] if preset.name == "power-checkpoints.yaml" else []
        config = cfg.read_files([ROOT / "config.yaml", *base, preset])
        folder = (config["models"].get("checkpoints") or "")
        if folder and not (ROOT / folder / "manifest.json").is_file():
            # a preset of published models whose folder is not there (yet): said so, by name
            with pytest.raises(cfg.ConfigError, match=f"'models.checkpoints': '.*{folder}/manifest.json' does not exist"):
                cfg.check(config, base_dir=ROOT)
            continue
        manifest = json.loads((ROOT / folder / "manifest.json").read_text()) if folder else {}
        if folder and not manifest["complete"]:
            # a folder that is still growing: said so, with how many of its grid's models it holds
            held = f"it holds {manifest['n_models']} of {manifest['n_grid']} models: `lookloss grow` trains the rest"
            with pytest.raises(cfg.ConfigError, match=held):
                cfg.check(config, base_dir=ROOT)
            continue
        cfg.check(config, base_dir=ROOT)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["simulation"].update(n_train=-5), "'simulation.n_train': got -5, expected >= 2"),
        (lambda c: c["models"].update(paddings=["valid", "full"]),
         "'models.paddings.1': got 'full', expected one of ['valid', 'same']"),
        (lambda c: c["simulation"]["motifs"].update(tal="TAL1_nope"),
         "'simulation.motifs.tal': motif 'TAL1_nope' is not in"),
        (lambda c: c["models"].update(l1=[0.0, -1e-4]), "'models.l1.1': got -0.0001, expected >= 0"),
        (lambda c: c["simulation"]["background"].update(A=0.5), "probabilities sum to 1.23"),
        (lambda c: c["training"].pop("patience"), "'training.patience' is missing"),
        (lambda c: c["training"].update(batchsize=3), "unknown key"),
        (lambda c: c["models"].update(controls=["neg", "mid"]),
         "'models.controls': control 'mid' is not defined under simulation.controls (it defines ['neg', 'pos'])"),
        (lambda c: c["simulation"]["controls"]["pos"].update(exponent=0),
         "'simulation.controls.pos.exponent': got 0, expected > 0"),
        (lambda c: c["simulation"]["controls"].update({"../up": {"scale": 1, "exponent": 1}}),
         "'simulation.controls': got '../up', expected a name of letters, digits"),
        (lambda c: c["models"].update(controls=["neg", "a b"]), "'models.controls.1': got 'a b', expected a name"),
    ],
)
def test_bad_values_name_the_key(change, message):
    config = copy.deepcopy(cfg.read_files([ROOT / "config.yaml"]))
    change(config)
    with pytest.raises(cfg.ConfigError) as error:
        cfg.check(config, base_dir=ROOT)
    assert message in str(error.value)


@pytest.mark.slow
def test_snakemake_stops_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"results_dir: {tmp_path / 'out'}\nsimulation: {{valid_fraction: 1.5}}\n")
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", str(bad)],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert run.returncode != 0
    assert "config key 'simulation.valid_fraction': got 1.5, expected < 1" in run.stdout + run.stderr
    assert not (tmp_path / "out").exists()


def test_absent_keys_take_the_schema_defaults():
    config = cfg.read_files([ROOT / "config.yaml"])
    assert "figures" not in config and "adam_eps" not in config["training"]
    config["training"]["device"] = "cpu"
    checked = cfg.check(config, base_dir=ROOT)
    assert checked is config  # completed in place, as Snakemake's config must be
    schema = cfg.load_schema()
    figures = schema["properties"]["figures"]["properties"]
    assert config["figures"] == {key: spec["default"] for key, spec in figures.items()}
    assert config["training"]["adam_eps"] == schema["properties"]["training"]["properties"]["adam_eps"]["default"]
    assert config["training"]["device"] == "cpu"  # a given value is kept


def test_every_optional_key_has_a_default():
    """Code reads config[key] without a fallback: a key may be absent only if the schema fills it
    (or says what its absence means: the ``genome`` section chooses the workflow)."""

    def walk(node, path):
        for key, spec in node.get("properties", {}).items():
            if key not in node.get("required", []):
                assert "default" in spec or "x-absent" in spec, f"{'.'.join([*path, key])} is optional but has no default"
            walk(spec, [*path, key])

    walk(cfg.load_schema(), [])


def test_the_schema_ships_with_the_package():
    assert cfg.SCHEMA.is_file() and "lookloss" in str(cfg.SCHEMA)
    linked = ROOT / "workflow" / "schemas" / "config.schema.yaml"
    assert linked.read_text() == cfg.SCHEMA.read_text()


def test_the_power_presets_scales_equal_the_additive_controls_mean_rate():
    """presets/power.yaml holds what `lookloss scales` computes (to its printed digits)."""
    from lookloss import simulation

    config = cfg.check(cfg.read_files([ROOT / "config.yaml", ROOT / "presets" / "power.yaml"]), base_dir=ROOT)
    controls = {name: config["simulation"]["controls"][name] for name in config["models"]["controls"]}
    sim = simulation.Simulation.from_config(config["simulation"], base_dir=ROOT)
    scales = simulation.equal_mean_scales(sim, [c["exponent"] for c in controls.values()], 100.0)
    for control in controls.values():
        assert control["scale"] == pytest.approx(scales[control["exponent"]], rel=5e-4)
    assert sorted(c["exponent"] for c in controls.values()) == [1.0, 1.1, 1.2, 1.3, 1.5]
