"""Fused training (lookloss.fused) gives each model what training.train gives it alone.

Float64 on the CPU, tiny data and a few epochs: the grouped convolutions and batched
matrix products sum in another order than the separate layers, so results agree to
rounding (1e-9), not bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lookloss import fused, inference, io, jobs, models, training

SEQ_LEN = 40
SETTINGS = {"batch_size": 30, "learning_rate": 1e-3, "adam_eps": 1e-7, "max_epochs": 4, "patience": 10}
TIGHT = {"rtol": 1e-9, "atol": 1e-10}


def onehot(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.eye(4, dtype=np.uint8)[rng.integers(0, 4, (n, SEQ_LEN))].transpose(0, 2, 1).copy()


X_TRAIN, X_VAL = onehot(130, 0), onehot(40, 1)  # 130 = 4 batches of 30 + one of 10
_RNG = np.random.default_rng(2)
Y_TRAIN = {"neg": 1 + 4 * _RNG.random(130), "pos": 2 + 6 * _RNG.random(130),
           "stop": np.full(130, 5.0)}  # "stop": trained towards 5, validated against 0
Y_VAL = {"neg": 1 + 4 * _RNG.random(40), "pos": 2 + 6 * _RNG.random(40), "stop": np.zeros(40)}


def alone(arch: str, padding: str, member: fused.Member, **settings) -> tuple[models.ConvRegressor, training.TrainResult]:
    """The member trained on its own by training.train, in float64."""
    model = models.build(arch, padding, SEQ_LEN, generator=training.init_generator(member.seed)).double()
    result = training.train(model, X_TRAIN, Y_TRAIN[member.control], X_VAL, Y_VAL[member.control],
                            l1=member.l1, seed=member.seed, **(SETTINGS | settings))
    return model, result


def group(arch: str, padding: str, members: list[fused.Member], **settings) -> list[fused.GroupResult]:
    options = {"compact": settings.pop("compact", 0.125)}
    return fused.train(arch, padding, members, X_TRAIN, Y_TRAIN, X_VAL, Y_VAL, dtype=torch.float64,
                             **(SETTINGS | settings), **options)


def assert_same(model: torch.nn.Module, result: training.TrainResult, other: fused.GroupResult) -> None:
    assert other.result.best_epoch == result.best_epoch
    assert other.result.epochs_run == result.epochs_run
    assert other.result.stopped_early == result.stopped_early
    assert other.result.best_val_loss == pytest.approx(result.best_val_loss, rel=1e-10)
    for mine, theirs in zip(result.history, other.result.history, strict=True):
        assert mine["epoch"] == theirs["epoch"]
        assert theirs["train_loss"] == pytest.approx(mine["train_loss"], rel=1e-10)
        assert theirs["val_loss"] == pytest.approx(mine["val_loss"], rel=1e-10)
    for (name, p), q in zip(model.state_dict().items(), other.model.state_dict().values(), strict=True):
        torch.testing.assert_close(q, p, **TIGHT, msg=name)


MEMBERS = [fused.Member("neg", 0.0, 100), fused.Member("pos", 1e-3, 200), fused.Member("neg", 1e-4, 300),
           fused.Member("pos", 0.0, 100)]


@pytest.mark.parametrize(("arch", "padding"), [("arch1", "valid"), ("arch3", "same")])
def test_a_fused_group_equals_each_model_trained_alone(arch, padding):
    results = group(arch, padding, MEMBERS)
    assert [r.member for r in results] == MEMBERS
    for member, other in zip(MEMBERS, results, strict=True):
        model, result = alone(arch, padding, member)
        assert_same(model, result, other)
    # the members really differ: seeds, L1 weights and targets each change the weights
    weights = [r.model.output.weight.detach() for r in results]
    assert all(not torch.equal(weights[0], w) for w in weights[1:])


def test_a_model_that_stops_early_changes_nothing_for_its_siblings():
    stopper = fused.Member("stop", 0.0, 400)
    settings = {"max_epochs": 8, "patience": 2}
    with_stopper = group("arch1", "valid", [MEMBERS[0], stopper, MEMBERS[1]], **settings)
    without = group("arch1", "valid", [MEMBERS[0], MEMBERS[1]], **settings)
    assert with_stopper[1].result.stopped_early and with_stopper[1].result.epochs_run == 1 + 2
    assert_same(*alone("arch1", "valid", stopper, **settings), with_stopper[1])
    for a, b in zip([with_stopper[0], with_stopper[2]], without, strict=True):
        assert a.result.epochs_run == b.result.epochs_run and a.result.best_epoch == b.result.best_epoch
        for row_a, row_b in zip(a.result.history, b.result.history, strict=True):
            assert row_a["train_loss"] == pytest.approx(row_b["train_loss"], rel=1e-12)
            assert row_a["val_loss"] == pytest.approx(row_b["val_loss"], rel=1e-12)
        for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-13)


def test_dropping_stopped_models_from_the_network_changes_no_result(monkeypatch):
    members = [fused.Member("stop", 0.0, 400), MEMBERS[0], fused.Member("stop", 1e-3, 500), MEMBERS[1]]
    settings = {"max_epochs": 7, "patience": 2}
    calls = []
    compact = fused.GroupState.compact
    monkeypatch.setattr(fused.GroupState, "compact", lambda state, rows: calls.append(len(rows)) or compact(state, rows))
    every_stop = group("arch3", "valid", members, compact=0.0, **settings)
    assert calls and calls[0] == 2  # the two "stop" models were dropped, two models went on
    compactions = len(calls)
    never = group("arch3", "valid", members, compact=None, **settings)
    assert len(calls) == compactions  # and none without compaction
    for a, b in zip(every_stop, never, strict=True):
        assert a.result.epochs_run == b.result.epochs_run and a.result.best_epoch == b.result.best_epoch
        for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("arch", "padding"), [(a, p) for a in models.ARCHS for p in models.PADDINGS])
def test_the_fused_network_computes_each_model_and_its_l1_term(arch, padding):
    members = [models.build(arch, padding, SEQ_LEN, generator=training.init_generator(s)).double() for s in (1, 2, 3)]
    net = fused.FusedRegressors.stack(members)
    x = torch.from_numpy(onehot(7, 3)).double()
    together = net(x.unsqueeze(1).expand(-1, 3, -1, -1))
    for k, model in enumerate(members):
        torch.testing.assert_close(together[k], model(x), **TIGHT)
        assert float(net.l1_penalties()[k].detach()) == pytest.approx(float(models.l1_penalty(model).detach()), rel=1e-12)
        for p, q in zip(model.parameters(), net.member(k).parameters(), strict=True):
            assert torch.equal(p, q)
    np.testing.assert_allclose(fused.predict_each(net, x.numpy())[1], inference.predict(members[1], x.numpy()), rtol=1e-12)


def test_an_architecture_is_written_once(monkeypatch):
    """A new architecture (even width, two layers, another activation), defined only in
    lookloss.models, is fused and trained as its models are alone."""
    monkeypatch.setitem(models.ACTIVATIONS, "tanh", torch.nn.Tanh)
    monkeypatch.setitem(models.ARCHS, "tanh1", models.ArchSpec(2, 6, 4, (5,), activation="tanh"))
    members = [models.build("tanh1", "same", SEQ_LEN, generator=training.init_generator(s)).double() for s in (1, 2)]
    net = fused.FusedRegressors.stack(members)
    assert len(list(net.parameters())) == len(list(members[0].parameters()))  # the weights and nothing else
    x = torch.from_numpy(onehot(5, 3)).double()
    for k, model in enumerate(members):
        torch.testing.assert_close(net(x, shared=True)[k], model(x), **TIGHT)
        torch.testing.assert_close(net.l1_penalties()[k], models.l1_penalty(model), **TIGHT)
    pair = MEMBERS[:2]
    for member, other in zip(pair, group("tanh1", "same", pair, max_epochs=2), strict=True):
        assert_same(*alone("tanh1", "same", member, max_epochs=2), other)


def test_a_group_cannot_mix_shapes(tmp_path):
    with pytest.raises(ValueError, match="one architecture, padding"):
        fused.FusedRegressors.stack([models.build("arch1", "valid", SEQ_LEN), models.build("arch3", "valid", SEQ_LEN)])
    with pytest.raises(ValueError, match="one architecture, padding"):
        fused.FusedRegressors.stack([models.build("arch1", "valid", SEQ_LEN), models.build("arch1", "same", SEQ_LEN)])
    identities = [{"control": "neg", "padding": "valid", "arch": arch, "l1": 0.0, "seed": 1} for arch in ("arch1", "arch2")]
    with pytest.raises(ValueError, match="one architecture and padding"):
        jobs.train_group({}, [{}, {}], identities, {})


def test_the_group_job_writes_what_the_single_job_writes(tmp_path):
    """jobs.train_group and jobs.train_model: same files, same models to float32 rounding."""
    splits = {}
    for split, (x, n) in {"train": (X_TRAIN, 130), "valid": (X_VAL, 40), "test": (onehot(50, 4), 50)}.items():
        rng = np.random.default_rng(len(split))
        splits[split] = tmp_path / f"{split}.npz"
        io.save_npz(splits[split], {"onehot": x, "y_neg": rng.poisson(5, n), "y_pos": rng.poisson(9, n)})
    settings = {**SETTINGS, "max_epochs": 2, "device": "cpu", "max_fused": 2}
    identities = [{"control": c, "padding": "same", "arch": "arch2", "l1": l1, "seed": s}
                  for c, l1, s in (("neg", 0.0, 1), ("pos", 1e-3, 2), ("neg", 1e-4, 3))]

    def outs(mode: str) -> list[dict]:
        return [{name: tmp_path / mode / str(k) / name for name in ("model.pt", "history.tsv", "metrics.json")}
                for k in range(len(identities))]

    def keyed(paths: dict) -> dict:
        return {"model": paths["model.pt"], "history": paths["history.tsv"], "metrics": paths["metrics.json"]}

    grouped = jobs.train_group(splits, [keyed(o) for o in outs("group")], identities, settings)
    assert [g["group_size"] for g in grouped] == [2, 2, 1]  # max_fused 2: two fused batches
    singles = [jobs.train_model(splits, keyed(o), i, settings) for o, i in zip(outs("single"), identities, strict=True)]
    for g, s, paths_g, paths_s in zip(grouped, singles, outs("group"), outs("single"), strict=True):
        assert (g["fused"], s["fused"], s["group_size"]) == (True, False, 1)
        assert g["best_epoch"] == s["best_epoch"] and g["test_mse"] == pytest.approx(s["test_mse"], rel=1e-4)
        a, b = models.load(paths_g["model.pt"]), models.load(paths_s["model.pt"])
        for p, q in zip(a.parameters(), b.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)
        assert paths_g["history.tsv"].read_text().splitlines()[0] == paths_s["history.tsv"].read_text().splitlines()[0]


def test_running_out_of_memory_names_the_group_size_and_how_to_lower_it(tmp_path, monkeypatch):
    splits = {}
    for split, x in {"train": X_TRAIN, "valid": X_VAL, "test": X_VAL}.items():
        splits[split] = tmp_path / f"{split}.npz"
        io.save_npz(splits[split], {"onehot": x, "y_neg": np.ones(len(x), dtype=np.int64)})

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(fused, "train", out_of_memory)
    identities = [{"control": "neg", "padding": "valid", "arch": "arch1", "l1": 0.0, "seed": s} for s in range(6)]
    settings = {**SETTINGS, "device": "cpu", "max_fused": None}
    outs = [{"model": tmp_path / f"{s}.pt", "history": tmp_path / f"{s}.tsv", "metrics": tmp_path / f"{s}.json"}
            for s in range(6)]
    with pytest.raises(RuntimeError, match=r"fused group of 6 arch1/valid models.*training.max_fused.*max_fused: 3"):
        jobs.train_group(splits, outs, identities, settings)
    assert not any(p.exists() for out in outs for p in out.values())


class Killed(Exception):
    """Stands for a kill after some epoch (the snapshot of that epoch is on disk)."""


def kill_after(epoch: int):
    def on_epoch(done: int, *_: object) -> None:
        if done == epoch:
            raise Killed
    return on_epoch


def assert_identical(a: fused.GroupResult, b: fused.GroupResult) -> None:
    """The same model and history, bit for bit (timings aside)."""
    assert (a.member, a.cuda_graph) == (b.member, b.cuda_graph)
    untimed = [{**row, "seconds": 0} for row in a.result.history], [{**row, "seconds": 0} for row in b.result.history]
    assert untimed[0] == untimed[1]
    assert (a.result.best_epoch, a.result.epochs_run, a.result.best_val_loss, a.result.stopped_early) == (
        b.result.best_epoch, b.result.epochs_run, b.result.best_val_loss, b.result.stopped_early)
    for p, q in zip(a.model.state_dict().values(), b.model.state_dict().values(), strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize("killed_after", [2, 4, 7])  # before any stop; after one stop and compaction; at the end
def test_a_killed_group_resumes_from_its_snapshot_exactly(tmp_path, killed_after):
    members = [fused.Member("stop", 0.0, 400), MEMBERS[0], fused.Member("neg", 1e-3, 500), MEMBERS[1]]
    settings = {"max_epochs": 7, "patience": 2, "compact": 0.0}
    unbroken = group("arch3", "same", members, **settings)
    assert unbroken[0].result.epochs_run == 3 < unbroken[1].result.epochs_run  # one stops early, siblings go on
    snapshot = tmp_path / "group.pt"
    with pytest.raises(Killed):
        group("arch3", "same", members, **settings, snapshot=snapshot, snapshot_every=0, on_epoch=kill_after(killed_after))
    assert torch.load(snapshot, weights_only=True)["epoch"] == killed_after
    epochs = []
    resumed = group("arch3", "same", members, **settings, snapshot=snapshot, on_epoch=lambda e, *_: epochs.append(e))
    assert epochs == list(range(killed_after + 1, 8))  # only the epochs after the snapshot were trained
    for a, b in zip(unbroken, resumed, strict=True):
        assert_identical(a, b)
    assert torch.load(snapshot, weights_only=True)["epoch"] == 7  # the final state, for a job killed while saving


def test_a_snapshot_of_another_group_or_data_is_ignored(tmp_path, caplog):
    snapshot = tmp_path / "group.pt"
    settings = {"max_epochs": 3}
    with pytest.raises(Killed):
        group("arch1", "valid", MEMBERS[:2], **settings, snapshot=snapshot, snapshot_every=0, on_epoch=kill_after(1))
    unbroken = group("arch1", "valid", MEMBERS[1:3], **settings)
    other_members = group("arch1", "valid", MEMBERS[1:3], **settings, snapshot=snapshot)
    assert "another group, settings or data" in caplog.text
    for a, b in zip(unbroken, other_members, strict=True):
        assert_identical(a, b)
    caplog.clear()
    with pytest.raises(Killed):
        group("arch1", "valid", MEMBERS[:2], **settings, snapshot=snapshot, snapshot_every=0, on_epoch=kill_after(1))
    changed = {**Y_VAL, "neg": Y_VAL["neg"] + 1}  # same group and settings, other validation targets
    fused.train("arch1", "valid", MEMBERS[:2], X_TRAIN, Y_TRAIN, X_VAL, changed, dtype=torch.float64,
                      **(SETTINGS | settings), snapshot=snapshot)
    assert "another group, settings or data" in caplog.text
    snapshot.write_bytes(b"not a snapshot")
    group("arch1", "valid", MEMBERS[:2], **settings, snapshot=snapshot)
    assert "cannot be read" in caplog.text


def test_a_killed_group_job_resumes_and_removes_its_snapshots(tmp_path, monkeypatch):
    splits = {}
    for split, x in {"train": X_TRAIN, "valid": X_VAL, "test": onehot(50, 4)}.items():
        rng = np.random.default_rng(len(split))
        splits[split] = tmp_path / f"{split}.npz"
        io.save_npz(splits[split], {"onehot": x, "y_neg": rng.poisson(5, len(x)), "y_pos": rng.poisson(9, len(x))})
    identities = [{"control": c, "padding": "valid", "arch": "arch1", "l1": 0.0, "seed": s}
                  for c, s in (("neg", 1), ("pos", 2), ("neg", 3))]
    settings = {**SETTINGS, "max_epochs": 3, "device": "cpu", "max_fused": 2}
    outs = {run: [{name: tmp_path / run / str(k) / f"{name}" for name in ("model", "history", "metrics")}
                  for k in range(3)] for run in ("unbroken", "resumed")}
    jobs.train_group(splits, outs["unbroken"], identities, settings)
    snapshots = tmp_path / "snapshots"
    real = fused.train
    calls = []

    def killed_in_second_batch(*args, **kwargs):
        calls.append(kwargs["snapshot"])
        on_epoch = kill_after(2) if len(calls) == 2 else kwargs["on_epoch"]
        return real(*args, **{**kwargs, "snapshot_every": 0, "on_epoch": on_epoch})

    monkeypatch.setattr(fused, "train", killed_in_second_batch)
    with pytest.raises(Killed):
        jobs.train_group(splits, outs["resumed"], identities, settings, snapshots=snapshots)
    assert sorted(p.name for p in snapshots.iterdir()) == ["batch_0.pt", "batch_1.pt"]
    (snapshots / ".batch_1.pt.x1y2.tmp").write_bytes(b"half")  # as a kill while saving leaves it
    monkeypatch.setattr(fused, "train", real)
    jobs.train_group(splits, outs["resumed"], identities, settings, snapshots=snapshots)
    assert not snapshots.exists()
    for a, b in zip(outs["unbroken"], outs["resumed"], strict=True):
        for p, q in zip(models.load(a["model"]).parameters(), models.load(b["model"]).parameters(), strict=True):
            assert torch.equal(p, q)
        assert a["history"].read_text().split("\n")[0] == b["history"].read_text().split("\n")[0]
