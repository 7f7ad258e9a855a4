"""Tests of lookloss.training (tiny data, a few seconds)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lookloss import inference, models, training

from textbook import train_textbook  # tests/textbook.py

SEQ_LEN = 40


def dataset(n: int, seed: int, target: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Random uint8 one-hot sequences and Anscombe-like targets (constant if ``target``)."""
    rng = np.random.default_rng(seed)
    x = np.eye(4, dtype=np.uint8)[rng.integers(0, 4, (n, SEQ_LEN))].transpose(0, 2, 1).copy()
    y = np.full(n, target, np.float32) if target is not None else (1 + 4 * rng.random(n)).astype(np.float32)
    return x, y


TRAIN = dataset(120, 0)
VAL = dataset(40, 1)


def fresh(seed: int = 100, arch: str = "arch1", padding: str = "valid") -> models.ConvRegressor:
    return models.build(arch, padding, SEQ_LEN, generator=training.init_generator(seed))


def fit(model: models.ConvRegressor, seed: int = 100, **kwargs) -> training.TrainResult:
    settings = {"l1": 1e-3, "seed": seed, "batch_size": 30, "max_epochs": 3, "patience": 5} | kwargs
    return training.train(model, *TRAIN, *VAL, **settings)


def state_bytes(model: torch.nn.Module) -> dict[str, bytes]:
    return {name: tensor.numpy().tobytes() for name, tensor in model.state_dict().items()}


def test_history_rows_and_result_fields() -> None:
    rows = []
    result = fit(fresh(), on_epoch=rows.append)
    assert rows == result.history and len(rows) == result.epochs_run == 3
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    assert set(rows[0]) == {"epoch", "train_loss", "val_loss", "seconds"}
    assert result.best_val_loss == min(row["val_loss"] for row in rows)
    assert result.history[result.best_epoch - 1]["val_loss"] == result.best_val_loss
    assert result.train_seconds > 0 and not result.stopped_early


def test_same_seed_gives_byte_identical_weights_and_other_seeds_differ() -> None:
    first, second, other = fresh(100), fresh(100), fresh(200)
    fit(first, 100)
    fit(second, 100)
    fit(other, 200)
    assert state_bytes(first) == state_bytes(second)
    assert state_bytes(first)["convs.0.weight"] != state_bytes(other)["convs.0.weight"]


def test_seed_also_controls_batch_order() -> None:
    a, b = fresh(100), fresh(100)
    fit(a, seed=1)
    fit(b, seed=2)
    assert state_bytes(a) != state_bytes(b)


def test_uint8_numpy_and_float_tensor_inputs_agree() -> None:
    a, b = fresh(), fresh()
    fit(a, max_epochs=1)
    x, y = torch.from_numpy(TRAIN[0]).float(), torch.from_numpy(TRAIN[1])
    training.train(b, x, y, torch.from_numpy(VAL[0]).float(), torch.from_numpy(VAL[1]),
                   l1=1e-3, seed=100, batch_size=30, max_epochs=1)  # fmt: skip
    assert state_bytes(a) == state_bytes(b)


def test_early_stopping_restores_the_best_epoch() -> None:
    """Train towards 5 while validating against 0: validation only gets worse."""
    model = fresh()
    snapshots = []
    result = training.train(
        model, *dataset(120, 0, target=5.0), *dataset(40, 1, target=0.0), l1=0.0, seed=1,
        batch_size=30, max_epochs=50, patience=3,
        on_epoch=lambda row: snapshots.append(training.state_copy(model)),
    )  # fmt: skip
    assert result.best_epoch == 1
    assert result.stopped_early and result.epochs_run == 1 + 3  # Keras: stop after `patience` epochs without gain
    assert all(torch.equal(model.state_dict()[k], v) for k, v in snapshots[0].items())
    assert not all(torch.equal(model.state_dict()[k], v) for k, v in snapshots[-1].items())
    x_val, y_val = dataset(40, 1, target=0.0)
    assert inference.mean_squared_error(inference.predict(model, x_val), y_val) == pytest.approx(result.best_val_loss, rel=1e-5)


def test_restore_best_false_keeps_last_weights() -> None:
    model = fresh()
    snapshots = []
    fit(model, restore_best=False, on_epoch=lambda row: snapshots.append(training.state_copy(model)))
    assert all(torch.equal(model.state_dict()[k], v) for k, v in snapshots[-1].items())


def test_validation_loss_includes_the_l1_term() -> None:
    model = fresh()
    result = fit(model, l1=1e-2, max_epochs=2, restore_best=False)
    expected = inference.mean_squared_error(inference.predict(model, VAL[0]), VAL[1]) + 1e-2 * float(models.l1_penalty(model).detach())
    assert result.history[-1]["val_loss"] == pytest.approx(expected, rel=1e-5)


def test_training_loss_adds_l1_times_the_kernel_norm() -> None:
    model = fresh()
    x, y = inference.as_inputs(TRAIN[0][:10]), inference.as_targets(TRAIN[1][:10])
    plain = training.training_loss(model, x, y, 0.0)
    penalised = training.training_loss(model, x, y, 1e-3)
    by_hand = sum(float(layer.weight.detach().abs().sum()) for layer in [*model.convs, *model.dense])
    assert float((penalised - plain).detach()) == pytest.approx(1e-3 * by_hand, rel=1e-5)


@pytest.mark.parametrize(("arch", "padding"), [("arch1", "valid"), ("arch3", "same")])
def test_fast_trainer_matches_the_textbook_loop(arch: str, padding: str) -> None:
    fast, textbook = fresh(7, arch, padding), fresh(7, arch, padding)
    result = fit(fast, seed=3, l1=1e-3, max_epochs=3, patience=10, restore_best=False)  # 12 Adam steps
    history = train_textbook(textbook, *TRAIN, *VAL, l1=1e-3, seed=3, epochs=3, batch_size=30)
    for p, q in zip(fast.parameters(), textbook.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-5)
    for ours, theirs in zip(result.history, history):
        assert ours["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-5)
        assert ours["val_loss"] == pytest.approx(theirs["val_loss"], rel=1e-5)


def test_batch_orders_cover_every_sequence_once_per_epoch() -> None:
    batches = training.batch_orders(95, 30, torch.Generator().manual_seed(0))
    assert [len(b) for b in batches] == [30, 30, 30, 5]
    assert sorted(torch.cat(batches).tolist()) == list(range(95))


def test_mismatched_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        training.train(fresh(), TRAIN[0], TRAIN[1][:-1], *VAL, l1=0.0, seed=1, max_epochs=1)
