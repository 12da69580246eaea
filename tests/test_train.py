"""Training: Eq. 8's terms, every Table III model steps, exact resumption, safe checkpoints."""

from __future__ import annotations

import csv
import math
import textwrap

import pytest
import torch
import yaml

import icezoo
from icezoo.errors import IcezooError
from icezoo.train.checkpoint import load_checkpoint, save_checkpoint
from icezoo.train.trainer import Trainer

from .conftest import RECIPES

SMALL = RECIPES / "icegan_small.yaml"
# Narrow any recipe the way icegan_small narrows icegan (64x64, few channels).
NARROW = [
    "model.image_size=64", "model.discriminator.trunk.ndf=16", "model.discriminator.head.recon_hidden=[64]",
    "model.discriminator.head.adv_dim=32", "train.batch_size=8", "train.log_every=1",
]  # fmt: skip


def _recipe(path=SMALL, *overrides: str, steps: int = 3):
    return icezoo.load_recipe(path, [f"train.max_steps={steps}", "train.log_every=1", *overrides])


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("name", ["a_discriminator_only", "b_dcgan", "c_encoder_decoder", "d_skip", "e_se", "f_grm"])
def test_table_iii_models_train_a_few_steps(name, tmp_path):
    path = RECIPES / "table3" / f"{name}.yaml"
    has_g = name != "a_discriminator_only"
    overrides = NARROW + (["model.generator.width=16", "model.generator.max_width=64"] if has_g else [])
    trainer = Trainer(_recipe(path, *overrides, steps=2), tmp_path / name, progress=False)
    before_d = _snapshot(trainer.model.discriminator)
    before_g = _snapshot(trainer.model.generator) if has_g else None
    result = trainer.run()
    row = result.history[-1]
    assert result.step == 2 and all(torch.isfinite(torch.tensor(v)) for v in row.values())

    def changed(module, before):
        return any(not torch.equal(v, module.state_dict()[k]) for k, v in before.items() if v.is_floating_point())

    assert changed(trainer.model.discriminator, before_d)
    if has_g:
        assert changed(trainer.model.generator, before_g)
        assert {"d_adv", "d_cls_fake", "g_adv", "g_cls"} <= set(row)
        assert ("g_pixel" in row) == (name != "b_dcgan")  # model B has no onset, hence no L_ip
    else:
        assert set(k for k in row if k.startswith("g_")) == set() and "d_adv" not in row


def test_a_checkpoint_of_the_older_gin_eps_loads_and_resumes_through_icezoos_loaders(tmp_path):
    """GIN's eps was PyG's [1]-shaped buffer before it became 0-dim: such checkpoints load, and resume, as before."""
    out = tmp_path / "run"
    Trainer(_recipe(SMALL, "train.ema_decay=0.9", steps=1), out, progress=False).run()
    new_model, _ = icezoo.load_checkpoint(out / "checkpoint.pt")
    state = load_checkpoint(out / "checkpoint.pt")
    older = [(part, k) for part in ("generator", "generator_ema") for k in state[part] if k.endswith("graph_conv.eps")]
    assert len(older) == 10  # the small ICE-GAN's five GRMs, in G and in its average
    for part, key in older:
        state[part][key] = state[part][key].reshape(1)
    save_checkpoint(out / "checkpoint.pt", state)
    old_model, _ = icezoo.load_checkpoint(out / "checkpoint.pt")
    for part in ("generator", "discriminator"):
        for key, value in getattr(new_model, part).state_dict().items():
            assert torch.equal(getattr(old_model, part).state_dict()[key], value), key
    resumed = Trainer(_recipe(SMALL, "train.ema_decay=0.9", steps=2), out, resume=True, progress=False)
    assert resumed.step == 1 and resumed.run().step == 2


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    full = Trainer(_recipe(steps=6), tmp_path / "full", progress=False)
    full.run()
    first = Trainer(_recipe(steps=3), tmp_path / "split", progress=False)
    first.run()
    second = Trainer(_recipe(steps=6), tmp_path / "split", resume=True, progress=False)
    assert second.step == 3
    second.run()
    for name in ("generator", "discriminator"):
        a, b = getattr(full.model, name).state_dict(), getattr(second.model, name).state_dict()
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), f"{name}.{key}"
    assert full.opt_g.state_dict()["state"][0]["exp_avg"].equal(second.opt_g.state_dict()["state"][0]["exp_avg"])
    assert [r["step"] for r in second.history] == [1, 2, 3, 4, 5, 6]
    assert [r["d_total"] for r in second.history] == [r["d_total"] for r in full.history]


def test_run_folder_contents(tmp_path):
    out = tmp_path / "run"
    Trainer(_recipe(steps=2), out, progress=False).run()
    resolved = yaml.safe_load((out / "recipe.yaml").read_text())
    assert resolved["train"]["max_steps"] == 2 and resolved["model"]["generator"]["reasoning"]["type"] == "grm"
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2] and float(rows[0]["lr"]) > 0 and "g_pixel" in rows[0]
    assert (out / "samples" / "step_0000002.png").stat().st_size > 1000
    assert (out / "curves.png").stat().st_size > 1000
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["step"] == 2 and state["recipe"]["train"]["max_steps"] == 2
    assert not list(out.glob(".*.tmp"))  # no half-written files left behind


def test_existing_run_is_not_overwritten_without_resume(tmp_path):
    Trainer(_recipe(steps=1), tmp_path, progress=False).run()
    with pytest.raises(IcezooError, match="pass --resume"):
        Trainer(_recipe(steps=2), tmp_path, progress=False)


def test_corrupt_checkpoints_fail_with_one_clear_line(tmp_path, cli):
    out = tmp_path / "run"
    Trainer(_recipe(steps=1), out, progress=False).run()
    good = (out / "checkpoint.pt").read_bytes()
    cases = {
        "random bytes": b"\x00\x01not a checkpoint" * 10,
        "truncated": good[: len(good) // 2],
    }
    for label, data in cases.items():
        (out / "checkpoint.pt").write_bytes(data)
        code, _, err = cli("train", SMALL, "--out", out, "--resume", "--set", "train.max_steps=2", "--no-progress")
        assert code == 2, label
        assert (
            len(err.strip().splitlines()) == 1
            and "not a readable checkpoint" in err
            and str(out / "checkpoint.pt") in err
        ), label
    save_checkpoint(out / "checkpoint.pt", {"hello": 1})
    with pytest.raises(IcezooError, match="incomplete or mismatched checkpoint"):
        Trainer(_recipe(steps=2), out, resume=True, progress=False)
    torch.save({"weights": torch.zeros(2)}, out / "checkpoint.pt")
    with pytest.raises(IcezooError, match="not an icezoo checkpoint"):
        Trainer(_recipe(steps=2), out, resume=True, progress=False)


def test_resume_refuses_a_different_recipe_naming_the_key(tmp_path):
    out = tmp_path / "run"
    Trainer(_recipe(steps=1), out, progress=False).run()
    with pytest.raises(IcezooError, match=r"trained with model.generator.width = 16, this recipe says 8"):
        Trainer(_recipe(SMALL, "model.generator.width=8", steps=2), out, resume=True, progress=False)
    with pytest.raises(IcezooError, match=r"trained with train.lr = 0.001, this recipe says 0.0005"):
        Trainer(_recipe(SMALL, "train.lr=5e-4", steps=2), out, resume=True, progress=False)
    with pytest.raises(IcezooError, match=r"trained with model.generator = .*this recipe says None"):
        Trainer(_recipe(SMALL, "model.generator=null", steps=2), out, resume=True, progress=False)
    resumed = Trainer(_recipe(SMALL, "train.log_every=5", steps=3), out, resume=True, progress=False)  # allowed changes
    assert resumed.step == 1


def test_mismatched_weights_name_the_first_difference():
    from icezoo.train.checkpoint import load_module_state

    small = icezoo.build_model(_recipe()).generator
    narrow = icezoo.build_model(_recipe(SMALL, "model.generator.width=8")).generator
    with pytest.raises(
        IcezooError,
        match=r"ckpt.pt: the checkpoint's generator does not match the recipe's model \(down\.0\.\S+: \(16,.*\) in the checkpoint, \(8,.*\) in the model\)",
    ):
        load_module_state(narrow, small.state_dict(), "generator", "ckpt.pt")
    with pytest.raises(IcezooError, match=r"missing .*unexpected keys"):
        load_module_state(narrow, {"x": torch.zeros(1)}, "generator", "ckpt.pt")


def test_an_interrupt_stops_between_steps_and_resumes_exactly(tmp_path):
    import os
    import signal

    every = "train.log_every=3"  # the stop falls inside a logging window
    full = Trainer(_recipe(SMALL, every, steps=6), tmp_path / "full", progress=False)
    full.run()
    cut = Trainer(_recipe(SMALL, every, steps=6), tmp_path / "cut", progress=False)
    inner = cut.step_fn

    def step_then_interrupt(*batch):
        out = inner(*batch)  # half-way through step 2 the user presses Ctrl-C
        if cut.step == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    cut.step_fn = step_then_interrupt
    # Python's own Ctrl-C handler, also where this test runner inherited SIGINT ignored (a shell's background job)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            cut.run()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["step"] == 2  # the whole step 2, saved
    resumed = Trainer(_recipe(SMALL, every, steps=6), tmp_path / "cut", resume=True, progress=False)
    resumed.run()
    for key, value in full.model.generator.state_dict().items():
        assert torch.equal(value, resumed.model.generator.state_dict()[key]), key
    # the log continues exactly: rows at the same steps with the same values (no row at the stop step, and the
    # window open at the stop is finished, not restarted); images/s is a timing, not a result
    assert logged_rows(tmp_path / "cut") == logged_rows(tmp_path / "full")
    assert [r["step"] for r in logged_rows(tmp_path / "cut")] == ["3", "6"]


def logged_rows(run) -> list[dict[str, str]]:
    """metrics.csv's rows without the timing column."""
    return [{k: v for k, v in r.items() if k != "img_per_s"} for r in csv.DictReader((run / "metrics.csv").open())]


def test_non_finite_loss_stops_the_run_naming_the_loss(tmp_path):
    (tmp_path / "nan_loss.py").write_text(
        textwrap.dedent("""
        import icezoo
        import torch
        from torch import nn

        @icezoo.register("loss", "nan_after_two")
        class NanAfterTwo(nn.Module):
            '''L1 that turns into NaN at the third call.'''
            def __init__(self):
                super().__init__()
                self.calls = 0
            def forward(self, a, b, weight=None):
                self.calls += 1
                loss = (a - b).abs().mean()
                return loss * float("nan") if self.calls > 2 else loss
    """)
    )
    recipe = tmp_path / "nan.yaml"
    recipe.write_text(f"extends: {SMALL}\nplugins: [nan_loss.py]\nloss: {{pixel: {{type: nan_after_two}}}}\n")
    trainer = Trainer(
        icezoo.load_recipe(recipe, ["train.max_steps=5", "train.log_every=1"]), tmp_path / "run", progress=False
    )
    with pytest.raises(IcezooError, match="loss g_pixel is nan at step 3"):
        trainer.run()


def test_loss_section_is_checked_when_the_recipe_is_read():
    with pytest.raises(IcezooError, match="loss.classification: the margin loss needs capsule lengths"):
        _recipe(SMALL, "model.discriminator.head={type: cnn, width: 16}")
    with pytest.raises(
        IcezooError, match="loss.perceptual: cannot build perceptual 'timm': timm has no model 'resnet181'"
    ):
        _recipe(SMALL, "loss.perceptual={type: timm, model: resnet181}")
    with pytest.raises(IcezooError, match=r"loss.pixel.foo: unknown parameter 'foo' for loss 'l1'"):
        _recipe(SMALL, "loss.pixel={type: l1, foo: 1}")
    with pytest.raises(IcezooError, match="train.batch_size: must be at least 1, got 0"):
        _recipe(SMALL, "train.batch_size=0")


def test_cosine_schedule_spans_the_epochs():
    trainer = Trainer(_recipe(steps=3), None, progress=False)
    total = trainer.total_steps
    assert total == 100 * (442 // 16)
    assert trainer._lr_factor(0) == 1.0 and trainer._lr_factor(total) == pytest.approx(0.0)
    assert trainer._lr_factor(total // 2) == pytest.approx(0.5)
    assert trainer._lr_factor(total / 4) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))  # 0.854; linear: 0.75
    trainer.run()  # the optimisers' learning rate after three real scheduler steps
    cosine = 1e-3 * 0.5 * (1 + math.cos(math.pi * 3 / total))
    assert trainer.opt_d.param_groups[0]["lr"] == pytest.approx(cosine, rel=1e-12)
    assert trainer.opt_g.param_groups[0]["lr"] == pytest.approx(cosine, rel=1e-12)


def test_batches_are_a_function_of_the_step():
    a = Trainer(_recipe(steps=2), None, progress=False)
    b = Trainer(_recipe(steps=2), None, progress=False)
    for step in (0, 5, 100, 27):  # out of order on purpose
        for x, y in zip(a.batch(step), b.batch(step)):
            assert torch.equal(x, y)
    assert not torch.equal(a.batch(0)[0], a.batch(1)[0])


def test_full_size_icegan_takes_a_training_step():
    """The paper-sized recipe (not just the narrow one) steps on the CPU."""
    trainer = Trainer(_recipe(RECIPES / "icegan.yaml", "train.batch_size=2", steps=1), None, progress=False)
    before = _snapshot(trainer.model.generator)
    result = trainer.run()
    assert result.step == 1 and all(torch.isfinite(torch.tensor(v)) for v in result.history[-1].values())
    assert any(
        not torch.equal(v, trainer.model.generator.state_dict()[k]) for k, v in before.items() if v.is_floating_point()
    )


def test_generator_is_asked_for_random_classes_or_the_clips_own():
    random = Trainer(_recipe(steps=1), None, progress=False)
    own = Trainer(_recipe(SMALL, "loss.fake_labels=clip", steps=1), None, progress=False)
    _, _, labels, _, asked = random.batch(0)
    assert asked.shape == labels.shape and not torch.equal(asked, labels)  # Eq. 7's fake labels
    _, _, labels, _, asked = own.batch(0)
    assert torch.equal(asked, labels)


def test_pixel_loss_only_where_the_asked_class_is_the_clips_own():
    from icezoo.nn.heads import DiscriminatorOutput
    from icezoo.train.objective import Objective

    objective = Objective(icezoo.load_recipe(SMALL).loss)
    fake = DiscriminatorOutput(torch.full((2,), 0.5), torch.full((2, 3), 0.5), None, True)
    x_fake, target = torch.zeros(2, 1, 4, 4), torch.ones(2, 1, 4, 4)
    target[1] = 3.0
    labels = torch.tensor([0, 1])
    terms = objective.generator_loss(fake, x_fake, labels, x_fake, target, target_weight=torch.tensor([1.0, 0.0]))
    assert terms["g_pixel"].item() == pytest.approx(1.0)  # only the first face has a target
    terms = objective.generator_loss(fake, x_fake, labels, x_fake, target, target_weight=torch.tensor([0.0, 0.0]))
    assert terms["g_pixel"].item() == 0.0


def test_class_balance_weights_are_inverse_frequencies_and_reach_the_loss():
    from icezoo.nn.heads import DiscriminatorOutput

    trainer = Trainer(_recipe(SMALL, "loss.class_balance=true", steps=1), None, progress=False)
    counts = torch.bincount(trainer.labels, minlength=3).float()
    expected = len(trainer.labels) / (3 * counts)
    torch.testing.assert_close(trainer.objective.class_weights, expected)
    # the effect: the objective's recognition term is the margin loss (Eq. 5) weighted by hand
    lengths, labels = torch.rand(6, 3), torch.tensor([0, 0, 0, 1, 2, 2])
    t = torch.nn.functional.one_hot(labels, 3).float()
    per = (t * (0.9 - lengths).clamp(min=0) ** 2 + 0.5 * (1 - t) * (lengths - 0.1).clamp(min=0) ** 2).sum(1)
    w = expected[labels]
    out = DiscriminatorOutput(adv=torch.zeros(6), cls=lengths, recon=None)
    got = trainer.objective.recognition(out, torch.zeros(6, 1, 4, 4), labels)
    torch.testing.assert_close(got, (w * per).sum() / w.sum())
    assert not torch.allclose(got, per.mean())  # unweighted, it would be the plain mean


def test_augment_shift_moves_onset_and_apex_together():
    from icezoo.train.batches import translate

    frames = torch.zeros(2, 2, 1, 8, 8)
    frames[:, :, 0, 3, 3] = 1
    out = translate(frames, torch.tensor([[1.0, 2.0], [0.0, 0.0]]))
    assert torch.nonzero(out[0, 0, 0]).tolist() == [[5, 4]] and torch.nonzero(out[0, 1, 0]).tolist() == [[5, 4]]
    torch.testing.assert_close(out[1], frames[1])
    shifted = Trainer(_recipe(SMALL, "train.augment_shift=1.5", steps=1), None, progress=False)
    plain = Trainer(_recipe(steps=1), None, progress=False)
    assert not torch.equal(shifted.batch(0)[0], plain.batch(0)[0])


def test_augment_flip_mirrors_onset_and_apex_together():
    plain = Trainer(_recipe(steps=1), None, progress=False)
    flipped = Trainer(_recipe(SMALL, "train.augment_flip=true", steps=1), None, progress=False)
    (onset, apex, labels, z, _), (f_onset, f_apex, f_labels, f_z, _) = plain.batch(0), flipped.batch(0)
    assert torch.equal(labels, f_labels) and torch.equal(z, f_z)  # same clips and noise, only mirrored
    mirrored = [bool(torch.equal(f_onset[i], onset[i].flip(-1))) for i in range(len(labels))]
    kept = [bool(torch.equal(f_onset[i], onset[i])) for i in range(len(labels))]
    assert any(mirrored) and any(kept) and all(m or k for m, k in zip(mirrored, kept))
    for i, m in enumerate(mirrored):  # the apex goes with its onset
        torch.testing.assert_close(f_apex[i], apex[i].flip(-1) if m else apex[i])


def test_only_real_faces_update_the_discriminators_batch_norm_statistics():
    import copy

    from icezoo.models import build_model
    from icezoo.train.objective import Objective
    from icezoo.train.step import GANStep, make_optimizers

    recipe = _recipe()
    torch.manual_seed(0)
    model = build_model(recipe)
    before = copy.deepcopy(model.discriminator)
    opt_g, opt_d = make_optimizers(model, recipe.train)
    step = GANStep(model, Objective(recipe.loss, model.discriminator.head), opt_g, opt_d)
    onset, apex = torch.rand(4, 1, 64, 64) * 2 - 1, torch.rand(4, 1, 64, 64) * 2 - 1
    labels = torch.tensor([0, 1, 2, 0])
    step(onset, apex, labels, fake_labels=torch.tensor([2, 2, 1, 0]))
    before(apex, labels)  # the one real pass, as the step's D update made it
    norms = [(n, b) for n, b in model.discriminator.named_buffers() if "running" in n]
    assert norms, "the discriminator has batch norms"
    expected = dict(before.named_buffers())
    for name, buf in norms:
        torch.testing.assert_close(buf, expected[name], msg=name)
    assert all(m.momentum == 0.1 for m in model.discriminator.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_resume_auto_starts_a_run_and_continues_it(tmp_path, cli):
    """One command line for the first start and every restart (torchrun --max-restarts, a requeued job)."""
    from .test_eval import TINY

    sets = [a for o in TINY for a in ("--set", o)]
    run = tmp_path / "run"
    code, _, err = cli("train", SMALL, *sets, "--set", "train.max_steps=2", "--out", run, "--resume", "auto",
                       "--no-progress")  # fmt: skip
    assert code == 0, err
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 2
    code, _, err = cli("train", SMALL, *sets, "--set", "train.max_steps=3", "--out", run, "--resume", "auto",
                       "--no-progress")  # fmt: skip
    assert code == 0, err
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 3 and [r["step"] for r in logged_rows(run)] == [
        "1",
        "2",
        "3",
    ]
    code, _, err = cli("train", SMALL, *sets, "--set", "train.max_steps=4", "--out", run, "--resume",
                       "--no-progress")  # fmt: skip
    assert code == 0, err  # the plain form still continues
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 4


def test_checkpoint_minutes_adds_checkpoints_by_time(tmp_path, monkeypatch):
    saved = []
    real = Trainer.save
    monkeypatch.setattr(
        Trainer, "save", lambda self, path=None, window=None: saved.append(self.step) or real(self, path, window)
    )
    Trainer(_recipe(steps=3), tmp_path / "steps", progress=False).run()
    assert saved == [3]  # checkpoint_every 200: only the last step
    saved.clear()
    Trainer(_recipe(SMALL, "train.checkpoint_minutes=1e-9", steps=3), tmp_path / "minutes", progress=False).run()
    assert saved == [1, 2, 3]  # every step takes longer than a nanominute


# The bf16 twin checks: a recipe and what narrows it to CPU sizes. table3_a has no generator: D's step alone.
BF16_TWINS = {
    "icegan_small": (SMALL, ["model.image_size=32", "train.batch_size=8"]),
    "table3_a": (RECIPES / "table3" / "a_discriminator_only.yaml", [
        "model.image_size=32", "model.discriminator.trunk.ndf=16", "model.discriminator.head.adv_dim=32",
        "model.discriminator.head.exp_dim=16", "model.discriminator.head.recon_hidden=[64]", "train.batch_size=8",
    ]),
}  # fmt: skip


@pytest.mark.parametrize("name", list(BF16_TWINS))
def test_bf16_training_step_matches_its_fp32_twin(name):
    """bf16 autocast on the CPU, for ICE-GAN and for Table III's model A (no generator: D's step alone): step-1
    losses and D's capsule lengths within bf16's precision of the fp32 twin's, every convolution in bf16, and the
    step trained (fails when autocast is skipped: no bf16 convolution, the lengths then equal to the last digit).

    In a fresh interpreter: with torch 2.14 on the CPU, the bf16 primary-capsule convolution once gave non-finite
    outputs from finite inputs after the paper-size generator had run in the same process (oneDNN state), which
    is torch's, not this path's."""
    import subprocess
    import sys

    from .conftest import REPO

    code = f"from tests.test_train import bf16_twin_check; bf16_twin_check({name!r})"
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]


def bf16_twin_check(name: str) -> None:
    from torch import nn

    from icezoo.train.step import GANStep

    from .helpers import loss_errors, twin_runs

    first = {}  # id(module) -> its first output in either run's step (the twins' modules are distinct objects)

    def keep(module, args, out):  # returns None: a hook's result would replace the output
        first.setdefault(id(module), out)

    def recorded(step, *args, **kwargs):  # in the steps only: building a model runs its trunk once, outside autocast
        hook = nn.modules.module.register_module_forward_hook(keep)
        try:
            return call(step, *args, **kwargs)
        finally:
            hook.remove()

    call, GANStep.__call__ = GANStep.__call__, recorded
    try:
        path, base = BF16_TWINS[name]
        bf16, fp32, start = twin_runs(path, base, ["train.precision=bf16"], steps=1)
    finally:
        GANStep.__call__ = call
    assert (bf16.model.generator is None) == (name == "table3_a")
    errors = loss_errors(bf16.history, fp32.history)
    assert errors and max(errors.values()) < 0.05, errors  # 8 bits of mantissa: about 0.4% a rounding, compounded
    # autocast ran: every convolution (G's and D's) gave bf16, the twin's fp32. table3_a's margin loss hardly moves
    # at initialisation (capsule lengths near 0: 1.6e-6 relative), so D's capsule lengths are compared instead:
    # within bf16's precision of the twin's, and not equal to them.
    convs = {run: [m for m in run.model.modules() if isinstance(m, nn.Conv2d)] for run in (bf16, fp32)}
    assert all(id(m) in first for ms in convs.values() for m in ms)
    assert {first[id(m)].dtype for m in convs[bf16]} == {torch.bfloat16}
    assert {first[id(m)].dtype for m in convs[fp32]} == {torch.float32}
    lengths = [first[id(run.model.discriminator)].cls.float() for run in (bf16, fp32)]
    assert 1e-4 < ((lengths[0] - lengths[1]).norm() / lengths[1].norm()).item() < 0.05
    moved = [k for k, v in bf16.model.state_dict().items() if v.is_floating_point() and not torch.equal(v, start[k])]
    assert len(moved) > len(start) // 2  # the bf16 step updated the weights
