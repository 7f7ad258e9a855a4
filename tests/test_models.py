"""Tests of lookloss.models: architectures, Keras-style init, L1 term, save/load."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from lookloss import models

ARCH_PADDINGS = [(arch, padding) for arch in models.ARCHS for padding in models.PADDINGS]


def one_hot(n: int, length: int, seed: int = 0) -> torch.Tensor:
    """Random one-hot float sequences (n, 4, length)."""
    rng = np.random.default_rng(seed)
    return torch.from_numpy(np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1).copy())


def seeded(arch: str, padding: str, seed: int = 0, seq_len: int = 100) -> models.ConvRegressor:
    return models.build(arch, padding, seq_len, generator=torch.Generator().manual_seed(seed))


def conv_stack(model: models.ConvRegressor, x: torch.Tensor) -> torch.Tensor:
    """Output of the convolution layers only."""
    for conv, activation in zip(model.convs, model.conv_activations, strict=True):
        x = activation(conv(model.pad(x)))
    return x


@pytest.mark.parametrize(("arch", "padding"), ARCH_PADDINGS)
def test_output_shape_is_one_value_per_sequence(arch: str, padding: str) -> None:
    model = seeded(arch, padding)
    assert model(one_hot(7, 100)).shape == (7,)


@pytest.mark.parametrize(("arch", "padding"), ARCH_PADDINGS)
def test_layer_counts_match_the_study(arch: str, padding: str) -> None:
    spec = models.ARCHS[arch]
    model = seeded(arch, padding)
    assert [c.kernel_size[0] for c in model.convs] == [spec.width] * spec.n_conv
    assert [c.out_channels for c in model.convs] == [15] * spec.n_conv
    assert [d.out_features for d in model.dense] == list(spec.dense)
    assert model.output.out_features == 1


def test_architectures_are_the_papers() -> None:
    assert models.ARCHS["arch1"] == models.ArchSpec(4, 15, 7, (50, 50))
    assert models.ARCHS["arch2"] == models.ArchSpec(4, 15, 7, (30, 30, 30))
    assert models.ARCHS["arch3"] == models.ArchSpec(5, 15, 5, (30, 30, 30))


def test_the_parameters_keep_the_names_of_the_published_models() -> None:
    """The checkpoints in paper/ are state_dicts of these names: renaming a layer breaks them."""
    layers = [f"convs.{i}" for i in range(4)] + ["dense.0", "dense.1", "output"]
    assert list(seeded("arch1", "valid").state_dict()) == [f"{layer}.{p}" for layer in layers for p in ("weight", "bias")]


def test_the_activation_is_the_specs(monkeypatch) -> None:
    monkeypatch.setitem(models.ACTIVATIONS, "tanh", torch.nn.Tanh)
    monkeypatch.setitem(models.ARCHS, "tanh1", models.ArchSpec(2, 6, 4, (5,), activation="tanh"))
    model, x = seeded("tanh1", "same"), one_hot(3, 100)
    h = x
    for conv in model.convs:
        h = torch.tanh(F.conv1d(F.pad(h, (1, 2)), conv.weight, conv.bias))  # even width: Keras pads more on the right
    h = h.mean(dim=2)
    for layer in model.dense:
        h = torch.tanh(F.linear(h, layer.weight, layer.bias))
    torch.testing.assert_close(model(x), F.linear(h, model.output.weight, model.output.bias).squeeze(1))
    assert models.ARCHS["arch1"].activation == "relu"


@pytest.mark.parametrize(("arch", "padding"), ARCH_PADDINGS)
def test_conv_output_length(arch: str, padding: str) -> None:
    spec = models.ARCHS[arch]
    expected = 100 - spec.n_conv * (spec.width - 1) if padding == "valid" else 100
    assert models.conv_output_length(arch, padding) == expected
    assert conv_stack(seeded(arch, padding), one_hot(2, 100)).shape == (2, 15, expected)


@pytest.mark.parametrize("arch", list(models.ARCHS))
def test_receptive_field_is_the_input_window_of_one_output(arch: str) -> None:
    model = seeded(arch, "valid")
    with torch.no_grad():  # all units active, so the gradient shows the full window
        for conv in model.convs:
            conv.weight.fill_(0.1)
            conv.bias.fill_(0.1)
    x = one_hot(1, 100).requires_grad_(True)
    conv_stack(model, x)[0, :, 10].sum().backward()
    touched = torch.nonzero(x.grad.abs().sum(dim=1)[0]).ravel()
    assert touched.min() == 10
    assert touched.max() - touched.min() + 1 == models.receptive_field(arch)
    assert models.receptive_field("arch1") == 25 and models.receptive_field("arch3") == 21


@pytest.mark.parametrize("arch", list(models.ARCHS))
def test_same_padding_is_keras_zero_padding(arch: str) -> None:
    model = seeded(arch, "same")
    width = models.ARCHS[arch].width
    left, right = models.same_padding(width)
    assert (left, right) == ((width - 1) // 2, width // 2)
    x = one_hot(3, 100)
    conv = model.convs[0]
    expected = F.conv1d(F.pad(x, (left, right)), conv.weight, conv.bias)
    torch.testing.assert_close(conv(model.pad(x)), expected)


def test_same_padding_even_width_pads_more_on_the_right() -> None:
    assert models.same_padding(4) == (1, 2)


@pytest.mark.parametrize(("arch", "padding"), ARCH_PADDINGS)
def test_he_normal_is_truncated_at_two_std_and_biases_are_zero(arch: str, padding: str) -> None:
    model = seeded(arch, padding, seed=3)
    for layer in model.hidden_layers():
        std = math.sqrt(2.0 / models.fan_in(layer)) / models.KERAS_TRUNCATION_STD
        assert layer.weight.abs().max() <= 2 * std
        assert layer.weight.abs().max() > 1.5 * std  # really drawn, not all tiny
        assert torch.count_nonzero(layer.bias) == 0
    limit = math.sqrt(6.0 / (model.output.in_features + 1))
    assert model.output.weight.abs().max() <= limit
    assert torch.count_nonzero(model.output.bias) == 0


def test_he_normal_variance_is_two_over_fan_in() -> None:
    weight = torch.empty(200, 15, 7)
    models.he_normal_(weight, fan_in=105, generator=torch.Generator().manual_seed(0))
    assert weight.std().item() == pytest.approx(math.sqrt(2 / 105), rel=0.02)


def test_fan_in_counts_kernel_width() -> None:
    model = seeded("arch1", "valid")
    assert [models.fan_in(layer) for layer in model.hidden_layers()] == [28, 105, 105, 105, 15, 50]


def test_build_is_deterministic_given_a_generator_or_the_global_seed() -> None:
    a, b, c = seeded("arch2", "same", 5), seeded("arch2", "same", 5), seeded("arch2", "same", 6)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.convs[0].weight, c.convs[0].weight)
    torch.manual_seed(9)
    d = models.build("arch2", "same")
    torch.manual_seed(9)
    e = models.build("arch2", "same")
    assert torch.equal(d.convs[1].weight, e.convs[1].weight)


def test_l1_penalty_is_the_kernel_l1_norm_without_output_or_biases() -> None:
    model = seeded("arch3", "valid", 1)
    with torch.no_grad():
        for layer in [*model.hidden_layers(), model.output]:
            layer.bias.fill_(5.0)  # biases must not count
        model.output.weight.fill_(100.0)  # the output layer must not count
    by_hand = sum(
        float(np.abs(layer.weight.detach().numpy().astype(np.float64)).sum())
        for layer in [*model.convs, *model.dense]
    )
    assert float(models.l1_penalty(model).detach()) == pytest.approx(by_hand, rel=1e-6)


def test_l1_penalty_at_other_weights_is_the_models_term_there() -> None:
    model = seeded("arch2", "same", 2)
    assert model.penalised() == [f"convs.{i}.weight" for i in range(4)] + [f"dense.{i}.weight" for i in range(3)]
    doubled = {name: 2 * p for name, p in model.named_parameters()}
    with torch.no_grad():
        assert float(models.l1_penalty(model, doubled)) == pytest.approx(2 * float(models.l1_penalty(model)), rel=1e-6)


def test_forward_macs_by_hand() -> None:
    conv = 94 * 15 * 4 * 7 + (88 + 82 + 76) * 15 * 15 * 7
    dense = 15 * 50 + 50 * 50 + 50
    assert models.forward_macs("arch1", "valid") == conv + dense
    assert models.forward_macs("arch1", "same") == 100 * 15 * 7 * (4 + 3 * 15) + dense


def test_n_params_counts_weights_and_biases() -> None:
    expected = (4 * 7 * 15 + 15) + 3 * (15 * 7 * 15 + 15) + (15 * 50 + 50) + (50 * 50 + 50) + (50 + 1)
    assert models.n_params(seeded("arch1", "valid")) == expected


def test_unknown_arch_or_padding_is_rejected() -> None:
    with pytest.raises(ValueError, match="arch9"):
        models.build("arch9", "valid")
    with pytest.raises(ValueError, match="causal"):
        models.build("arch1", "causal")
    with pytest.raises(ValueError, match="too short"):
        models.build("arch1", "valid", seq_len=20)


def test_save_load_round_trip_gives_identical_predictions(tmp_path) -> None:
    model = seeded("arch2", "valid", 4).eval()
    path = tmp_path / "sub" / "model.pt"
    models.save(path, model, {"l1": 1e-4, "seed": np.int64(100), "path": tmp_path})
    loaded = models.load(path, arch="arch2", padding="valid")
    x = one_hot(11, 100)
    assert not loaded.training
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert loaded.meta["l1"] == 1e-4 and loaded.meta["seed"] == 100 and loaded.meta["path"] == str(tmp_path)
    assert loaded.meta["torch_version"] == torch.__version__ and "lookloss_version" in loaded.meta
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temp file left


def test_load_mismatch_names_file_and_architectures(tmp_path) -> None:
    path = tmp_path / "model.pt"
    models.save(path, seeded("arch1", "same"), {})
    with pytest.raises(ValueError, match=r"model\.pt.*arch3/same.*arch1/same"):
        models.load(path, arch="arch3")
    with pytest.raises(ValueError, match="arch1/valid.*arch1/same"):
        models.load(path, arch="arch1", padding="valid")


def test_load_rejects_files_that_are_not_models(tmp_path) -> None:
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a lookloss model"):
        models.load(text)
    other = tmp_path / "tensor.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(ValueError, match="not a lookloss model"):
        models.load(other)
