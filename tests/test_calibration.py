"""Recalibrating a model before the loss test (lookloss.calibration, ``loss_test(recalibrate=True)``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lookloss import calibration, layout, losstest, motifs
from lookloss.transforms import LINKS

from oracles import Oracle  # tests/oracles.py

ROOT = Path(__file__).resolve().parents[1]
PAIR = ["GATA_disc1", "TAL1_known1"]


@pytest.mark.parametrize("gamma", [-0.5, 0.0, 0.3, 1.0, 2.0])
def test_the_fit_recovers_a_map_of_the_family_exactly(gamma):
    predicted = np.linspace(0.0, 300.0, 40)
    base = 1.0 + predicted
    observed = 5.0 + 20.0 * (np.log(base) if gamma == 0 else (base**gamma - 1.0) / gamma)
    fitted = calibration.fit(predicted, observed)
    assert fitted.gamma == gamma and fitted.n_loci == 40
    np.testing.assert_allclose([fitted.intercept, fitted.slope], [5.0, 20.0], rtol=1e-9)
    np.testing.assert_allclose(fitted(predicted), observed, rtol=1e-9)


def test_the_map_adds_no_interaction_where_it_runs_below_zero_and_the_losses_hold_the_floor():
    """A linear map (gamma = 1) of an additive model's four predictions has interaction exactly 0,
    also where it maps a prediction below 0 (no clip in the effects: a clip would add one); only
    the losses hold a prediction at the link's floor."""
    table = pd.DataFrame({"name": ["x", "y"], "f_ab": [70.0, 4.0], "f_a": [40.0, 3.0], "f_b": [35.0, 2.0],
                          "f_0": [5.0, 1.0], "target": [60.0, 1.0]})
    out = calibration.apply(table, calibration.Calibration(-10.0, 2.0, 1.0, 10), LINKS["log1p"])
    np.testing.assert_allclose(out["f_0"], [0.0, -8.0])  # -10 + 2 * f
    assert (out["interaction"] == 0).all() and (out["delta"] == 0).all()
    np.testing.assert_allclose(out["loss_orig"], [(np.log1p(130.0) - np.log1p(60.0)) ** 2, np.log1p(1.0) ** 2])
    spurious = calibration.apply(table.assign(f_ab=[80.0, 5.0]), calibration.Calibration(-10.0, 2.0, 1.0, 10),
                                 LINKS["log1p"])
    np.testing.assert_allclose(spurious["interaction"], [20.0, 2.0])  # 2 x the model's own
    np.testing.assert_allclose(spurious["loss_main"], [(np.log1p(130.0) - np.log1p(60.0)) ** 2, np.log1p(1.0) ** 2])


def test_a_log_map_turns_a_product_into_a_sum():
    """f_AB = f_A * f_B / f_0 (a multiplicative head) has interaction 0 after h = a + b log(1 + f)."""
    f0, fa, fb = 9.0, 59.0, 99.0
    table = pd.DataFrame({"name": ["x"], "f_ab": [(1 + fa) * (1 + fb) / (1 + f0) - 1], "f_a": [fa], "f_b": [fb],
                          "f_0": [f0], "target": [100.0]})
    out = calibration.apply(table, calibration.Calibration(3.0, 10.0, 0.0, 10), LINKS["log1p"])
    assert abs(out["interaction"][0]) < 1e-9 and table["f_ab"][0] - fa - fb + f0 > 100


@pytest.mark.parametrize("link", sorted(LINKS))
def test_the_identity_map_leaves_the_table_as_it_was(link):
    spec = LINKS[link]
    rng = np.random.default_rng(0)
    f = rng.uniform(1, 100, size=(4, 30))
    table = pd.DataFrame({"name": [str(i) for i in range(30)], "f_ab": f[0], "f_a": f[1], "f_b": f[2], "f_0": f[3],
                          "target": rng.poisson(50, size=30).astype(float)})
    fitted = calibration.fit(np.concatenate(f), np.concatenate(f))
    assert fitted.gamma == 1.0
    out = calibration.apply(table, fitted, spec)
    np.testing.assert_allclose(out[["f_ab", "f_a", "f_b", "f_0"]].to_numpy(), table[["f_ab", "f_a", "f_b", "f_0"]],
                               rtol=1e-9)
    np.testing.assert_allclose(out["interaction"], f[0] - f[1] - f[2] + f[3], rtol=1e-7, atol=1e-7)
    assert (out["name"] == table["name"]).all()


def test_too_few_loci_flat_or_falling_predictions_cannot_be_fitted():
    with pytest.raises(calibration.CalibrationError, match="at least 10"):
        calibration.fit(np.arange(5.0), np.arange(5.0))
    with pytest.raises(calibration.CalibrationError, match="same count"):
        calibration.fit(np.ones(20), np.arange(20.0))
    with pytest.raises(calibration.CalibrationError, match="same count"):  # float32 rounding is no spread
        calibration.fit(100.0 + 1e-5 * np.random.default_rng(0).standard_normal(20), np.arange(20.0))
    with pytest.raises(calibration.CalibrationError, match="non-finite values .* 1 predictions, 0 observed"):
        calibration.fit(np.r_[np.arange(19.0), np.nan], np.arange(20.0))
    with pytest.raises(calibration.CalibrationError, match="do not rise"):
        calibration.fit(np.arange(20.0), -np.arange(20.0))


class LogLinear(torch.nn.Module):
    """A log-linear count head on the two motifs' occupancies (``log1p`` output), as a BPNet's count
    head after pooling makes motif effects multiply: fitted by least squares to the training
    counts of one truth, it cannot be additive in counts."""

    def __init__(self, sim, onehot: np.ndarray, counts: np.ndarray):
        super().__init__()
        self.kernels = [torch.from_numpy(m.ddg)[None] for m in (sim.gata, sim.tal)]
        self.mu = sim.mu
        features = torch.stack([torch.ones(len(onehot), dtype=torch.float64),
                                *self.occupancy(torch.from_numpy(onehot))], dim=1)
        self.coef = torch.linalg.lstsq(features, torch.log1p(torch.as_tensor(counts, dtype=torch.float64))[:, None]
                                       ).solution[:, 0]

    def occupancy(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = x.double()
        return [torch.sigmoid(-(torch.nn.functional.conv1d(x, k) - self.mu)).sum(dim=(1, 2)) for k in self.kernels]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g, t = self.occupancy(x)
        return self.coef[0] + self.coef[1] * g + self.coef[2] * t


@pytest.fixture(scope="module")
def study(sim, simulated):
    ppms = motifs.read_motifs(ROOT / "resources" / "motifs.meme", PAIR)
    return sim, simulated["valid"], ppms


def recalibrated(model, study, control, link):
    sim, arrays, ppms = study
    test = arrays["test"]
    result = losstest.loss_test(model, test[layout.ONEHOT], test[layout.counts_key(control)], ppms[PAIR[0]],
                                ppms[PAIR[1]], link=link, recalibrate=True)
    return result.summary["recalibrated"], result


@pytest.mark.parametrize(("control", "call"), [("neg", "too few pairs"), ("pos", "interaction")])
def test_a_log_linear_head_recalibrated_is_called_by_its_truth(study, control, call):
    """Fitted to either truth, the multiplicative head has a positive interaction; recalibrated on
    held-out sequences, its interaction vanishes on the additive truth (exactly: the logarithm
    makes it additive, so no pair has a Δ to test) and stays on the super-additive one."""
    sim, arrays, _ = study
    model = LogLinear(sim, arrays["train"][layout.ONEHOT], arrays["train"][layout.counts_key(control)])
    summary, result = recalibrated(model, study, control, "log1p")
    assert result.summary["mean_I"] > 100  # the head's own interaction, on either truth
    assert summary["call"] == call
    if control == "neg":  # the logarithm makes the head exactly additive: no pair has an interaction left
        assert summary["calibration"]["gamma"] == 0.0
        assert abs(summary["mean_I"]) < 1e-9 * result.summary["mean_I"]
    else:
        assert summary["p_paired"] < 1e-6 and summary["mean_I"] > 0
    assert 300 < summary["calibration"]["n_loci"] <= 600 - result.summary["n_pairs"]  # none of the tested pairs


@pytest.mark.parametrize(("control", "product", "call"), [("neg", 50.0, "no interaction"), ("neg", 200.0, "no interaction"),
                                                          ("pos", 0.0, "interaction")])
def test_oracles_keep_their_calls_after_recalibration(sim, study, control, product, call):
    """The truth's rate with a spurious product term (which only the loci with both motifs show)
    stays no interaction; the super-additive truth's own rate stays an interaction."""
    summary, _ = recalibrated(Oracle(sim, control, product), study, control, "anscombe")
    assert summary["call"] == call


def test_too_few_sequences_to_recalibrate_is_said_not_raised(sim, study):
    _, arrays, ppms = study
    test = arrays["test"]
    pairs = losstest.loss_test(Oracle(sim, "pos"), test[layout.ONEHOT], test[layout.counts_key("pos")],
                               ppms[PAIR[0]], ppms[PAIR[1]]).pairs
    keep = pairs["name"].astype(int).to_numpy()[:12]
    result = losstest.loss_test(Oracle(sim, "pos"), test[layout.ONEHOT][keep], test[layout.counts_key("pos")][keep],
                                ppms[PAIR[0]], ppms[PAIR[1]], recalibrate=True)
    assert result.summary["recalibrated"]["call"] == "not recalibrated"
    assert "at least 10" in result.summary["recalibrated"]["reason"] and result.recalibrated is None


def test_a_predictor_is_recalibrated_as_its_module_on_the_sequences_without_both_motifs(sim, study):
    """The Predictor path (codes and their rows, e.g. lookloss.head.Head with control tracks) fits
    the same map on the same sequences, given by their rows, and gives the same tests as the
    module it wraps; those sequences hold at most one of the motifs anywhere."""
    from lookloss.instances import as_motif, instance_scores

    _, arrays, ppms = study
    test = arrays["test"]
    module = Oracle(sim, "pos")
    calls = []

    def predictor(codes, rows):
        calls.append((codes, np.asarray(rows)))
        with torch.no_grad():
            return module(torch.from_numpy(motifs.to_onehot(codes))).numpy()

    results = [losstest.loss_test(m, test[layout.ONEHOT], test[layout.counts_key("pos")], ppms[PAIR[0]], ppms[PAIR[1]],
                                  recalibrate=True).summary["recalibrated"] for m in (module, predictor)]
    maps = [r.pop("calibration") for r in results]
    assert results[0].pop("call") == results[1].pop("call") == "interaction"
    assert results[0] == pytest.approx(results[1], rel=1e-9) and maps[0] == pytest.approx(maps[1], rel=1e-9)
    codes = motifs.to_codes(test[layout.ONEHOT])
    background = np.bincount(codes.ravel(), minlength=4) / codes.size
    holds = [np.isfinite(instance_scores(codes, as_motif(ppms[name], background, 0.001, name), 2.0)).any(axis=1)
             for name in PAIR]
    expected = np.flatnonzero(~(holds[0] & holds[1]))
    calibration_codes, rows = calls[-1]
    np.testing.assert_array_equal(rows, expected)  # the rows of the sequences, not their positions
    np.testing.assert_array_equal(calibration_codes, codes[expected])
    assert maps[1]["n_loci"] == len(expected) and 0 < len(expected) < len(codes) - results[1]["n_pairs"]
