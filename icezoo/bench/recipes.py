"""Benchmark a recipe: generator forward, discriminator forward, and one whole training step.

The training step is :class:`icezoo.train.step.GANStep`, the very update
``icezoo train`` runs (D then G, Adam), on random inputs already on the
device, so the numbers measure the model and not the data pipeline.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import torch

from ..config.schema import Recipe
from ..devices import autocast
from ..models import GAN, build_model
from ..nn.layers import one_hot
from ..train.objective import Objective
from ..train.step import GANStep, make_optimizers
from .harness import Measurement, measure


def _oom_errors() -> tuple[type[BaseException], ...]:
    return (torch.cuda.OutOfMemoryError,) if torch.cuda.is_available() else ()


def _inputs(model: GAN, batch: int, device: torch.device, channels_last: bool):
    s, c = model.image_size, model.in_channels
    g = torch.Generator(device="cpu").manual_seed(0)
    onset = (torch.rand(batch, c, s, s, generator=g) * 2 - 1).to(device)
    apex = (torch.rand(batch, c, s, s, generator=g) * 2 - 1).to(device)
    labels = torch.randint(model.num_classes, (batch,), generator=g).to(device)
    asked = torch.randint(model.num_classes, (batch,), generator=g).to(device)  # the classes G is asked for
    z = torch.randn(batch, model.noise_dim, generator=g).to(device)
    if channels_last:
        onset, apex = (
            onset.contiguous(memory_format=torch.channels_last),
            apex.contiguous(memory_format=torch.channels_last),
        )
    return onset, apex, labels, z, asked


def bench_recipe(
    recipe: Recipe,
    *,
    device: torch.device,
    batch_sizes: Iterable[int],
    precisions: Iterable[str],
    compile_variants: Iterable[bool] = (False,),
    what: Iterable[str] = ("g", "d", "step"),
    warmup: int = 5,
    iters: int = 20,
    channels_last: bool = False,
    compile_mode: str | None = None,
    name: str | None = None,
) -> list[Measurement]:
    """Measure ``what`` for every batch size, precision and compile variant; a batch that does not fit is skipped."""
    name = name or recipe.name or recipe.source
    results: list[Measurement] = []
    for precision in precisions:
        for compiled in compile_variants:
            too_big = False
            for batch in sorted(batch_sizes):
                if too_big:
                    break
                try:
                    results += _bench_one(
                        recipe,
                        name,
                        device,
                        batch,
                        precision,
                        compiled,
                        tuple(what),
                        warmup,
                        iters,
                        channels_last,
                        compile_mode,
                    )
                except _oom_errors():
                    too_big = True
                    results.append(_skipped(name, batch, precision, compiled, device, "out of memory"))
                finally:
                    if device.type == "cuda":
                        torch.cuda.empty_cache()
    return results


def _skipped(name, batch, precision, compiled, device, reason) -> Measurement:
    from .harness import device_name

    nan = float("nan")
    return Measurement(
        name,
        "skipped",
        batch,
        precision,
        compiled,
        device_name(device),
        nan,
        nan,
        nan,
        nan,
        0,
        nan,
        0,
        nan,
        nan,
        None,
        {"reason": reason},
    )


def _bench_one(
    recipe, name, device, batch, precision, compiled, what, warmup, iters, channels_last, compile_mode
) -> list[Measurement]:
    torch.manual_seed(0)
    if recipe.model.is_baseline:
        return _bench_baseline(recipe, name, device, batch, precision, compiled, what, warmup, iters, compile_mode)
    model = build_model(recipe).to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    onset, apex, labels, z, asked = _inputs(model, batch, device, channels_last)
    common = dict(
        batch=batch,
        device=device,
        precision=precision,
        compiled=compiled,
        warmup=warmup + (2 if compiled else 0),
        iters=iters,
    )
    extra = {"channels_last": channels_last, "compile_mode": compile_mode if compiled else None}
    out = []
    wrap = (lambda m: torch.compile(m, mode=compile_mode)) if compiled else (lambda m: m)
    if "g" in what and model.generator is not None:
        gen = model.generator.eval()
        fast = wrap(gen)
        c = one_hot(labels, model.num_classes)
        x_on = onset if model.uses_onset else None

        def g_call(module):
            with torch.no_grad(), autocast(device, precision):
                return module(x_on, z, c)

        out.append(measure(name, "g forward", lambda: g_call(fast), eager_fn=lambda: g_call(gen), **common, **extra))
        gen.train()
    if "d" in what:
        disc = model.discriminator.eval()
        fast = wrap(disc)

        def d_call(module):
            with torch.no_grad(), autocast(device, precision):
                return module(apex)

        out.append(measure(name, "d forward", lambda: d_call(fast), eager_fn=lambda: d_call(disc), **common, **extra))
        disc.train()
    if "step" in what:
        objective = Objective(recipe.loss, model.discriminator.head, recipe.model.in_channels).to(device)
        opt_g, opt_d = make_optimizers(model, recipe.train)
        eager = GANStep(model, objective, opt_g, opt_d, precision=precision, channels_last=channels_last)
        step = (
            GANStep(
                model,
                objective,
                opt_g,
                opt_d,
                precision=precision,
                channels_last=channels_last,
                compile=compiled,
                compile_mode=compile_mode,
            )
            if compiled
            else eager
        )
        out.append(
            measure(
                name,
                "train step",
                lambda: step(onset, apex, labels, z, asked),
                eager_fn=lambda: eager(onset, apex, labels, z, asked),
                **common,
                **extra,
            )
        )
    del model
    return out


def _bench_baseline(recipe, name, device, batch, precision, compiled, what, warmup, iters, compile_mode):
    """A baseline's rows (:mod:`icezoo.recognition`): its recogniser's forward ("d" asks for it: the part that
    recognises) and a training step (Adam on ``loss.classification``), on random features of its input's shape;
    a scikit-learn estimator is not timed (a skipped row says so)."""
    from ..registry import registry

    model = build_model(recipe)
    out = []
    if "g" in what and precision == "fp32" and not compiled:  # once per batch: numpy and OpenCV, whatever the rest
        from ..errors import IcezooError

        try:
            out.append(_bench_features(recipe, model, name, batch, warmup, iters))
        except IcezooError as err:  # the baselines extra missing (a bare GPU machine): the other rows still run
            out.append(_skipped(name, batch, precision, compiled, torch.device("cpu"), f"input features: {err}"))
    if model.is_estimator:
        return out + [_skipped(name, batch, precision, compiled, device, "a scikit-learn estimator: not timed")]
    net = model.recogniser.to(device)
    g = torch.Generator(device="cpu").manual_seed(0)
    x = torch.rand(batch, *model.in_shape, generator=g).to(device)
    labels = torch.randint(model.num_classes, (batch,), generator=g).to(device)
    common = dict(batch=batch, device=device, precision=precision, compiled=compiled,
                  warmup=warmup + (2 if compiled else 0), iters=iters)  # fmt: skip
    extra = {"compile_mode": compile_mode if compiled else None}
    fast = torch.compile(net, mode=compile_mode) if compiled else net
    if "d" in what:

        def forward(module):
            with torch.no_grad(), autocast(device, precision):
                return module(x)

        net.eval()
        out.append(measure(name, "recogniser forward", lambda: forward(fast), eager_fn=lambda: forward(net), **common,
                           **extra))  # fmt: skip
    if "step" in what:
        from ..recognition.fit import adam_for, training_loss

        loss_fn = registry.build("loss", recipe.loss.classification)
        optimizer = adam_for(net, recipe.train)

        def step(module):
            with autocast(device, precision):
                loss = training_loss(module(x), labels, loss_fn)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        net.train()
        out.append(measure(name, "train step", lambda: step(fast), eager_fn=lambda: step(net), **common, **extra))
    return out


def _bench_features(recipe, model, name, batch, warmup, iters) -> Measurement:
    """A baseline's input (``g``: the stage before its recogniser, as G is before D): ``batch`` clips of the
    recipe's data turned into features on the CPU, never read from the feature cache; ``images_per_s`` is clips/s."""
    from ..data import load_clips

    clips = load_clips(recipe)
    clips = clips.subset(range(min(batch, len(clips))))
    fn = lambda: [model.input.compute(model.input.frames(clips, i)) for i in range(len(clips))]  # noqa: E731
    return measure(name, "input features", fn, batch=len(clips), device=torch.device("cpu"), precision="fp32",
                   compiled=False, warmup=min(warmup, 1), iters=max(1, min(iters, 3)), flops=0,
                   input=recipe.model.input.get("type"), unit="clips/s")  # fmt: skip


@contextlib.contextmanager
def cudnn_autotune(device: torch.device):
    """cuDNN autotuning on CUDA, restored afterwards (TF32 stays at PyTorch's defaults)."""
    saved = torch.backends.cudnn.benchmark
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = saved
