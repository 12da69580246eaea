"""Every recipe in recipes/ builds and runs; the paper's numbers are in the recipes."""

from __future__ import annotations

import pytest
import torch

import icezoo

from .conftest import RECIPES

ALL = sorted(p.relative_to(RECIPES).as_posix() for p in RECIPES.rglob("*.yaml"))
BASELINES = {"table1/capsulenet.yaml", "table1/dual_inception.yaml", "table1/emr_approx.yaml", "table1/lbp_top.yaml",
             "table1/ststnet.yaml"}  # fmt: skip
GANS = [name for name in ALL if name not in BASELINES]  # the baselines' builds: tests/test_table1.py


@pytest.mark.parametrize("name", GANS)
def test_every_recipe_builds_and_runs_forward(name):
    recipe = icezoo.load_recipe(RECIPES / name)
    model = icezoo.build_model(recipe)
    s = recipe.model.image_size
    x = torch.rand(2, 1, s, s) * 2 - 1
    labels = torch.tensor([0, 2])
    with torch.no_grad():
        if model.generator is not None:
            fake = model.synthesize(x, labels)
            assert fake.shape == x.shape and fake.abs().max() <= 1
        out = model.discriminator(x, labels)
    assert out.adv.shape == (2,) and out.cls.shape == (2, 3)


def test_the_papers_numbers_are_the_defaults_of_icegan():
    r = icezoo.load_recipe(RECIPES / "icegan.yaml")
    m, loss, train = r.model, r.loss, r.train
    assert (m.image_size, m.in_channels, m.noise_dim, m.num_classes) == (128, 1, 100, 3)
    gen, head = m.generator, m.discriminator.head
    assert gen["type"] == "identity_unet" and gen["embed_dim"] == 320 and gen["reasoning"]["type"] == "grm"
    assert m.discriminator.trunk["type"] == "patchgan70"
    assert (head["type"], head["primary_types"], head["primary_dim"], head["adv_dim"], head["exp_dim"]) == (
        "capsule",
        8,
        16,
        256,
        32,
    )
    assert head["routing_iterations"] == 3
    assert (loss.adv_weight, loss.ip_weight, loss.cls_weight) == (0.1, 1.0, 1.0)  # Eq. 8
    assert (loss.perceptual_weight, loss.recon_weight) == (0.1, 5e-4)  # alpha, beta
    c = loss.classification
    assert (c["type"], c["m_plus"], c["m_minus"], c["lambda_"]) == ("margin", 0.9, 0.1, 0.5)  # Eq. 5
    assert (train.lr, train.betas, train.schedule, train.batch_size, train.epochs) == (
        1e-3,
        (0.9, 0.999),
        "cosine",
        16,
        100,
    )
    assert train.apex_neighbours == 4
    assert r.eval.test_subjects == 20  # the 48 / 20 split


def test_table_iii_recipes_change_only_what_the_paper_says():
    base = icezoo.load_recipe(RECIPES / "icegan.yaml").to_dict()
    expected = {
        "a_discriminator_only": ("generator", None),
        "b_dcgan": ("generator", "dcgan"),
        "c_encoder_decoder": ("reasoning", "none"),
        "d_skip": ("reasoning", "skip"),
        "e_se": ("reasoning", "se"),
        "f_grm": ("reasoning", "grm"),
    }
    for name, (what, value) in expected.items():
        r = icezoo.load_recipe(RECIPES / "table3" / f"{name}.yaml").to_dict()
        assert r["model"]["discriminator"] == base["model"]["discriminator"]
        assert r["loss"] == base["loss"] and r["train"] == base["train"]
        gen = r["model"]["generator"]
        if what == "generator":
            assert (gen if value is None else gen["type"]) == value
        else:
            assert gen["type"] == "identity_unet" and gen["reasoning"]["type"] == value
            assert {k: v for k, v in gen.items() if k != "reasoning"} == {
                k: v for k, v in base["model"]["generator"].items() if k != "reasoning"
            }
        assert r["paper"]["table"] == "III" and r["paper"]["row"] == name[0].upper()


def test_release_recipe_parameter_counts():
    model = icezoo.build_model(icezoo.load_recipe(RECIPES / "icegan_release.yaml"))
    assert sum(p.numel() for p in model.generator.parameters()) == 40_282_753
    assert sum(p.numel() for p in model.discriminator.parameters()) == 97_766_400
    head = model.discriminator.head
    assert (
        head.in_caps == 1024
        and head.exp_caps.weight.shape == (3, 1024, 32, 8)
        and head.adv_caps.weight.shape == (1, 1024, 32, 8)
    )
