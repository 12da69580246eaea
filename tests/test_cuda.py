"""CUDA correctness: the same checks as on the CPU, on the GPU, in fp32, bf16 autocast and compiled.

Skipped where there is no CUDA device (conftest marks them).
"""

from __future__ import annotations

import pytest
import torch

import icezoo
from icezoo.nn.capsules import RoutingLayer, squash
from icezoo.nn.generators import IdentityUNet
from icezoo.nn.reasoning import GraphReasoning, GraphReasoningEinsum
from icezoo.registry import registry
from icezoo.train.trainer import Trainer

from .conftest import RECIPES
from .helpers import (
    cancelled_biases,
    loss_errors,
    params_without_grad,
    randomize_,
    relative_error,
    training_mismatches,
    weighted_sum,
)

pytestmark = pytest.mark.cuda
CUDA = torch.device("cuda")
BLOCKS = [{"type": "skip"}, {"type": "se"}, {"type": "grm"}, {"type": "grm", "layer": "gcn"}, {"type": "grm_einsum"},
          {"type": "grm", "supernodes": 4, "reduction": 2}, {"type": "grm_release"}]  # fmt: skip


@pytest.fixture(autouse=True)
def exact_fp32():
    """Compare in true fp32: TF32 matrix units off for these tests."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.parametrize("layer", ["gin", "gcn"])
@pytest.mark.parametrize("channels, size", [(64, 64), (512, 2), (128, 9)])
def test_pyg_grm_equals_einsum_on_cuda(layer, channels, size):
    # ||a - b|| / ||b||: at 512 x 2 x 2 the instance norm over four positions magnifies rounding
    # (2e-4 absolute on the CPU as well) while the norm-wise error stays under 1e-5
    pyg = randomize_(GraphReasoning(channels, layer=layer), seed=channels, std=0.05).to(CUDA)
    x = torch.randn(4, channels, size, size, device=CUDA)
    ref = GraphReasoningEinsum.from_module(pyg)
    x = x.requires_grad_(True)
    x_ref = x.detach().clone().requires_grad_(True)
    out, out_ref = pyg(x), ref(x_ref)
    assert relative_error(out, out_ref) < 1e-5
    g = torch.randn_like(out)
    out.backward(g)
    out_ref.backward(g)
    assert relative_error(x.grad, x_ref.grad) < 1e-5
    assert relative_error(pyg.adjacency.grad, ref.adjacency.grad) < 1e-5


def test_cuda_matches_cpu():
    cpu = randomize_(GraphReasoning(32), seed=1)
    x = torch.randn(2, 32, 8, 8)
    gpu = GraphReasoning(32).to(CUDA)
    gpu.load_state_dict(cpu.state_dict())
    torch.testing.assert_close(gpu(x.to(CUDA)).cpu(), cpu(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("spec", BLOCKS, ids=lambda s: "-".join(map(str, s.values())))
def test_blocks_gradients_bf16_and_compile_on_cuda(spec):
    torch.manual_seed(0)
    block = registry.build("reasoning", spec, channels=64).to(CUDA)
    x = torch.randn(4, 64, 16, 16, device=CUDA, requires_grad=True)
    assert params_without_grad(block, weighted_sum(block(x))) == []
    with torch.no_grad():
        ref = block(x)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            low = block(x)
        assert relative_error(low.float(), ref) < 3e-2  # against the fp32 twin (a NaN fails it too)
        if spec["type"] in ("grm", "grm_einsum", "grm_release"):  # compiling every variant costs minutes of device time
            from torch._dynamo.utils import counters

            counters.clear()
            compiled = torch.compile(block)
            out = compiled(x)
            frames = counters["frames"]["ok"]
            assert frames > 0, dict(counters["frames"])  # dynamo compiled it (not a silent fall-back to eager)
            torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
            compiled(x)
            assert counters["frames"]["ok"] == frames  # the second call replays: nothing recompiled


def test_generator_on_cuda_bf16_and_gradients():
    gen = IdentityUNet(image_size=64, width=16, reasoning="grm").to(CUDA)
    x, z = torch.rand(4, 1, 64, 64, device=CUDA) * 2 - 1, torch.randn(4, 100, device=CUDA)
    c = torch.eye(3, device=CUDA)[torch.tensor([0, 1, 2, 0], device=CUDA)]
    assert params_without_grad(gen, weighted_sum(gen(x, z, c))) == []
    with torch.no_grad():
        ref = gen(x, z, c)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = gen(x, z, c)
    assert out.shape == (4, 1, 64, 64)
    assert 0 < relative_error(out.float(), ref) < 5e-2  # against the fp32 twin: near, and autocast did run


def test_routing_batched_equals_per_sample_on_cuda():
    layer = RoutingLayer(128, 16, 3, 32, init_std=0.1).to(CUDA)
    u = squash(torch.randn(8, 128, 16, device=CUDA))
    torch.testing.assert_close(layer(u), torch.cat([layer(u[i : i + 1]) for i in range(8)]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("precision, compile", [("fp32", False), ("bf16", False), ("bf16", True)])
def test_training_on_cuda(precision, compile, tmp_path):
    """Against twins: bf16 against fp32 on CUDA, compiled bf16 against eager bf16 (dynamo's frames counted)."""
    from .helpers import twin_runs

    cuda = ["train.device=cuda", "model.image_size=32", "train.batch_size=8"]
    if precision == "fp32":  # the reference of the other two, itself against a CPU twin: the same weights, and the
        # batch and noise drawn on the GPU handed to both (each device draws its own otherwise)
        gpu, cpu = (Trainer(icezoo.load_recipe(RECIPES / "icegan_small.yaml", [*cuda, f"train.device={d}"]), None,
                            progress=False) for d in ("cuda", "cpu"))  # fmt: skip
        start = {k: v.clone() for k, v in cpu.model.state_dict().items()}
        assert all(torch.equal(v.cpu(), start[k]) for k, v in gpu.model.state_dict().items())
        batch = gpu.batch(0)
        terms, ref = gpu.step_fn(*batch), cpu.step_fn(*(t.cpu() for t in batch))
        errors = loss_errors([{k: v.item() for k, v in terms.items()}], [{k: v.item() for k, v in ref.items()}])
        assert errors and max(errors.values()) < 1e-4, errors  # fp32 on both (TF32 off): rounding apart
        cfg = cpu.recipe.train
        lr = max(x for x in (cfg.lr, cfg.lr_g, cfg.lr_d) if x is not None)
        moved = [k for k, v in cpu.model.state_dict().items() if v.is_floating_point() and not torch.equal(v, start[k])]
        assert len(moved) > len(start) // 2  # the step trained, and alike on both devices:
        assert training_mismatches(gpu.model.cpu(), cpu.model, start, lr=lr, steps=1, betas=cfg.betas,
                                   cancelled=cancelled_biases(cpu.model)) == []  # fmt: skip
        return
    if not compile:  # bf16 has 8 bits of mantissa: its losses within a few percent of fp32's, and not equal
        run, twin, start = twin_runs(RECIPES / "icegan_small.yaml", cuda, ["train.precision=bf16"], steps=2)
        tolerance = 0.05
        assert max(loss_errors(run.history, twin.history).values()) > 1e-6  # autocast ran
    else:  # torch.compile of the bf16 step against the eager bf16 step
        from torch._dynamo.utils import counters

        counters.clear()
        seen = []
        run, twin, start = twin_runs(RECIPES / "icegan_small.yaml", [*cuda, "train.precision=bf16"],
                                     ["train.compile=true"], steps=2,
                                     on_step=lambda t: seen.append(sum(counters["frames"].values())))  # fmt: skip
        assert seen[0] > 0 and seen[1] == seen[0], seen  # compiled at step 1, nothing recompiled at step 2
        tolerance = 0.02
    errors = loss_errors(run.history, twin.history)
    assert max(errors.values()) < tolerance, errors
    moved = [
        k
        for k, v in run.model.state_dict().items()
        if v.is_floating_point() and not torch.equal(v.cpu(), start[k].cpu())
    ]
    assert len(moved) > len(start) // 2  # the steps trained


def test_full_size_icegan_step_on_cuda():
    """The paper-sized step in bf16 against its fp32 twin (same weights, batch and noise): the first losses agree."""
    from .helpers import twin_runs

    run, twin, _ = twin_runs(RECIPES / "icegan.yaml", ["train.device=cuda"], ["train.precision=bf16"], steps=2)
    errors = loss_errors(run.history, twin.history)
    assert 1e-6 < max(errors.values()) < 0.05, errors  # autocast ran, and stayed within bf16's few percent


def _graphed_and_eager(overrides: list[str]) -> tuple[Trainer, Trainer]:
    base = ["train.device=cuda", "train.batch_size=16", *overrides]
    graphed = Trainer(
        icezoo.load_recipe(RECIPES / "icegan_small.yaml", base + ["train.cuda_graphs=true"]), progress=False
    )
    eager = Trainer(icezoo.load_recipe(RECIPES / "icegan_small.yaml", base), progress=False)
    return graphed, eager


@pytest.mark.parametrize("fake_labels", ["random", "clip"])
def test_cuda_graph_step_equals_the_eager_step(fake_labels):
    # the same first steps, eager with the noise and classes the graph drew: the same losses and weights up to rounding
    graphed, eager = _graphed_and_eager([f"loss.fake_labels={fake_labels}"])
    start = {k: v.clone() for k, v in eager.model.state_dict().items()}  # the graphed run starts from these too
    draws = []
    for step in range(4):
        onset, apex, labels, _, _ = graphed.batch(step)
        terms = {k: v.clone() for k, v in graphed.step_fn(onset, apex, labels).items()}
        z, asked = graphed.step_fn.static["z"].clone(), graphed.step_fn.static["asked"].clone()
        draws.append(z)
        reference = eager.step_fn(onset, apex, labels, z, asked)
        assert set(terms) == set(reference)
        tol = (
            {"rtol": 1e-4, "atol": 1e-6} if step == 0 else {"rtol": 2e-3, "atol": 1e-4}
        )  # later: Adam amplifies rounding
        for key in terms:
            torch.testing.assert_close(terms[key], reference[key], **tol, msg=f"step {step}: {key}")
        for sched in graphed.schedulers + eager.schedulers:
            sched.step()
    assert not torch.equal(draws[0], draws[1])  # each replay draws fresh noise
    assert graphed.optimizers[0].param_groups[0]["lr"].item() == pytest.approx(eager.schedulers[0].get_last_lr()[0])
    # updates within 1e-3 norm-wise; the biases that an instance norm cancels (gradient zero by construction,
    # updates noise of Adam's size) within Adam's bound (helpers.training_mismatches; its CPU check in
    # test_fast_paths shows a perturbed update failing it)
    cfg = eager.recipe.train
    lr = max(x for x in (cfg.lr, cfg.lr_g, cfg.lr_d) if x is not None)
    cancelled = cancelled_biases(eager.model)
    assert training_mismatches(graphed.model, eager.model, start, lr=lr, steps=4, betas=cfg.betas,
                               cancelled=cancelled) == []  # fmt: skip


def test_cuda_graph_training_matches_an_eager_twin():
    """The Trainer's graphed run (its loop, schedulers and logged windows, 20 steps) against an eager twin fed,
    step by step, the batch, noise and classes each replay drew; the logged means agree."""
    graphed, eager = _graphed_and_eager(["train.max_steps=20", "train.log_every=5"])
    replay, twin = graphed.step_fn, []

    def both(*batch):
        terms = replay(*batch)
        z, asked = replay.static["z"].clone(), replay.static["asked"].clone()
        twin.append({k: v.item() for k, v in eager.step_fn(*batch[:3], z, asked).items()})
        for sched in eager.schedulers:  # as the Trainer steps the graphed run's, after the step
            sched.step()
        return terms

    graphed.step_fn = both
    result = graphed.run()
    assert result.step == 20 and len(result.history) == 4
    for i, row in enumerate(result.history):  # each row: the mean of its 5 steps
        window = twin[5 * i : 5 * i + 5]
        means = {k: sum(t[k] for t in window) / len(window) for k in window[0]}
        errors = loss_errors([row], [means])
        assert errors and max(errors.values()) < (1e-3 if i == 0 else 1e-2), (i, errors)  # a NaN fails too


def test_a_component_that_syncs_with_the_host_is_named():
    graphed, _ = _graphed_and_eager([])
    trunk = graphed.model.discriminator.trunk
    forward = trunk.forward

    def host_sync(x):
        if x.abs().sum().item() < 0:  # .item() waits for the GPU: not allowed while capturing
            raise AssertionError
        return forward(x)

    trunk.forward = host_sync
    with pytest.raises(icezoo.IcezooError, match=r"train.cuda_graphs: the step cannot be captured .* in host_sync"):
        graphed.step_fn(*graphed.batch(0)[:3])


@pytest.mark.parametrize("name", ["ststnet", "dual_inception", "capsulenet", "emr_approx"])
def test_table1_networks_on_cuda_match_the_cpu_and_train_under_bf16(name):
    """Each Table I network: its CUDA forward is its CPU forward (fp32), and a bf16 training step through the fold
    loop's own loss and optimiser sends a finite gradient to every parameter."""
    from icezoo.recognition import build_baseline
    from icezoo.recognition.fit import adam_for, training_loss

    recipe = icezoo.load_recipe(RECIPES / "table1" / f"{name}.yaml")
    model = build_baseline(recipe)
    net = model.recogniser.eval()
    x = torch.rand(4, *model.in_shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        cpu = net(x)
        gpu = net.to(CUDA)(x.to(CUDA)).cpu()
    assert relative_error(gpu, cpu) < 1e-4
    loss_fn = registry.build("loss", recipe.loss.classification)
    optimizer = adam_for(net.train(), recipe.train)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = net(x.to(CUDA))
    loss = training_loss(out, torch.tensor([0, 1, 2, 0], device=CUDA), loss_fn)
    assert torch.isfinite(loss) and not params_without_grad(net, loss)
    optimizer.step()


def test_training_views_on_cuda_are_the_cpus():
    from icezoo.config.schema import TrainConfig
    from icezoo.recognition.augment import TrainingViews

    views = TrainingViews(TrainConfig(augment_rotation=8.0, augment_flip=True, augment_jitter=(0.2, 0.2)),
                          stored=(1, 234, 240), out=(1, 224, 224), value_range=(0.0, 1.0))  # fmt: skip
    x = torch.rand(8, 1, 234, 240)
    torch.testing.assert_close(views(x.to(CUDA), 5).cpu(), views(x, 5), atol=1e-4, rtol=0)
