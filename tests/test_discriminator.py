"""Discriminator zoo: PatchGAN trunks, capsule and CNN heads, routing, losses, Table IV sizes."""

from __future__ import annotations

import pytest
import torch

import icezoo
from icezoo.losses import AdversarialLoss, MarginLoss
from icezoo.nn.capsules import RoutingLayer, dynamic_routing, squash
from icezoo.nn.heads import CapsuleHead, CNNHead
from icezoo.nn.trunks import PatchGAN70, ReleasePatchGAN

from .conftest import RECIPES
from .helpers import params_without_grad, weighted_sum


def _disc_params(recipe, *overrides) -> int:
    model = icezoo.build_model(icezoo.load_recipe(RECIPES / recipe, list(overrides)))
    return sum(p.numel() for p in model.discriminator.parameters())


def test_patchgan70_shapes_and_receptive_field():
    trunk = PatchGAN70()
    assert trunk.out_channels == 512
    assert trunk(torch.randn(2, 1, 128, 128)).shape == (2, 512, 15, 15)
    # receptive field of one output position: 70x70 once the 1-channel output conv of pix2pix is added
    x = torch.zeros(1, 1, 256, 256, requires_grad=True)
    head = torch.nn.Conv2d(512, 1, 4, 1, 1)
    out = head(trunk.eval()(x))
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(1)).flatten()
    assert rows.max() - rows.min() + 1 == 70


@pytest.mark.parametrize("size", [64, 128])
def test_max_pooled_patchgan_keeps_the_shapes_and_parameters_and_trains(size):
    strided, pooled = PatchGAN70(ndf=8, image_size=size), PatchGAN70(ndf=8, image_size=size, downsample="max")
    x = torch.randn(2, 1, size, size)
    assert pooled(x).shape == strided(x).shape
    assert [p.shape for p in pooled.parameters()] == [p.shape for p in strided.parameters()]
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in pooled.modules()) == 3  # the three stride-2 layers
    assert not params_without_grad(pooled, weighted_sum(pooled(x)))


def test_release_trunk():
    trunk = ReleasePatchGAN()
    assert trunk(torch.randn(2, 1, 128, 128)).shape == (2, 128, 8, 8)
    assert sum(p.numel() for p in trunk.parameters()) == 6_992_384


def test_squash_keeps_direction_and_bounds_length():
    s = torch.randn(50, 7) * torch.logspace(-3, 3, 50)[:, None]
    v = squash(s)
    lengths = v.norm(dim=-1)
    assert torch.all((lengths >= 0) & (lengths < 1))
    torch.testing.assert_close(v / lengths[:, None], s / s.norm(dim=-1, keepdim=True))
    n = s.norm(dim=-1)
    torch.testing.assert_close(lengths, n**2 / (1 + n**2))


@pytest.mark.parametrize("softmax", ["out", "in"])
def test_routing_batched_equals_sample_by_sample(softmax):
    layer = RoutingLayer(in_caps=40, in_dim=8, out_caps=3, out_dim=16, iterations=3, softmax=softmax, init_std=0.3)
    u = squash(torch.randn(5, 40, 8))
    batched = layer(u)
    single = torch.cat([layer(u[i : i + 1]) for i in range(5)])
    torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-6)


def test_routing_matches_a_loop_reference():
    """Dynamic routing (Sabour et al., Procedure 1) written with explicit loops over capsules."""
    torch.manual_seed(0)
    u_hat = torch.randn(2, 3, 6, 4)  # [B, out, in, d]
    v = dynamic_routing(u_hat, iterations=3, softmax="out")
    for b in range(2):
        logits = torch.zeros(3, 6)
        for it in range(3):
            c = torch.softmax(logits, dim=0)
            out = []
            for j in range(3):
                s = sum(c[j, i] * u_hat[b, j, i] for i in range(6))
                out.append(squash(s))
            if it < 2:
                for j in range(3):
                    for i in range(6):
                        logits[j, i] += torch.dot(u_hat[b, j, i], out[j])
        torch.testing.assert_close(v[b], torch.stack(out), rtol=1e-5, atol=1e-6)


def test_capsule_head_outputs():
    head = CapsuleHead(in_channels=512, feature_size=15)
    assert head.in_caps == 8 * 4 * 4  # N_prim = 8 types on a 4x4 grid
    feats = torch.randn(4, 512, 15, 15)
    out = head(feats)
    assert out.adv.shape == (4,) and out.cls.shape == (4, 3) and out.recon.shape == (4, 1, 128, 128)
    assert out.adv_is_probability and CapsuleHead.outputs_probabilities and not CNNHead.outputs_probabilities
    for lengths in (out.adv, out.cls):
        assert torch.all((lengths > 0) & (lengths < 1))
    assert torch.all((out.recon >= 0) & (out.recon <= 1))
    assert head.adv_caps.weight.shape == (1, 128, 256, 16)  # AdvCaps: d_adv 256 from d_prim 16
    assert head.exp_caps.weight.shape == (3, 128, 32, 16)  # ExpCaps: 3 x d_exp 32


def test_reconstruction_masks_by_label_in_training_and_prediction_otherwise():
    torch.manual_seed(0)
    head = CapsuleHead(in_channels=64, feature_size=8, image_size=32, recon_hidden=[32])
    feats = torch.randn(6, 64, 8, 8)
    predicted = head(feats).cls.argmax(1)
    other = (predicted + 1) % 3
    torch.testing.assert_close(head(feats).recon, head(feats, labels=predicted).recon)
    assert not torch.allclose(head(feats, labels=other).recon, head(feats).recon)


def test_release_masking_takes_a_softmax_over_the_batch():
    torch.manual_seed(0)
    head = CapsuleHead(in_channels=64, feature_size=8, image_size=32, recon_hidden=[32], release_masking=True)
    feats = torch.randn(5, 64, 8, 8)
    out = head(feats)
    release_labels = torch.softmax(out.cls, dim=0).argmax(1)
    torch.testing.assert_close(out.recon, head(feats, labels=release_labels).recon)


@pytest.mark.parametrize("head", [
    {"type": "capsule"}, {"type": "capsule", "routing_softmax": "in", "release_masking": True}, {"type": "cnn", "width": 32},
], ids=["capsule", "capsule-release", "cnn"])  # fmt: skip
def test_gradients_reach_every_discriminator_parameter(head):
    loss = ["loss.classification={type: cross_entropy}"] if head["type"] == "cnn" else []
    recipe = icezoo.load_recipe(
        RECIPES / "icegan_small.yaml", [f"model.discriminator.head={head}".replace("'", ""), *loss]
    )
    disc = icezoo.build_model(recipe).discriminator
    x = torch.rand(4, 1, 64, 64) * 2 - 1
    out = disc(x, labels=torch.tensor([0, 1, 2, 0]))
    loss = (
        weighted_sum(out.adv[:, None])
        + weighted_sum(out.cls)
        + (weighted_sum(out.recon) if out.recon is not None else 0)
    )
    assert params_without_grad(disc, loss) == []


def test_cnn_head():
    head = CNNHead(in_channels=512, feature_size=15, width=64)
    out = head(torch.randn(3, 512, 15, 15))
    assert out.adv.shape == (3,) and out.cls.shape == (3, 3) and out.recon is None and not out.adv_is_probability


def test_margin_loss_hand_computed():
    loss = MarginLoss()  # m+ 0.9, m- 0.1, lambda 0.5, squared
    lengths = torch.tensor([[0.95, 0.05, 0.3], [0.5, 0.2, 0.1]])
    labels = torch.tensor([0, 1])
    # sample 1: present 0.95 >= 0.9 -> 0; absent 0.05 -> 0, 0.3 -> 0.5 * 0.2^2 = 0.02
    # sample 2: present 0.2 -> 0.7^2 = 0.49; absent 0.5 -> 0.5 * 0.4^2 = 0.08; 0.1 -> 0
    torch.testing.assert_close(loss(lengths, labels), torch.tensor((0.02 + 0.49 + 0.08) / 2))
    unsquared = MarginLoss(squared=False)
    torch.testing.assert_close(unsquared(lengths, labels), torch.tensor((0.5 * 0.2 + 0.7 + 0.5 * 0.4) / 2))
    weighted = loss(lengths, labels, weight=torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(weighted, torch.tensor(0.02))


def test_adversarial_loss_on_probabilities_and_logits():
    bce = AdversarialLoss()
    p = torch.tensor([0.8, 0.3])
    torch.testing.assert_close(bce(p, real=True, is_probability=True), -(torch.log(p)).mean())
    torch.testing.assert_close(bce(p, real=False, is_probability=True), -(torch.log(1 - p)).mean())
    logits = torch.tensor([2.0, -1.0])
    torch.testing.assert_close(bce(logits, real=True, is_probability=False), -(torch.log(torch.sigmoid(logits))).mean())
    assert torch.isfinite(bce(torch.tensor([1.0, 0.0]), real=True, is_probability=True))


def test_comparable_cnn_discriminator_within_two_percent():
    capsule = _disc_params("table4/dce_exp32.yaml")
    comparable = _disc_params("table4/dcnn_comparable.yaml")
    small_cnn = _disc_params("table4/dcnn.yaml")
    assert abs(comparable - capsule) / capsule < 0.02
    assert small_cnn < capsule / 5


def test_capsule_discriminator_grows_with_exp_dim_as_in_table_iv():
    sizes = {d: _disc_params(f"table4/dce_exp{d}.yaml") * 4 / 1e6 for d in (8, 16, 32, 64, 128)}
    paper = {8: 85.7, 16: 85.9, 32: 86.4, 64: 87.5, 128: 89.6}
    assert list(sizes.values()) == sorted(sizes.values())
    for lo, hi in ((8, 16), (16, 32), (32, 64), (64, 128)):
        ours, theirs = sizes[hi] - sizes[lo], paper[hi] - paper[lo]
        assert 0.5 * theirs < ours < 2 * theirs, (lo, hi, ours, theirs)
    for d, mb in paper.items():
        assert abs(sizes[d] - mb) / mb < 0.03, (d, sizes[d], mb)
