"""Slow checks (``pytest -m slow``; CI runs them): a model that learns, and every block compiled."""

from __future__ import annotations

import pytest
import torch

import icezoo
from icezoo.eval.runner import evaluate
from icezoo.registry import registry

from .conftest import RECIPES

pytestmark = pytest.mark.slow


def test_icegan_small_recognises_held_out_subjects(tmp_path):
    """The README's command: icegan_small, 100 epochs on 48 subjects, tested on 20 unseen ones (about 6 minutes).

    Chance is 1/3 for three classes; the number reached is in the README.
    """
    metrics = evaluate(icezoo.load_recipe(RECIPES / "icegan_small.yaml"), "split", tmp_path, progress=False)
    overall = metrics["overall"]
    assert overall["n"] > 100
    # a collapsed classifier scores UAR 1/3 exactly; this run reaches 0.41 (README), short of the 0.6 hoped for
    assert overall["uar"] >= 0.37 and overall["uf1"] >= 0.33, overall


@pytest.mark.parametrize("spec", [{"type": "se"}, {"type": "grm"}, {"type": "grm", "layer": "gcn"}, {"type": "grm_einsum"}, {"type": "grm_release"}],
                         ids=lambda s: "-".join(map(str, s.values())))
def test_every_reasoning_block_compiles_on_the_cpu(spec):
    torch.manual_seed(0)
    block = registry.build("reasoning", spec, channels=16)
    x = torch.randn(2, 16, 8, 8, requires_grad=True)
    compiled = torch.compile(block)
    out = compiled(x)
    torch.testing.assert_close(out, block(x), rtol=1e-4, atol=1e-5)
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_compiled_training_on_the_cpu(tmp_path):
    recipe = icezoo.load_recipe(RECIPES / "icegan_small.yaml", ["train.max_steps=2", "train.log_every=1", "train.compile=true", "model.image_size=32"])
    from icezoo.train.trainer import Trainer

    result = Trainer(recipe, tmp_path, progress=False).run()
    assert result.step == 2 and all(torch.isfinite(torch.tensor(v)) for v in result.history[-1].values())
