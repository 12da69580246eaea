"""Generator EMA (train.ema_decay) and per-network learning rates (train.lr_g, train.lr_d)."""

from __future__ import annotations

import torch

import icezoo
from icezoo.train.checkpoint import load_checkpoint, load_trained_model, save_checkpoint
from icezoo.train.trainer import Trainer

from .conftest import RECIPES

SMALL = RECIPES / "icegan_small.yaml"
TINY = ["model.image_size=32", "train.batch_size=4", "train.log_every=1", "train.loggers=[csv]"]


def _recipe(*overrides: str, steps: int):
    return icezoo.load_recipe(SMALL, [*TINY, f"train.max_steps={steps}", *overrides])


def test_ema_equals_hand_computed_average(tmp_path):
    decay = 0.6
    trainer = Trainer(_recipe(f"train.ema_decay={decay}", steps=3), None, progress=False)
    expected = {k: v.detach().clone() for k, v in trainer.model.generator.named_parameters()}
    step_fn = trainer.step_fn

    def recording_step(*batch):
        terms = step_fn(*batch)
        for name, weight in trainer.model.generator.named_parameters():  # the average after this step, by hand
            expected[name] = decay * expected[name] + (1 - decay) * weight.detach()
        return terms

    trainer.step_fn = recording_step
    trainer.run()
    averaged = dict(trainer.ema.module.named_parameters())
    trained = dict(trainer.model.generator.named_parameters())
    assert any(not torch.equal(averaged[k], trained[k]) for k in expected)  # the average is not the last weights
    for name, value in expected.items():
        torch.testing.assert_close(averaged[name], value, rtol=1e-5, atol=1e-6)


def test_ema_resumes_exactly_and_is_what_a_checkpoint_samples_from(tmp_path):
    ema = "train.ema_decay=0.9"  # in memory (no run folder): the same state a checkpoint holds, without the plots
    full = Trainer(_recipe(ema, steps=4), None, progress=False)
    full.run()
    cut = Trainer(_recipe(ema, steps=2), None, progress=False)
    cut.run()
    save_checkpoint(tmp_path / "cut.pt", cut.state())
    resumed = Trainer(_recipe(ema, steps=4), None, progress=False)
    resumed.load_state(load_checkpoint(tmp_path / "cut.pt"), tmp_path / "cut.pt")
    resumed.run()
    for key, value in full.ema.state_dict().items():
        assert torch.equal(value, resumed.ema.state_dict()[key]), key
    save_checkpoint(tmp_path / "full.pt", full.state())
    model, _ = load_trained_model(tmp_path / "full.pt")
    raw, _ = load_trained_model(tmp_path / "full.pt", ema=False)
    for key, value in model.generator.state_dict().items():
        assert torch.equal(value, full.ema.state_dict()[key])
    assert any(not torch.equal(v, raw.generator.state_dict()[k]) for k, v in model.generator.state_dict().items())


def test_no_ema_by_default_and_in_the_paper_recipe(tmp_path):
    trainer = Trainer(_recipe(steps=1), None, progress=False)
    save_checkpoint(tmp_path / "run.pt", trainer.state())
    assert icezoo.load_recipe(RECIPES / "icegan.yaml").train.ema_decay == 0
    assert trainer.ema is None and load_checkpoint(tmp_path / "run.pt")["generator_ema"] is None


def test_learning_rates_per_network_default_to_lr():
    same = Trainer(_recipe("train.lr=3e-4", steps=1), None, progress=False)
    assert [g["lr"] for g in same.opt_g.param_groups] == [3e-4] and same.opt_d.param_groups[0]["lr"] == 3e-4
    apart = Trainer(
        _recipe("train.lr_g=2e-4", "train.lr_d=5e-4", "train.schedule=constant", steps=1), None, progress=False
    )
    assert apart.opt_g.param_groups[0]["lr"] == 2e-4 and apart.opt_d.param_groups[0]["lr"] == 5e-4
    row = apart.run().history[-1]
    assert row["lr_g"] == 2e-4 and row["lr"] == 5e-4


def test_checkpoint_from_before_these_fields_still_resumes(tmp_path):
    old = Trainer(_recipe(steps=1), None, progress=False)
    old.run()
    state = old.state()
    for key in ("lr_g", "lr_d", "ema_decay", "loggers"):  # a checkpoint written before the fields existed
        del state["recipe"]["train"][key]
    del state["generator_ema"]
    resumed = Trainer(_recipe(steps=2), None, progress=False)
    resumed.load_state(state, tmp_path / "old.pt")
    assert resumed.run().step == 2
