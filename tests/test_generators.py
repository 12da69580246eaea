"""Generators: the identity-aware U-Net (shapes, seed, bridges, gradients) and DCGAN."""

from __future__ import annotations

import textwrap

import pytest
import torch

import icezoo
from icezoo.nn.generators import DCGANGenerator, IdentityUNet
from icezoo.registry import registry

from .conftest import RECIPES
from .helpers import params_without_grad, weighted_sum

SMALL = RECIPES / "icegan_small.yaml"


def _inputs(b: int, s: int, nz: int = 100, nc: int = 3):
    labels = torch.arange(b) % nc
    return torch.rand(b, 1, s, s) * 2 - 1, torch.randn(b, nz), torch.nn.functional.one_hot(labels, nc).float()


def test_paper_generator_shapes_at_every_level():
    """128x128 onset -> f_enc 64x64x64 ... 512x2x2 -> e 320x1x1; seed 423; decoder mirrors the encoder."""
    gen = IdentityUNet().eval()
    x, z, c = _inputs(2, 128)
    dec_shapes = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: dec_shapes.append(tuple(out.shape[1:]))) for m in gen.up]
    with torch.no_grad():
        feats, e = gen.encode(x)
        out = gen(x, z, c)
    for h in hooks:
        h.remove()
    assert [tuple(f.shape[1:]) for f in feats] == [
        (64, 64, 64),
        (128, 32, 32),
        (256, 16, 16),
        (512, 8, 8),
        (512, 4, 4),
        (512, 2, 2),
    ]
    assert tuple(e.shape[1:]) == (320, 1, 1)
    assert gen.seed_channels == 423
    first_up = gen.up[0][1]
    assert first_up.in_channels == 423  # s = [e, z, c]
    assert dec_shapes == [
        (512, 2, 2),
        (512, 4, 4),
        (512, 8, 8),
        (256, 16, 16),
        (128, 32, 32),
        (64, 64, 64),
        (1, 128, 128),
    ]
    # Eq. 3: each decoder level reads concat(g_i, f_dec_i): twice the encoder width
    assert [gen.up[i][1].in_channels for i in range(1, 7)] == [1024, 1024, 1024, 512, 256, 128]
    assert out.shape == (2, 1, 128, 128) and out.min() >= -1 and out.max() <= 1
    assert [type(b).__name__ for b in gen.bridges] == ["GraphReasoning"] * 6


def test_output_depends_on_onset_noise_and_class():
    torch.manual_seed(0)
    gen = IdentityUNet(image_size=32, width=8, reasoning="skip").eval()
    x, z, c = _inputs(3, 32)
    with torch.no_grad():
        base = gen(x, z, c)
        assert not torch.allclose(base, gen(x.flip(0), z, c))
        assert not torch.allclose(base, gen(x, torch.randn_like(z), c))
        assert not torch.allclose(base, gen(x, z, c.roll(1, dims=1)))


@pytest.mark.parametrize(
    "reasoning", ["none", "skip", "se", "grm", "grm_einsum", "grm_release", ["none", "skip", "se", "grm"]]
)
def test_gradients_reach_every_parameter(reasoning):
    gen = IdentityUNet(image_size=32, width=8, reasoning=reasoning)
    x, z, c = _inputs(2, 32)
    assert params_without_grad(gen, weighted_sum(gen(x, z, c))) == []


def test_every_grm_gets_gradients_for_a_and_w():
    gen = IdentityUNet(image_size=32, width=8, reasoning="grm")
    x, z, c = _inputs(2, 32)
    weighted_sum(gen(x, z, c)).backward()
    for block in gen.bridges:
        assert block.adjacency.grad is not None and block.adjacency.grad.abs().sum() > 0
        assert block.graph_conv.nn.weight.grad.abs().sum() > 0


def test_none_removes_the_bridge():
    with_skip = IdentityUNet(image_size=32, width=8, reasoning="skip")
    without = IdentityUNet(image_size=32, width=8, reasoning="none")
    assert [m[1].in_channels for m in without.up[1:]] == [64, 32, 16, 8]
    assert [m[1].in_channels for m in with_skip.up[1:]] == [128, 64, 32, 16]
    x, z, c = _inputs(2, 32)
    assert without(x, z, c).shape == (2, 1, 32, 32)


def test_reasoning_list_must_match_the_levels():
    with pytest.raises(ValueError, match="list of 4"):
        IdentityUNet(image_size=32, width=8, reasoning=["skip", "skip"])


@pytest.mark.parametrize("block", ["none", "skip", "se", "grm"])
def test_blocks_swap_by_recipe(block):
    recipe = icezoo.load_recipe(SMALL, [f"model.generator.reasoning.type={block}"])
    gen = icezoo.build_model(recipe).generator
    names = {registry.get("reasoning", block).obj}
    assert {type(b) for b in gen.bridges} == names
    out = gen(*_inputs(2, 64))
    assert out.shape == (2, 1, 64, 64)


def test_user_block_drops_in_through_a_recipe(tmp_path):
    (tmp_path / "my_blocks.py").write_text(
        textwrap.dedent("""
        import icezoo
        import torch
        from torch import nn

        @icezoo.register("reasoning", "scaled_skip_test")
        class ScaledSkip(nn.Module):
            '''A user block: a learnable per-channel scale.'''
            def __init__(self, channels: int, init: float = 0.5):
                super().__init__()
                self.scale = nn.Parameter(torch.full((channels, 1, 1), init))
            def forward(self, x):
                return x * self.scale
    """)
    )
    recipe_path = tmp_path / "mine.yaml"
    recipe_path.write_text(
        f"extends: {SMALL}\nplugins: [my_blocks.py]\nmodel: {{generator: {{reasoning: {{type: scaled_skip_test, init: 2.0}}}}}}\n"
    )
    recipe = icezoo.load_recipe(recipe_path)
    gen = icezoo.build_model(recipe).generator
    assert all(type(b).__name__ == "ScaledSkip" and float(b.scale.detach().mean()) == 2.0 for b in gen.bridges)
    assert gen(*_inputs(2, 64)).shape == (2, 1, 64, 64)
    assert registry.get("reasoning", "scaled_skip_test").source == "module my_blocks"
    assert recipe.plugins == [
        str((tmp_path / "my_blocks.py").resolve())
    ]  # the resolved recipe finds the file from anywhere


def test_dcgan_generator_ignores_the_onset():
    gen = DCGANGenerator(image_size=64, width=8).eval()
    x, z, c = _inputs(2, 64)
    with torch.no_grad():
        out = gen(None, z, c)
        assert torch.equal(out, gen(x, z, c))
    assert out.shape == (2, 1, 64, 64) and out.abs().max() <= 1
    assert gen.uses_onset is False and IdentityUNet.uses_onset is True
    assert params_without_grad(gen.train(), weighted_sum(gen(None, z, c))) == []


def test_dcgan_at_paper_size():
    gen = DCGANGenerator()
    convs = [m for m in gen.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert convs[0].in_channels == 103  # [z, c]
    assert len(convs) == 6  # 1 -> 4 -> 8 -> 16 -> 32 -> 64 -> 128
    with torch.no_grad():
        assert gen.eval()(None, torch.randn(1, 100), torch.eye(3)[:1]).shape == (1, 1, 128, 128)


def test_generators_under_bf16_autocast():
    """bf16 autocast computes what fp32 computes, to bf16's precision (8 bits of mantissa: about 1e-2 relative)."""
    torch.manual_seed(0)
    gen = IdentityUNet(image_size=32, width=8, reasoning="grm").eval()
    inputs = _inputs(2, 32)
    with torch.no_grad():
        reference = gen(*inputs)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = gen(*inputs)
    assert out.dtype == torch.bfloat16  # autocast ran the convolutions in bf16
    err = (out.float() - reference).abs()
    # outputs in [-1, 1]; bf16 rounding through twelve levels and six GRMs moves a few pixels of this untrained
    # net by up to ~0.3, the face as a whole by ~0.003 (a skipped or wrong layer moves it by ~0.3)
    corr = torch.corrcoef(torch.stack([out.float().flatten(), reference.flatten()]))[0, 1]
    assert err.mean() < 0.01 and corr > 0.99, (err.mean(), corr)
    assert err.max() > 0  # not the fp32 path twice
