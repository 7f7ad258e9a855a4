"""Fused training on a GPU checked against what the CPU tests prove (run on the GPU box).

``tests/test_fused.py`` shows on the CPU, in float64, that a fused group gives each
model what :func:`lookloss.training.train` gives it alone, and that a killed group
resumes exactly. What only a GPU can show is checked here, on small random data:

1. ``graph_vs_eager``: the same group trained with its steps replayed from CUDA graphs
   and eagerly (float32): the graphs must have been used, and the models agree.
2. ``fused_vs_alone_float64``: the group on the GPU in float64 (CUDA graphs on) against
   each model trained alone on the CPU in float64: agreement to rounding, as on the CPU.
3. ``resume``: a group killed after an epoch and resumed from its snapshot, against the
   unbroken run (float32, CUDA graphs).
4. ``fused_vs_alone_float32`` (reported, not a pass/fail check): the group in float32
   against each model alone on the same device: how far float32 (and TF32) rounding,
   summed in another order and amplified by a few hundred Adam steps, moves the models.

Checks 1 and 3 compare float32 runs that should be identical, so they run with
``torch.backends.cudnn.deterministic`` (cuDNN's backward kernels may otherwise add in
any order: ``noise`` reports two identical runs' difference). A difference is the
relative L2 distance of all a model's weights (``weights``) and of its validation losses
(``val_loss``), the largest over the models; tolerances are fixed here in advance. The
script exits 1 if a check fails. With ``--device cpu`` it runs the checks the CPU
allows, to test itself.

Usage::

    python benchmarks/cuda_check.py --out cuda_check.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/machine.py
from machine import random_data  # noqa: E402

from lookloss import fused, models, training  # noqa: E402

SETTINGS = {"batch_size": 200, "learning_rate": 1e-3, "adam_eps": 1e-7, "max_epochs": 5, "patience": 2}
MEMBERS = [fused.Member("a", 0.0, 100), fused.Member("b", 1e-3, 200), fused.Member("a", 1e-4, 300),
           fused.Member("b", 0.0, 400)]
#: Largest relative difference allowed (fixed before any GPU run): float64 sums in
#: another order agree to ~1e-12; deterministic float32 runs of the same kernels exactly.
#: None: reported only.
TOLERANCE = {"graph_vs_eager": 1e-6, "fused_vs_alone_float64": 1e-8, "resume": 1e-6, "fused_vs_alone_float32": None}


class Killed(Exception):
    pass


def data(n_train: int, n_val: int):
    x, y = random_data(n_train + n_val, 100, 0)
    rng = np.random.default_rng(1)
    y_b = (y + rng.random(len(y)) * 5).astype(np.float32)
    targets = {"a": y, "b": y_b}
    return (x[:n_train], {c: t[:n_train] for c, t in targets.items()},
            x[n_train:], {c: t[n_train:] for c, t in targets.items()})


def group(arch: str, padding: str, device: str, dtype: torch.dtype, d, **options) -> list[fused.GroupResult]:
    return fused.train_group(arch, padding, MEMBERS, *d, **SETTINGS, device=device, dtype=dtype, **options)


def alone(arch: str, padding: str, member: fused.Member, device: str, dtype: torch.dtype, d):
    x, y, xv, yv = d
    model = models.build(arch, padding, generator=training.init_generator(member.seed)).to(dtype)
    result = training.train(model, x, y[member.control], xv, yv[member.control], l1=member.l1, seed=member.seed,
                            **SETTINGS, device=device)
    return model.cpu(), result


def difference(models_a, results_a, models_b, results_b) -> dict[str, float]:
    """Largest relative L2 distances of the models' weights and validation losses; epochs that differ."""
    def flat(model: torch.nn.Module) -> torch.Tensor:
        return torch.cat([p.detach().double().flatten() for p in model.state_dict().values()])

    def relative(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a - b).norm() / b.norm().clamp_min(1e-300))

    pairs = list(zip(results_a, results_b, strict=True))
    weights = max(relative(flat(a), flat(b)) for a, b in zip(models_a, models_b, strict=True))
    losses = max(relative(torch.tensor([row["val_loss"] for row in a.history[:n]], dtype=torch.float64),
                          torch.tensor([row["val_loss"] for row in b.history[:n]], dtype=torch.float64))
                 for a, b in pairs for n in [min(len(a.history), len(b.history))])
    epochs = sum((a.best_epoch, a.epochs_run) != (b.best_epoch, b.epochs_run) for a, b in pairs)
    return {"weights": weights, "val_loss": losses, "models_with_other_epochs": int(epochs)}


def check(name: str, diff: dict[str, float], **extra) -> dict:
    tolerance = TOLERANCE[name]
    ok = tolerance is None or (diff["weights"] <= tolerance and diff["val_loss"] <= tolerance
                               and diff["models_with_other_epochs"] == 0)
    row = {"check": name, **diff, "tolerance": tolerance, **extra, "ok": bool(ok and extra.get("graphs", True))}
    print(json.dumps(row), flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--n-val", type=int, default=1000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    cuda = args.device.startswith("cuda")
    d = data(args.n_train, args.n_val)
    rows = []
    for arch, padding in (("arch1", "valid"), ("arch3", "same")):
        shape = {"arch": arch, "padding": padding}
        torch.backends.cudnn.deterministic = True  # checks 1 and 3: runs that should be identical
        graphed = group(arch, padding, args.device, torch.float32, d)
        if cuda:
            eager = group(arch, padding, args.device, torch.float32, d, cuda_graph=False)
            rows.append(check("graph_vs_eager", difference([r.model for r in graphed], [r.result for r in graphed],
                                                           [r.model for r in eager], [r.result for r in eager]),
                              graphs=all(r.cuda_graph for r in graphed), **shape))
        with tempfile.TemporaryDirectory() as tmp:
            snapshot = Path(tmp) / "group.pt"

            def kill(epoch: int, *_: object) -> None:
                if epoch == 2:
                    raise Killed

            try:
                group(arch, padding, args.device, torch.float32, d, snapshot=snapshot, snapshot_every=0, on_epoch=kill)
            except Killed:
                pass
            resumed = group(arch, padding, args.device, torch.float32, d, snapshot=snapshot)
        rows.append(check("resume", difference([r.model for r in resumed], [r.result for r in resumed],
                                               [r.model for r in graphed], [r.result for r in graphed]), **shape))
        torch.backends.cudnn.deterministic = False  # the study's setting from here on
        if cuda:
            a, b = (group(arch, padding, args.device, torch.float32, d) for _ in range(2))
            rows.append({"check": "noise", **difference([r.model for r in a], [r.result for r in a],
                                                         [r.model for r in b], [r.result for r in b]),
                         **shape, "ok": True})
            print(json.dumps(rows[-1]), flush=True)
        for dtype, name, alone_device in ((torch.float64, "fused_vs_alone_float64", "cpu"),
                                          (torch.float32, "fused_vs_alone_float32", args.device)):
            together = group(arch, padding, args.device, dtype, d)
            singles = [alone(arch, padding, m, alone_device, dtype, d) for m in MEMBERS]
            rows.append(check(name, difference([r.model for r in together], [r.result for r in together],
                                               [m for m, _ in singles], [r for _, r in singles]),
                              graphs=not cuda or all(r.cuda_graph for r in together), **shape))
    result = {"device": torch.cuda.get_device_name(0) if cuda else "cpu", "torch": torch.__version__,
              "numerics": fused.numerics(torch.device(args.device)), "checks": rows,
              "ok": all(row["ok"] for row in rows)}
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("all checks passed" if result["ok"] else "SOME CHECKS FAILED", flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
