"""Tests of lookloss.inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lookloss import inference, models, training

SEQ_LEN = 40


def one_hot(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.eye(4, dtype=np.uint8)[rng.integers(0, 4, (n, SEQ_LEN))].transpose(0, 2, 1).copy()


VAL = (one_hot(40, 1), (1 + 4 * np.random.default_rng(2).random(40)).astype(np.float32))


def test_predict_and_mse() -> None:
    model = models.build("arch1", "valid", SEQ_LEN, generator=training.init_generator(100)).train()
    predictions = inference.predict(model, VAL[0], batch_size=7)
    assert predictions.shape == (40,) and predictions.dtype == np.float32
    assert model.training  # mode restored
    with torch.no_grad():
        expected = model.eval()(inference.as_inputs(VAL[0])).numpy()
    np.testing.assert_allclose(predictions, expected, rtol=1e-6)
    assert inference.mean_squared_error(inference.predict(model, VAL[0]), VAL[1]) == pytest.approx(float(np.mean((expected - VAL[1]) ** 2)), rel=1e-5)
