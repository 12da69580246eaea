"""The release recipe computes what the authors' released G and D compute (issue 12).

``release_reference`` re-implements the release from the reference's facts in
plain PyTorch with the authors' module names; its weights go through
:func:`icezoo.convert.convert_release` into ``icegan_release``, and outputs,
gradients and updated buffers must agree in float64.
"""

from __future__ import annotations

import pytest
import torch

from icezoo import build_model
from icezoo.convert import convert_release, release_recipe
from tests import release_reference as R
from tests.helpers import relative_error, weighted_sum

EXACT = ["model.discriminator.head.routing_softmax=in", "model.discriminator.head.release_masking=true"]
TOL = 1e-9


@pytest.fixture(scope="module")
def release():
    """(reference G, reference D, icezoo GAN) in float64 with the same random weights and buffers."""
    torch.manual_seed(0)
    g, d = R.randomize_(R.Generator().double(), 1), R.randomize_(R.Discriminator().double(), 2)
    recipe = release_recipe(EXACT)
    model = build_model(recipe).double()
    gen, disc = convert_release(g.state_dict(), d.state_dict(), recipe)
    model.generator.load_state_dict(gen)
    model.discriminator.load_state_dict(disc)
    return g, d, model, recipe


def _grads_as_release(module, state) -> dict[str, torch.Tensor]:
    """The reference's gradients, keyed and laid out as a release state dict (buffers as they are)."""
    grads = {n: p.grad for n, p in module.named_parameters()}
    return {k: grads.get(k, v) for k, v in state.items()}


def _compare(ref_module, ours, convert_side: int, outputs, recipe):
    """Gradients of the parameters and every buffer (u, v, running statistics) agree after the step."""
    ref_state = _grads_as_release(ref_module, ref_module.state_dict())
    pair = (ref_state, None) if convert_side == 0 else (None, ref_state)
    other = R.Discriminator().double().state_dict() if convert_side == 0 else R.Generator().double().state_dict()
    converted = convert_release(*(other if p is None else p for p in pair), recipe)[convert_side]
    grads = {n: p.grad for n, p in ours.named_parameters()}
    for key, want in converted.items():
        got = grads.get(key, ours.state_dict()[key])
        assert got is not None, key
        if want.is_floating_point():  # a bias before instance norm has a zero gradient: rounding noise only
            assert (got - want).norm() <= max(TOL * want.norm().item(), 1e-12), key
        else:
            assert torch.equal(got, want), key
    for a, b in outputs:
        assert relative_error(a, b) < TOL


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_release_generator_equals_the_reference(release, train):
    g, _, model, recipe = release
    gen = model.generator
    g.train(train), gen.train(train)
    gen.zero_grad(), g.zero_grad()
    x = torch.randn(2, 1, 128, 128, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    z = torch.randn(2, 100, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    c = torch.eye(3, dtype=torch.float64)[[0, 2]]
    ours, ref = gen(x, z, c), g(x.clone(), z, c)
    weighted_sum(ours).backward(), weighted_sum(ref).backward()
    _compare(g, gen, 0, [(ours, ref)], recipe)


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_release_discriminator_equals_the_reference(release, train):
    _, d, model, recipe = release
    disc = model.discriminator
    d.train(train), disc.train(train)
    disc.zero_grad(), d.zero_grad()
    x = torch.randn(3, 1, 128, 128, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    out = disc(x)
    validity, classes, recon = d(x)
    loss = lambda a, b, r: weighted_sum(a, 1) + weighted_sum(b, 2) + weighted_sum(r, 3)  # noqa: E731
    loss(out.adv, out.cls, out.recon).backward(), loss(validity, classes, recon).backward()
    _compare(d, disc, 1, [(out.adv, validity), (out.cls, classes), (out.recon, recon)], recipe)
