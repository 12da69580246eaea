"""The perceptual cost network: a timm model with weights from a local file, nothing downloaded."""

from __future__ import annotations

import pytest
import torch

import icezoo
from icezoo.errors import RecipeError
from icezoo.losses import TimmPerceptual
from icezoo.train.trainer import Trainer

from .conftest import RECIPES

SMALL = RECIPES / "icegan_small.yaml"


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    import timm

    torch.manual_seed(0)
    source = timm.create_model("resnet18", pretrained=False)
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(source.state_dict(), path)
    return path, source


def test_local_weights_are_loaded_and_frozen(weights):
    path, source = weights
    net = TimmPerceptual("resnet18", weights=str(path), layers=[1, 2], in_channels=1)
    assert net.pretrained
    # timm adapts the RGB stem to one channel by summing its weights
    torch.testing.assert_close(net.net.conv1.weight, source.conv1.weight.sum(1, keepdim=True))
    torch.testing.assert_close(net.net.layer2[0].conv1.weight, source.layer2[0].conv1.weight)
    assert not any(p.requires_grad for p in net.parameters())
    a = torch.rand(2, 1, 64, 64) * 2 - 1
    assert net(a, a).item() == 0 and net(a, a.flip(-1)).item() > 0
    b = a.flip(-1).requires_grad_(True)
    net(a, b).backward()  # frozen network, but the gradient reaches the synthesised face
    assert b.grad is not None and b.grad.abs().sum() > 0
    net.train()
    assert not net.net.training  # batch-norm statistics never move


def test_missing_weights_fail_at_validation(tmp_path):
    with pytest.raises(RecipeError) as err:
        icezoo.load_recipe(
            SMALL, [f"loss.perceptual={{type: timm, model: resnet18, weights: {tmp_path / 'nope.pth'}}}"]
        )
    assert "loss.perceptual.weights: file not found" in str(err.value)


def test_wrong_weights_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "other.pth"
    torch.save({"not": torch.zeros(1)}, bad)
    with pytest.raises(icezoo.IcezooError, match="other.pth: cannot be loaded into timm 'resnet18'"):
        TimmPerceptual("resnet18", weights=str(bad))


def test_perceptual_term_enters_the_generator_loss(weights, tmp_path):
    path, _ = weights
    recipe = icezoo.load_recipe(SMALL, ["train.max_steps=1", "train.log_every=1",
                                        f"loss.perceptual={{type: timm, model: resnet18, weights: {path}, layers: [1]}}"])  # fmt: skip
    result = Trainer(recipe, None, progress=False).run()
    row = result.history[-1]
    assert row["g_perceptual"] > 0
    # the effect on G's loss: the same first step with alpha = 0 differs by exactly alpha * L_per
    off = Trainer(icezoo.load_recipe(recipe.to_dict(), ["loss.perceptual_weight=0"]), None, progress=False).run()
    assert row["g_total"] - off.history[-1]["g_total"] == pytest.approx(0.1 * row["g_perceptual"], rel=1e-4)
