"""Test helpers shared by several test modules."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn


def randomize_(module: nn.Module, seed: int = 0, std: float = 0.1) -> nn.Module:
    """Overwrite every parameter with N(0, std) noise (so equivalence is not tested on a special init)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)
    return module


def params_without_grad(module: nn.Module, loss: torch.Tensor) -> list[str]:
    """Names of trainable parameters whose gradient is missing or all zeros after ``loss.backward()``."""
    loss.backward()
    return [
        n for n, p in module.named_parameters() if p.requires_grad and (p.grad is None or not torch.any(p.grad != 0))
    ]


def weighted_sum(out: torch.Tensor, seed: int = 1) -> torch.Tensor:
    """A loss that depends on every output element differently (a plain sum hides normalised branches)."""
    g = torch.Generator().manual_seed(seed)
    return (out * torch.randn(out.shape, generator=g).to(out)).sum()


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b|| / ||b||: the error measure for tensors summed in different orders."""
    return ((a.double() - b.double()).norm() / b.double().norm().clamp(min=1e-30)).item()


_MEAN_REMOVING = (nn.GroupNorm, nn.InstanceNorm2d, nn.BatchNorm2d)


def cancelled_biases(model: nn.Module) -> set[str]:
    """Biases whose gradient is zero by construction: that of a layer followed directly (in a ``Sequential``)
    by a norm that subtracts each channel's mean (instance norm, written as ``GroupNorm(C, C)``; batch norm).

    Their gradient is rounding noise (1e-10..1e-8), so Adam's updates of them are noise of the size of the
    learning rate, differing completely between two runs that round differently.
    """
    found = set()
    for name, seq in model.named_modules():
        if isinstance(seq, nn.Sequential):
            children = list(seq.named_children())
            for (first, layer), (_, norm) in zip(children, children[1:]):
                per_channel = not isinstance(norm, nn.GroupNorm) or norm.num_groups == norm.num_channels
                if getattr(layer, "bias", None) is not None and isinstance(norm, _MEAN_REMOVING) and per_channel:
                    found.add(f"{name}.{first}.bias" if name else f"{first}.bias")
    return found


def adam_step_bound(lr: float, betas: tuple[float, float]) -> float:
    """The most one Adam step moves an element: lr * max(1, (1 - beta1) / sqrt(1 - beta2)) (Kingma & Ba, 2.1)."""
    return lr * max(1.0, (1 - betas[0]) / (1 - betas[1]) ** 0.5)


def training_mismatches(
    a: nn.Module,
    b: nn.Module,
    start: dict[str, torch.Tensor],
    *,
    lr: float,
    steps: int,
    betas: tuple[float, float] = (0.9, 0.999),
    rtol: float = 1e-3,
    cancelled: set[str] = frozenset(),
) -> list[str]:
    """The state entries in which ``a`` and ``b``, both trained with Adam from ``start`` for ``steps`` steps, differ.

    A parameter's update (its change from ``start``) must agree norm-wise:
    ``||da - db|| <= rtol * max(||db||, steps * lr * sqrt(numel))``, the floor being the norm of ``steps`` plain
    Adam steps of ``lr`` each (where the update is smaller, it is held to that, not to rounding). The
    ``cancelled`` biases (:func:`cancelled_biases`), whose updates are noise by construction, only within
    Adam's bound: no element of the two apart by more than ``2 * steps * adam_step_bound``. Buffers (batch-norm
    statistics, spectral-norm vectors) within ``rtol`` relative error; integer buffers equal.
    """
    bound = steps * adam_step_bound(lr, betas)
    params = {n for n, _ in a.named_parameters()}
    out = []
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        if not x.is_floating_point():
            ok = torch.equal(x, y)
        elif name in cancelled:
            ok = (x.double() - y.double()).abs().max().item() <= 2 * bound
        elif name in params:
            dx, dy = x.double() - start[name].double(), y.double() - start[name].double()
            ok = (dx - dy).norm().item() <= rtol * max(dy.norm().item(), steps * lr * dy.numel() ** 0.5)
        else:
            ok = relative_error(x.float(), y.float()) < rtol
        if not ok:
            out.append(name)
    return out


def twin_runs(recipe_path, base: list[str], variant: list[str], steps: int = 2, on_step=None):
    """Train ``base + variant`` and ``base`` alone (the twin) from the same initial weights for ``steps`` steps.

    Returns (variant trainer, twin trainer, the common initial state). ``on_step(trainer)`` is called after
    each of the variant's steps (to read dynamo's counters, say).
    """
    import icezoo
    from icezoo.train.trainer import Trainer

    common = [*base, f"train.max_steps={steps}", "train.log_every=1"]
    twin = Trainer(icezoo.load_recipe(recipe_path, common), None, progress=False)
    start = {k: v.detach().clone() for k, v in twin.model.state_dict().items()}
    trainer = Trainer(icezoo.load_recipe(recipe_path, [*common, *variant]), None, progress=False)
    assert all(torch.equal(v.cpu(), start[k].cpu()) for k, v in trainer.model.state_dict().items()), (
        "not the same start"
    )
    if on_step is not None:
        inner = trainer.step_fn

        def step(*batch):
            out = inner(*batch)
            on_step(trainer)
            return out

        trainer.step_fn = step
    trainer.run()
    twin.run()
    return trainer, twin, start


def loss_errors(a: list[dict[str, float]], b: list[dict[str, float]], step: int = 0) -> dict[str, float]:
    """Relative differences of the loss terms (``*_total`` and the terms) of two histories' row ``step``."""
    terms = [k for k in b[step] if k.startswith(("d_", "g_"))]
    return {k: abs(a[step][k] - b[step][k]) / max(abs(b[step][k]), 1e-8) for k in terms}


@pytest.fixture(autouse=True)
def fresh_feature_cache(tmp_path, monkeypatch):
    """Each test its own feature cache folder, and nothing remembered from another test (autouse where imported)."""
    from icezoo.inputs import cache

    monkeypatch.setenv("ICEZOO_CACHE", str(tmp_path / "cache"))
    cache.forget()
    yield
    cache.forget()


def marked_processes(session: str) -> list[int]:
    """Processes (of this user) whose environment carries one of ``session``'s GPU-session part markers."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            entries = environ.read_bytes().split(b"\0")
        except OSError:
            continue
        if any(e.startswith(f"ICEZOO_SESSION_PART={session}-".encode()) for e in entries):
            found.append(int(environ.parent.name))
    return found
