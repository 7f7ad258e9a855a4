"""Fused training on a GPU checked against what the CPU tests prove (run on the GPU box).

``tests/test_fused.py`` shows on the CPU, in float64, that a fused group gives each
model what :func:`lookloss.training.train` gives it alone, and that a killed group
resumes exactly. What only a GPU can show is checked here, on small random data:

1. ``graph_vs_eager``: the same group trained with its steps replayed from CUDA graphs
   and eagerly (float32): the graphs must have been used, and the models agree.
2. ``fused_vs_alone_float64``: the group on the GPU in float64 (CUDA graphs on) against
   each model trained alone on the CPU in float64: agreement to rounding, as on the CPU.
3. ``fused_vs_alone_float32``: the same in float32, on the GPU, alone on the GPU too: the
   size of the float32 (and TF32) differences after a few epochs.
4. ``resume``: a group killed after an epoch and resumed from its snapshot, against the
   unbroken run (float32, CUDA graphs).

Each check reports its largest relative difference of weights and validation losses and
``ok`` against a tolerance fixed here in advance; the script exits 1 if any check fails.
On a GPU, two identical runs may differ already (cuDNN's backward kernels may add in
any order): that ``noise`` (two runs of the same group) is measured and reported, and
the checks that compare float32 runs allow ten times it where that is more than their
tolerance.
With ``--device cpu`` it runs every check it can on the CPU (no graphs), to test itself.

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
#: another order agree to ~1e-12; float32 after a few hundred Adam steps to ~1e-3.
TOLERANCE = {"graph_vs_eager": 1e-4, "fused_vs_alone_float64": 1e-8, "fused_vs_alone_float32": 5e-2, "resume": 1e-4}


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
    """Largest relative differences of weights and validation losses; and epochs that differ."""
    weights = max(float(((p.double() - q.double()).abs().max() / q.double().abs().max().clamp_min(1e-30)))
                  for a, b in zip(models_a, models_b, strict=True)
                  for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    losses = max(abs(ra["val_loss"] - rb["val_loss"]) / abs(rb["val_loss"])
                 for a, b in zip(results_a, results_b, strict=True)
                 for ra, rb in zip(a.history, b.history, strict=True))
    epochs = sum((a.best_epoch, a.epochs_run) != (b.best_epoch, b.epochs_run)
                 for a, b in zip(results_a, results_b, strict=True))
    return {"weights_rel": weights, "val_loss_rel": losses, "models_with_other_epochs": epochs}


def check(name: str, diff: dict[str, float], noise: float = 0.0, **extra) -> dict:
    tolerance = max(TOLERANCE[name], 10 * noise)
    ok = diff["weights_rel"] <= tolerance and diff["val_loss_rel"] <= tolerance
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
        graphed = group(arch, padding, args.device, torch.float32, d)
        noise = 0.0
        if cuda:
            again = group(arch, padding, args.device, torch.float32, d)
            gap = difference([r.model for r in graphed], [r.result for r in graphed],
                             [r.model for r in again], [r.result for r in again])
            noise = max(gap["weights_rel"], gap["val_loss_rel"])
            rows.append({"check": "noise", **gap, **shape, "ok": True})
            print(json.dumps(rows[-1]), flush=True)
            eager = group(arch, padding, args.device, torch.float32, d, cuda_graph=False)
            rows.append(check("graph_vs_eager", difference([r.model for r in graphed], [r.result for r in graphed],
                                                           [r.model for r in eager], [r.result for r in eager]),
                              noise, graphs=all(r.cuda_graph for r in graphed), **shape))
        for dtype, name, alone_device in ((torch.float64, "fused_vs_alone_float64", "cpu"),
                                          (torch.float32, "fused_vs_alone_float32", args.device)):
            together = graphed if dtype == torch.float32 else group(arch, padding, args.device, dtype, d)
            singles = [alone(arch, padding, m, alone_device, dtype, d) for m in MEMBERS]
            rows.append(check(name, difference([r.model for r in together], [r.result for r in together],
                                               [m for m, _ in singles], [r for _, r in singles]),
                              noise if dtype == torch.float32 else 0.0, graphs=not cuda or all(r.cuda_graph for r in together), **shape))
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
                                               [r.model for r in graphed], [r.result for r in graphed]), noise, **shape))
    result = {"device": torch.cuda.get_device_name(0) if cuda else "cpu", "torch": torch.__version__,
              "numerics": fused.numerics(torch.device(args.device)), "checks": rows,
              "ok": all(row["ok"] for row in rows)}
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("all checks passed" if result["ok"] else "SOME CHECKS FAILED", flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
