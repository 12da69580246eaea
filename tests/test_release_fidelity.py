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


# -- each release behaviour on a small known case ------------------------------------------------------------------


def test_hook_form_spectral_norm_is_torch_nn_utils_spectral_norm():
    from icezoo.nn.spectral import spectral_norm

    for make in (lambda: torch.nn.Linear(5, 7), lambda: torch.nn.ConvTranspose2d(4, 3, 3)):
        torch.manual_seed(0)
        theirs = torch.nn.utils.spectral_norm(make())
        torch.manual_seed(0)
        ours = spectral_norm(make(), "hook")  # draws u then v as the hook form does: no warm-up iterations
        p = ours.parametrizations.weight
        assert torch.equal(p[0]._u, theirs.weight_u) and torch.equal(p[0]._v, theirs.weight_v)
        p.original.data.copy_(theirs.weight_orig.data)
        for _ in range(3):  # training forwards: v is updated before u
            x = torch.zeros(1, 5) if isinstance(theirs, torch.nn.Linear) else torch.zeros(1, 4, 2, 2)
            _ = ours.weight, theirs(x)
        torch.testing.assert_close(p[0]._u, theirs.weight_u, rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(ours.eval().weight, theirs.weight, rtol=1e-6, atol=1e-7)  # eval: no iteration
        standard = spectral_norm(make(), "parametrization")  # u updated first, 15 warm-up iterations
        assert not torch.allclose(standard.parametrizations.weight[0]._u, theirs.weight_u)


def test_capsule_lengths_without_epsilon_are_exact():
    from icezoo.nn.heads import _length

    v = torch.tensor([[3.0, 4.0]], dtype=torch.float64)
    assert _length(v, 0.0).item() == 5.0
    assert _length(v, 1e-12).item() != 5.0


def test_release_trunk_normalises_its_projections():
    from icezoo.nn.trunks import ReleasePatchGAN

    plain = ReleasePatchGAN(ndf=8, out_channels=16)
    release = ReleasePatchGAN(ndf=8, out_channels=16, spectral_projections=True)
    assert not hasattr(plain.net[14], "parametrizations")
    assert hasattr(release.net[14], "parametrizations") and hasattr(release.net[15], "parametrizations")
    for _ in range(50):  # training forwards converge the power iteration on the initialised weight
        _ = release.net[15].weight
    sigma = torch.linalg.matrix_norm(release.eval().net[15].weight.flatten(1), ord=2)
    assert abs(sigma.item() - 1) < 1e-3


def test_activated_bridge_input_feeds_leaky_relu_of_the_level_to_the_block():
    from icezoo.nn.generators import IdentityUNet

    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x):
            seen.append(x)
            return x

    for mode in ("pre_activation", "activated"):
        gen = IdentityUNet(
            image_size=16, width=4, max_width=8, embed_dim=8, noise_dim=2, reasoning="skip", bridge_input=mode
        ).eval()
        gen.bridges[0] = Probe()
        seen.clear()
        gen(torch.randn(1, 1, 16, 16), torch.randn(1, 2), torch.eye(3)[:1])
        feats, _ = gen.encode(torch.randn(1, 1, 16, 16))  # another image: only the relation matters
        f0 = gen.down[0](torch.ones(1, 1, 16, 16) * -1)
        gen.bridges[0] = Probe()
        seen.clear()
        gen(torch.ones(1, 1, 16, 16) * -1, torch.randn(1, 2), torch.eye(3)[:1])
        want = f0 if mode == "pre_activation" else torch.nn.functional.leaky_relu(f0, 0.2)
        torch.testing.assert_close(seen[0], want)


def test_recipes_state_the_paper_and_the_release():
    paper, rel = icezoo_recipe("icegan.yaml"), release_recipe()
    head, g, trunk = rel.model.discriminator.head, rel.model.generator, rel.model.discriminator.trunk
    assert (g["bridge_input"], g["concat_order"], g["spectral_norm_form"]) == ("activated", "decoder_first", "hook")
    assert (trunk["spectral_projections"], trunk["spectral_norm_form"]) == (True, "hook")
    assert (head["length_eps"], head["detach_routing"], head["spectral_norm_form"]) == (0.0, True, "hook")
    assert rel.loss.reconstruction_reduction == "mean"
    assert paper.model.discriminator.head["detach_routing"] is False and paper.loss.reconstruction_reduction == "sum"
    pg, ph = paper.model.generator, paper.model.discriminator.head  # Eq. 3 as written, torch's spectral norm
    assert (pg["bridge_input"], pg["concat_order"], pg["spectral_norm_form"]) == (
        "pre_activation",
        "bridge_first",
        "parametrization",
    )
    assert ph["length_eps"] > 0


def icezoo_recipe(name):
    from icezoo import load_recipe
    from tests.conftest import RECIPES

    return load_recipe(RECIPES / name)


# -- the converter ---------------------------------------------------------------------------------------------


def test_converter_uses_every_key_once_and_names_the_first_mismatch(tmp_path):
    g, d = R.Generator(), R.Discriminator()
    gs, ds = g.state_dict(), d.state_dict()
    gen, disc = convert_release(gs, ds)
    assert len(gen) == len(gs) == 110 and len(disc) == len(ds) == 63
    assert all(torch.equal(gen["bridges.0.phi.weight"], gs["netG.model.submodule.glore.conv_phi.weight"]) for _ in [0])
    assert torch.equal(disc["head.exp_caps.weight"], ds["netD.aux_layer.W"])
    from icezoo.errors import IcezooError

    bad = dict(gs, **{"netG.model.extra": torch.zeros(1)})
    with pytest.raises(IcezooError, match="unexpected key 'netG.model.extra'"):
        convert_release(bad, ds)
    short = {k: v for k, v in ds.items() if k != "netD.adv_layer.W"}
    with pytest.raises(IcezooError, match="missing the key for icezoo's 'head.adv_caps.weight'"):
        convert_release(gs, short)
    wrong = dict(ds, **{"netD.adv_layer.W": torch.zeros(2, 1024, 32, 8)})
    with pytest.raises(IcezooError, match=r"'netD.adv_layer.W' has shape \(2, 1024, 32, 8\)"):
        convert_release(gs, wrong)


def test_release_checkpoint_is_read_by_synth(tmp_path):
    from icezoo.convert import write_release_checkpoint
    from icezoo.inference.synth import load_generator

    g = R.randomize_(R.Generator(), 7)
    torch.save(g.state_dict(), tmp_path / "G.pth")
    torch.save(R.Discriminator().state_dict(), tmp_path / "D.pth")
    path = write_release_checkpoint(tmp_path / "G.pth", tmp_path / "D.pth", tmp_path / "release.pt")
    model, recipe = load_generator(path)
    assert recipe.name == "icegan_release"
    torch.testing.assert_close(
        model.generator.up[0][1].parametrizations.weight.original,
        g.state_dict()["netG.model." + "submodule." * 6 + "up.1.weight_orig"],
    )


def test_convert_release_command_writes_a_checkpoint_and_names_a_bad_file(tmp_path, cli):
    torch.save(R.randomize_(R.Generator(), 3).state_dict(), tmp_path / "G.pth")
    torch.save(R.Discriminator().state_dict(), tmp_path / "D.pth")
    code, out, err = cli("convert-release", tmp_path / "G.pth", tmp_path / "D.pth", "--out", tmp_path / "r.pt")
    assert code == 0 and (tmp_path / "r.pt").is_file() and "icegan_release" in out, err
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    code, _, err = cli("convert-release", tmp_path / "bad.pth", tmp_path / "D.pth", "--out", tmp_path / "s.pt")
    assert code == 2 and "bad.pth" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s.pt").exists()
