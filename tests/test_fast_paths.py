"""The fast paths on the CPU: CUDA graphs' clear errors and the comparison that test_cuda.py's graph-vs-eager
test makes, regional compile (every region compiled; the compiled step against eager through inductor)."""

from __future__ import annotations

import pytest
import torch

import icezoo
from icezoo.bench.recipes import _inputs
from icezoo.errors import IcezooError
from icezoo.train.compiling import compile_regions, repeated_blocks
from icezoo.train.graphs import _where, capture_error
from icezoo.train.objective import Objective
from icezoo.train.step import GANStep, make_optimizers
from icezoo.train.trainer import Trainer

from .conftest import RECIPES
from .helpers import cancelled_biases, training_mismatches
from .test_eval import SMALL, TINY


def test_cuda_graphs_on_the_cpu_is_one_clear_error():
    recipe = icezoo.load_recipe(SMALL, TINY + ["train.cuda_graphs=true", "train.device=cpu"])
    with pytest.raises(IcezooError, match=r"^train.cuda_graphs: needs a CUDA device, the step runs on cpu$"):
        Trainer(recipe, progress=False)


def test_a_capture_error_names_the_line_of_the_component():
    def component_that_syncs():
        raise RuntimeError("operation not permitted when stream is capturing\nmore")

    try:
        component_that_syncs()
    except RuntimeError as err:
        assert (
            _where(err)
            == f"tests/test_fast_paths.py:{component_that_syncs.__code__.co_firstlineno + 1} in component_that_syncs"
        )


class FakeCapture:
    """Behaves as ``torch.cuda.graph`` does when the captured code fails: leaving, it raises an error of its own."""

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is not None:
            torch.ones(1).view(-1, 3)  # an error from inside torch, raised while the first is handled


def test_an_error_inside_capture_is_reported_with_its_own_message_and_line():
    def component_that_syncs():
        raise RuntimeError("CUDA error: operation not permitted when stream is capturing\nmore")

    line = component_that_syncs.__code__.co_firstlineno + 1
    with pytest.raises(RuntimeError, match="shape") as caught, FakeCapture():
        component_that_syncs()
    assert "operation not permitted" not in str(caught.value)  # what capture() catches names the exit's failure
    message = str(capture_error(caught.value))
    assert message == (
        "train.cuda_graphs: the step cannot be captured (CUDA error: operation not permitted when stream is "
        f"capturing) at tests/test_fast_paths.py:{line} in component_that_syncs; set train.cuda_graphs: false"
    )


def test_regional_compile_picks_the_repeated_blocks_and_keeps_the_weights_names():
    recipe = icezoo.load_recipe(SMALL, TINY)
    with torch.device("meta"):
        model = icezoo.build_model(recipe)
    keys = list(model.state_dict())
    blocks = repeated_blocks(model)
    assert {b.rsplit(".", 1)[0] for b in blocks} >= {"generator.down", "generator.bridges", "generator.up"}
    assert not any(a.startswith(b + ".") for a in blocks for b in blocks)  # outermost only
    assert compile_regions(model) == blocks and list(model.state_dict()) == keys
    assert all(model.get_submodule(b)._compiled_call_impl is not None for b in blocks)
    assert getattr(model.discriminator, "_compiled_call_impl", None) is None  # the glue stays eager


class GraphCounter:
    """A dynamo backend that runs each graph eagerly and records the tensors it was compiled for."""

    def __init__(self):
        self.frames, self.inputs = 0, set()

    def __call__(self, gm, example_inputs):
        self.frames += 1
        self.inputs.update(id(t) for t in example_inputs if isinstance(t, torch.Tensor))
        return gm.forward


def _regional_step(recipe, backend):
    torch.manual_seed(0)
    model = icezoo.build_model(recipe)
    objective = Objective(recipe.loss, model.discriminator.head, recipe.model.in_channels)
    regions = {}
    for prefix, part in (("generator.", model.generator), ("discriminator.", model.discriminator)):
        regions |= {prefix + n: part.get_submodule(n) for n in compile_regions(part, backend=backend, prefix=prefix)}
    return model, GANStep(model, objective, *make_optimizers(model, recipe.train)), regions


@pytest.mark.parametrize(
    "path, overrides, count",
    [pytest.param(RECIPES / "icegan.yaml", [], 21, marks=pytest.mark.slow)],  # tiny: the recipe-keys test below
    ids=["paper-size"],
)
def test_every_region_is_compiled_each_on_its_own(path, overrides, count):
    # nn.Module.compile gave all regions one code object and one recompile limit: the later ones ran eager
    # (3 of the tiny model's 15 regions, 8 of the paper-sized model's 21: generator.bridges.3, up.2-6, D's
    # trunk and decoder). Counted: every region's weights enter a compiled graph.
    recipe = icezoo.load_recipe(path, [*overrides, "train.batch_size=2"])
    counter = GraphCounter()
    model, step, regions = _regional_step(recipe, counter)
    inputs = _inputs(model, 2, torch.device("cpu"), False)
    step(*inputs)
    eager = [n for n, r in regions.items() if not all(id(p) in counter.inputs for p in r.parameters())]
    assert len(regions) == count and eager == []
    assert counter.frames >= len(regions)
    codes = {r._compiled_call_impl.__func__._torchdynamo_orig_callable.__code__ for r in regions.values()}
    assert len(codes) == len(regions)  # a code object (and so a recompile limit) each
    frames = counter.frames
    step(*inputs)
    assert counter.frames == frames  # the second step reuses every graph: nothing recompiled


def test_the_recipe_keys_compile_every_region_through_the_step(monkeypatch):
    # train.compile + compile_scope: regional as a run takes them (recipe -> Trainer -> GANStep), with inductor
    # swapped for a backend that runs each graph eagerly: seconds, not the slow test's minutes. The regions are
    # those docs/training.md promises: encoder and decoder stages, reasoning blocks, D's trunk and decoder.
    from torch._dynamo.utils import counters

    counter, compile = GraphCounter(), torch.compile
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: compile(fn, **{**kw, "backend": counter}))
    sets = ["train.batch_size=2", "train.compile=true", "train.compile_scope=regional"]
    torch._dynamo.reset()
    counters.clear()
    trainer = Trainer(icezoo.load_recipe(SMALL, TINY + sets), progress=False)
    model, step = trainer.model, trainer.step_fn
    parts = {"generator.": model.generator, "discriminator.": model.discriminator}
    regions = {p + n: part.get_submodule(n) for p, part in parts.items() for n in repeated_blocks(part)}
    promised = {"generator.down", "generator.bridges", "generator.up", "discriminator.trunk", "discriminator.head"}
    assert {n.rsplit(".", 1)[0] for n in regions} == promised and len(regions) == 15
    compiled = {n for n, r in regions.items() if hasattr(r._compiled_call_impl, "_torchdynamo_orig_callable")}
    assert compiled == set(regions)
    codes = {r._compiled_call_impl.__func__._torchdynamo_orig_callable.__code__ for r in regions.values()}
    assert len(codes) == len(regions)  # a code object (and so a recompile limit) each
    assert step.gen is model.generator and step.disc is model.discriminator  # the glue stays eager, G and D whole
    assert all(getattr(part, "_compiled_call_impl", None) is None for part in parts.values())
    step(*trainer.batch(0))
    eager = [n for n, r in regions.items() if not all(id(p) in counter.inputs for p in r.parameters())]
    graphs = counters["stats"]["unique_graphs"]
    assert eager == [] and graphs >= counter.frames >= len(regions)
    step(*trainer.batch(1))
    assert counters["stats"]["unique_graphs"] == graphs  # nothing recompiled in the second step


def test_graph_comparison_tolerates_rounding_noise_and_catches_a_wrong_update():
    # the CUDA-graph test's comparison (test_cuda.py), checked where it can be: two eager runs that round as the
    # graphed (fp32 tensor lr) and eager (Python float lr) steps do. The biases that a following instance norm
    # cancels get rounding-noise gradients, so their Adam updates disagree completely; the rest agree.
    recipe = icezoo.load_recipe(SMALL, TINY + ["train.batch_size=4"])
    a, b = Trainer(recipe, progress=False), Trainer(recipe, progress=False)
    for opt in b.optimizers:
        for group in opt.param_groups:
            group["lr"], group["foreach"] = torch.tensor(group["lr"]), False
    start = {k: v.clone() for k, v in a.model.state_dict().items()}
    steps = 3
    for i in range(steps):
        batch = a.batch(i)
        a.step_fn(*batch)
        b.step_fn(*batch)
    cancelled = cancelled_biases(a.model)
    grads = {n: p.grad for n, p in a.model.named_parameters()}
    assert len(cancelled) == 7 and all(grads[n].norm() < 1e-6 < grads[n.replace("bias", "parametrizations.weight.original")].norm() for n in cancelled)  # fmt: skip
    kw = {"lr": recipe.train.lr, "steps": steps, "betas": recipe.train.betas}
    naive = training_mismatches(a.model, b.model, start, **kw)
    assert naive and set(naive) <= cancelled  # without the floor, exactly the noise fails
    assert training_mismatches(a.model, b.model, start, cancelled=cancelled, **kw) == []

    params = dict(b.model.named_parameters())
    name = "generator.up.1.1.parametrizations.weight.original"
    weight, bias = params[name], params[sorted(cancelled)[0]]
    saved = weight.detach().clone(), bias.detach().clone()
    perturbations = {
        "one update 1% long": lambda: weight.copy_(start[name] + (saved[0] - start[name]) * 1.01),
        "one element one lr off": lambda: weight.view(-1)[7].add_(recipe.train.lr),
        "a cancelled bias beyond Adam's reach": lambda: bias.view(-1)[0].add_(10 * steps * recipe.train.lr),
    }
    for what, perturb in perturbations.items():
        with torch.no_grad():
            perturb()
            wrong = training_mismatches(a.model, b.model, start, cancelled=cancelled, **kw)
            weight.copy_(saved[0]), bias.copy_(saved[1])
        assert wrong == [name if "bias" not in what else sorted(cancelled)[0]], what


@pytest.mark.slow
def test_regional_compiled_steps_equal_the_eager_steps_through_inductor():
    # the path a user takes (train.compile_scope: regional), compiled by the real inductor on the CPU: two steps
    # against eager from the same seed. Losses within 1e-4 relative (inductor fuses and reorders fp32 sums), the
    # weights as test_cuda compares the graphed step's; every region compiled once, nothing recompiled in step 2.
    from torch._dynamo.utils import counters

    base = TINY + ["train.batch_size=2"]
    eager = Trainer(icezoo.load_recipe(SMALL, base), progress=False)
    recipe = icezoo.load_recipe(SMALL, base + ["train.compile=true", "train.compile_scope=regional"])
    torch._dynamo.reset()
    counters.clear()
    compiled = Trainer(recipe, progress=False)
    start = {k: v.clone() for k, v in compiled.model.state_dict().items()}
    graphs = []
    for i in range(2):
        batch = compiled.batch(i)
        terms, reference = compiled.step_fn(*batch), eager.step_fn(*batch)
        assert set(terms) == set(reference)
        for key in terms:
            torch.testing.assert_close(terms[key], reference[key], rtol=1e-4, atol=1e-6, msg=f"step {i}: {key}")
        graphs.append(counters["stats"]["unique_graphs"])
    regions = [n for part in (compiled.model.generator, compiled.model.discriminator) for n in repeated_blocks(part)]
    assert graphs[0] >= len(regions) == 15 and graphs[1] == graphs[0]
    assert counters["inductor"]["fxgraph_cache_miss"] + counters["inductor"]["fxgraph_cache_hit"] >= len(regions)
    cfg = recipe.train
    mismatched = training_mismatches(compiled.model, eager.model, start, lr=cfg.lr, steps=2, betas=cfg.betas,
                                     cancelled=cancelled_biases(eager.model))  # fmt: skip
    assert mismatched == []


# Every torch API the GPU paths (CUDA graphs, regional compile, the benchmarks) call, with the release it came in.
# The lent GPU runs torch 2.11, the package declares torch>=2.4: each must resolve in the installed torch (the GPU
# session runs this test there) and be no newer than the declared minimum.
GPU_PATH_APIS = {
    "torch.cuda.CUDAGraph": "1.10", "torch.cuda.graph": "1.10", "torch.cuda.Stream": "1.0",
    "torch.cuda.stream": "1.0", "torch.cuda.get_rng_state": "1.0", "torch.cuda.set_rng_state": "1.0",
    "torch.cuda.max_memory_reserved": "1.4", "torch.cuda.reset_peak_memory_stats": "1.4",
    "torch.cuda.OutOfMemoryError": "1.13", "torch.compiler.cudagraph_mark_step_begin": "2.1",
    "torch._foreach_copy_": "2.1", "torch._foreach_lerp_": "2.0", "torch.compile": "2.0",
    "torch.nn.Module.compile": "2.2", "torch.nn.Module._compiled_call_impl": "2.2",
    "torch.utils.flop_counter.FlopCounterMode": "2.1",
    "torch.optim.lr_scheduler.LambdaLR": "1.0",  # fills a tensor lr in place from 2.4 (pytorch#123753)
}  # fmt: skip


def test_the_gpu_paths_use_only_apis_of_the_declared_minimum_torch():
    import importlib
    import re

    from .conftest import REPO

    declared = re.search(r'"torch>=([0-9.]+)"', (REPO / "pyproject.toml").read_text()).group(1)
    as_tuple = lambda v: tuple(int(x) for x in v.split("."))  # noqa: E731
    missing = []
    for name, since in GPU_PATH_APIS.items():
        assert as_tuple(since) <= as_tuple(declared), f"{name} needs torch {since}, the package declares {declared}"
        module, *attrs = name.split(".")
        obj = importlib.import_module(module)
        for i, attr in enumerate(attrs):
            try:
                obj = getattr(obj, attr)
            except AttributeError:
                try:
                    obj = importlib.import_module(".".join([module, *attrs[: i + 1]]))
                except ImportError:
                    missing.append(name)
                    break
    assert missing == [], f"not in torch {torch.__version__}: {missing}"
    # Adam takes a device-tensor lr, fused and capturable (the CUDA-graph step), from torch 2.1 (pytorch#106916);
    # the scheduler must fill it in place
    cuda = torch.cuda.is_available()  # capturable and fused need CUDA; on the CPU the single-tensor form
    weight = torch.zeros(1, requires_grad=True, device="cuda" if cuda else "cpu")
    lr = torch.tensor(1e-3, device=weight.device)
    opt = torch.optim.Adam([weight], lr=lr, capturable=cuda, fused=cuda or None, foreach=False if not cuda else None)
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5 / (1 + step))
    weight.sum().backward()
    opt.step()
    scheduler.step()
    assert opt.param_groups[0]["lr"] is lr and lr.item() == pytest.approx(2.5e-4)  # filled in place, not replaced
