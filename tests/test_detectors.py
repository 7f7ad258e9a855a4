"""GIA and DFIM (lookloss.detectors, docs/study.md section 8) on models with known answers."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lookloss import config as cfg
import inspect

from lookloss import detectors, models, motifs, simulation, tables
from lookloss.detectors import dfim, explain, gia
from lookloss.transforms import inverse_anscombe

from oracles import Oracle  # tests/oracles.py

ROOT = Path(__file__).resolve().parents[1]

#: Small but real settings: the study's defaults are 1000, 20, 200 and 20 (docs/study.md section 8).
SETTINGS = {"gia_backgrounds": 200, "gia_positions": 10, "dfim_pairs": 40, "dfim_references": 5}
ALPHA = 0.05


class LinkedOracle(torch.nn.Module):
    """:class:`oracles.Oracle` with its Anscombe link as a module, the form DeepLIFT needs.

    The oracle computes its rate with functions (DeepLIFT takes their gradients); its
    last step, the Anscombe transform, is a module here, so that DeepLIFT's rescale rule
    cancels it against the mapping back to counts (``explain.CountsOutput``) as the
    prediction does. It predicts exactly what the oracle predicts.
    """

    def __init__(self, oracle: Oracle, float32_output: bool = False):
        super().__init__()
        self.oracle, self.link, self.float32_output = oracle, explain.AnscombeOutput(), float32_output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.link((self.oracle(x) / 2) ** 2 - 3 / 8)
        return y.float().double() if self.float32_output else y  # a float32 network's rounding


@pytest.fixture(scope="module")
def pairs(simulated):
    return simulated["valid"]["pairs_test"], simulated["valid"]["pairs_shuffled"]


@pytest.fixture(scope="module")
def inputs(sim, pairs):
    return prepare(sim, pairs)


def prepare(sim, pairs):
    """Each model detector's inputs, by name, as the workflow's jobs prepare them."""
    return {d.name: d.load().prepare(sim, *pairs, SETTINGS) for d in detectors.MODEL_DETECTORS}


def run(model, inputs):
    """Every model detector on ``model`` (wrapped to predict counts), their statistics together."""
    found = {}
    with warnings.catch_warnings():  # the oracle's functional sigmoids: DeepLIFT warns of its gradients
        warnings.simplefilter("ignore", RuntimeWarning)
        for d in detectors.MODEL_DETECTORS:
            found.update(d.load().run(explain.explainable(model), inputs[d.name]))
    return found


@pytest.mark.parametrize(("control", "product"), [("pos", 0.0), ("neg", 50.0)])
def test_a_true_product_term_is_found_by_both(sim, inputs, control, product):
    """Super-additive truth (60 q^1.5), and an additive truth plus a product of occupancies."""
    found = run(LinkedOracle(Oracle(sim, control, product)), inputs)
    assert found["p_gia"] < 1e-3 and found["p_dfim"] < 1e-3
    assert found["mean_I_gia"] > 0 and found["mean_abs_I_gia"] > 100 * found["mean_abs_I_gia_null"]
    assert found["n_gia_positions"] == 10 and found["n_dfim_pairs"] == 40


def test_an_additive_oracle_is_found_to_have_no_interaction(sim, inputs):
    """The negative control's own rate: every interaction is exactly 0, nothing is flagged."""
    for float32_output in (False, True):
        found = run(LinkedOracle(Oracle(sim, "neg"), float32_output), inputs)
        assert found["mean_abs_I_gia"] == found["mean_abs_I_gia_null"] == 0.0
        assert found["mean_fis"] == found["mean_fis_null"] == 0.0
        assert found["p_gia"] == found["p_dfim"] == 1.0


def test_gia_is_the_oracles_own_interaction(sim, inputs):
    """On the product oracle, GIA's I_c is 50 E[ΔoccG ΔoccT] over the backgrounds, from the
    simulation's own occupancy functions (the additive part cancels exactly)."""
    net = explain.explainable(Oracle(sim, "neg", product=50.0))
    g = inputs["gia"]
    found = gia.interaction(net, g.backgrounds, g.patterns, g.positions[:3])
    codes = motifs.to_codes(g.backgrounds.numpy())
    cons = [motifs.to_codes(p[:1].numpy())[0] for p in g.patterns]

    def occ(seqs, motif):
        return motifs.occupancy(motifs.window_ddg(seqs, motif.ddg, "valid"), sim.mu).sum(axis=1)

    for c, (a, b) in enumerate(g.positions[:3]):
        n = len(codes)
        with_a = simulation.embed(codes, np.full(n, a), np.tile(cons[0], (n, 1)))
        with_b = simulation.embed(codes, np.full(n, b), np.tile(cons[1], (n, 1)))
        both = simulation.embed(with_a, np.full(n, b), np.tile(cons[1], (n, 1)))
        product = [occ(s, sim.gata) * occ(s, sim.tal) for s in (both, with_a, with_b, codes)]
        expected = 50 * np.mean(product[0] - product[1] - product[2] + product[3])
        assert found[c, 0] == pytest.approx(expected, rel=1e-9)
        assert expected > 1  # the consensus motifs occupy their sites


def test_the_study_networks_run_as_modules_and_deeplift_adds_up(inputs):
    """The DeepLIFT twin of a network predicts its counts, and its attributions sum to the
    prediction minus the mean prediction of the references (DeepLIFT's summation property),
    which needs every ReLU and the counts mapping handled by the rescale rule."""
    torch.manual_seed(0)
    model = models.build("arch2", "same", 100, generator=torch.Generator().manual_seed(3))
    net = explain.explainable(model)
    x = inputs["dfim"].pairs["X"][:6].float()
    with torch.no_grad():
        np.testing.assert_allclose(net(x)[:, 0].numpy(), inverse_anscombe(model(x).numpy()), rtol=1e-5)
        refs = inputs["dfim"].pairs["references"][:6].float()
        baseline = net(refs.reshape(-1, 4, 100))[:, 0].reshape(6, -1).mean(dim=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no convergence warning: every op has its rule
        attributions = dfim.deep_lift_shap(net, x, references=refs, additional_nonlinear_ops=explain.NONLINEAR,
                                                device="cpu")
    np.testing.assert_allclose(attributions.sum(dim=(1, 2)).numpy(), (net(x)[:, 0] - baseline).detach().numpy(),
                               rtol=1e-3, atol=1e-4)


def test_dfim_scores_the_largest_change_of_the_targets_attributions(inputs):
    """DFIM's feature interaction score, as its code computes it: per target position the
    attributions summed over the bases, and the largest absolute change over the target's
    positions when the source is knocked out."""
    model = models.build("arch1", "valid", 100, generator=torch.Generator().manual_seed(5))
    net, p, n, widths = explain.explainable(model), inputs["dfim"].pairs, 4, inputs["dfim"].widths
    got = dfim.scores(net, p["X"][:n], [k[:n] for k in p["knocked_out"]], p["starts"][:n], widths,
                      p["references"][:n])

    def windows(seqs, k):
        attributions = dfim.deep_lift_shap(net, seqs.float(), references=p["references"][:n].float(),
                                                additional_nonlinear_ops=explain.NONLINEAR, device="cpu")
        return [attributions[i, :, s:s + widths[k]].sum(dim=0).double().numpy()
                for i, s in enumerate(p["starts"][:n, k])]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        tal_with, tal_without = windows(p["X"][:n], 1), windows(p["knocked_out"][0][:n], 1)  # GATA1 out
        gata_with, gata_without = windows(p["X"][:n], 0), windows(p["knocked_out"][1][:n], 0)  # TAL1 out
    for i in range(n):
        assert got[i, 0] == pytest.approx(np.abs(tal_with[i] - tal_without[i]).max(), rel=1e-6, abs=1e-9)
        assert got[i, 1] == pytest.approx(np.abs(gata_with[i] - gata_without[i]).max(), rel=1e-6, abs=1e-9)
    assert np.all(got[:, :2] > 0) and np.all(got[:, 2] > 0)  # an untrained network is not additive


def test_the_subsamples_and_draws_are_fixed_by_the_seed(sim, pairs, inputs):
    again, g = prepare(sim, pairs), inputs["gia"]
    np.testing.assert_array_equal(again["gia"].positions, g.positions)
    assert torch.equal(again["gia"].backgrounds, g.backgrounds) and torch.equal(again["gia"].kmers[1], g.kmers[1])
    assert torch.equal(again["dfim"].pairs["references"], inputs["dfim"].pairs["references"])
    other = prepare(dataclasses.replace(sim, seed=sim.seed + 1), pairs)
    assert not torch.equal(other["gia"].backgrounds, g.backgrounds)
    # the backgrounds follow the simulation's composition; the patterns are the consensus
    shares = g.backgrounds.float().mean(dim=(0, 2)).numpy()
    np.testing.assert_allclose(shares, sim.background, atol=0.01)
    assert motifs.instance_ddg(motifs.to_codes(g.patterns[0][:1].numpy()), np.zeros(1, np.int64),
                               sim.gata.ddg)[0] == pytest.approx(sim.gata.ddg.min(axis=0).sum())


@pytest.mark.slow
def test_the_nulls_are_calibrated_over_seeds(sim, pairs):
    """Over 20 seeds of the detectors' draws: on the additive oracle (float32 rounding
    included) nothing is flagged; where the null holds with statistics that are not 0 (an
    untrained network, the 'motifs' replaced by random k-mers drawn as the null's, and the
    shuffled null against itself), the fraction flagged stays near α."""
    flagged = {"additive": 0, "gia": 0, "dfim": 0}
    seeds = range(20)
    additive = LinkedOracle(Oracle(sim, "neg"), float32_output=True)
    for seed in seeds:
        inputs = prepare(dataclasses.replace(sim, seed=seed), pairs)
        found = run(additive, inputs)
        g, d = inputs["gia"], inputs["dfim"]
        flagged["additive"] += (found["p_gia"] < ALPHA) + (found["p_dfim"] < ALPHA)
        net = explain.explainable(models.build("arch1", "valid", 100, generator=torch.Generator().manual_seed(seed)))
        rng = simulation.stream(seed, 99)
        kmers = tuple(torch.from_numpy(motifs.to_onehot(simulation.random_bases(rng, len(g.positions), w)))
                      for w in d.widths)
        real = gia.interaction(net, g.backgrounds, kmers, g.positions)[:, 0]
        null = gia.interaction(net, g.backgrounds, g.kmers, g.positions)[:, 0]
        flagged["gia"] += explain.greater(np.abs(real), np.abs(null)) < ALPHA
        p = d.null
        scores = dfim.interaction_scores(dfim.scores(net, p["X"], p["knocked_out"], p["starts"], d.widths,
                                                     p["references"]))
        half = rng.permutation(len(scores))
        flagged["dfim"] += explain.greater(scores[half[::2]], scores[half[1::2]]) < ALPHA
    assert flagged["additive"] == 0
    # Binomial(20, 0.05): P(more than 4) < 0.003
    assert flagged["gia"] <= 4 and flagged["dfim"] <= 4, flagged


def test_the_table_counts_flagged_models_with_wilson_intervals():
    keys = {"padding": "valid", "arch": "arch1", "l1": 0.0}
    models_tsv = pd.DataFrame([{"control": c, **keys, "seed": s, "p_magnitude": 0.001, "p_paired": p}
                               for c, p in (("neg", 0.5), ("pos", 0.01)) for s in range(4)])
    found = models_tsv[["control", "padding", "arch", "l1", "seed"]].assign(
        p_gia=[0.01, 0.2, 0.2, 0.2, 0.01, 0.01, 0.01, 0.3], p_dfim=1.0)
    models_tsv = models_tsv.assign(p_unpaired=0.9, p_randpos=np.nan)  # a test that did not run: no model counted
    table = tables.detector_table(models_tsv, found, ALPHA, {"neg": {"exponent": 1.0}, "pos": {"exponent": 1.5}})
    got = table.set_index(["detector", "control"])
    assert list(table["detector"].unique()) == list(detectors.DETECTORS)  # every entry, in the registry's order
    assert len(table) == 6 * 2 and got["n_models"].to_dict() == {
        (d, c): 0 if d == "random-position" else 4 for d in detectors.DETECTORS for c in ("neg", "pos")}
    assert got.loc[("gia", "neg"), "n_flagged"] == 1 and got.loc[("gia", "pos"), "n_flagged"] == 3
    assert got.loc[("magnitude", "neg"), "fraction"] == 1.0 and got.loc[("paired", "neg"), "fraction"] == 0.0
    assert got.loc[("gia", "pos"), "exponent"] == 1.5
    assert got.loc[("dfim", "pos"), "ci_low"] == 0.0 and 0 < got.loc[("dfim", "pos"), "ci_high"] < 0.6
    tested = table[table["n_models"] > 0]
    assert ((tested["ci_low"] <= tested["fraction"]) & (tested["fraction"] <= tested["ci_high"])).all()


def test_the_registry_names_each_detector_once_and_its_modules_share_one_signature():
    """Names, labels and p-value columns are unique; each model detector's module has
    ``prepare`` and ``run(model, inputs, args, batch_size, device)`` and reports its column."""
    entries = list(detectors.DETECTORS.values())
    for field in ("name", "label", "column"):
        values = [getattr(d, field) for d in entries]
        assert len(set(values)) == len(values), field
    assert [d.name for d in detectors.STUDY_TESTS] == ["paired", "unpaired", "magnitude", "random-position"]
    for d in detectors.MODEL_DETECTORS:
        module = d.load()
        assert list(inspect.signature(module.run).parameters) == ["model", "inputs", "args", "batch_size", "device"]
        assert list(inspect.signature(module.prepare).parameters) == ["sim", "pairs_test", "pairs_shuffled",
                                                                        "settings"]
        assert f'"{d.column}"' in inspect.getsource(module.run)
    with pytest.raises(ValueError, match="interaction tables"):
        detectors.DETECTORS["paired"].load()


def test_a_bad_detector_setting_names_its_key(smoke_config):
    bad = {**smoke_config, "detectors": {**smoke_config["detectors"], "dfim_pairs": 0}}
    with pytest.raises(cfg.ConfigError, match=r"detectors\.dfim_pairs"):
        cfg.check(bad, base_dir=ROOT)
