"""Reasoning blocks: contract, gradients, and the PyG GRM against the einsum reference."""

from __future__ import annotations

import pytest
import torch

from icezoo.nn.reasoning import (
    GraphReasoning,
    GraphReasoningEinsum,
    NoBridge,
    ReleaseGraphReasoning,
    Skip,
    SqueezeExcitation,
)
from icezoo.registry import registry

from .helpers import params_without_grad, randomize_, relative_error, weighted_sum

SPECS = [
    {"type": "skip"},
    {"type": "se"},
    {"type": "se", "reduction": 4},
    {"type": "grm"},
    {"type": "grm", "layer": "gcn"},
    {"type": "grm", "reduction": 2, "supernodes": 4},
    {"type": "grm_einsum"},
    {"type": "grm_einsum", "layer": "gcn", "supernodes": 9},
    {"type": "grm_release"},
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: "-".join(str(v) for v in s.values()))
@pytest.mark.parametrize("hw", [(1, 1), (2, 2), (5, 7), (16, 16)])
def test_contract_shape_any_size(spec, hw):
    block = registry.build("reasoning", spec, channels=32)
    x = torch.randn(3, 32, *hw)
    assert block(x).shape == x.shape


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: "-".join(str(v) for v in s.values()))
def test_gradients_reach_every_parameter(spec):
    block = registry.build("reasoning", spec, channels=16)
    x = torch.randn(2, 16, 6, 6, requires_grad=True)
    missing = params_without_grad(block, weighted_sum(block(x)))
    assert missing == []
    assert x.grad is not None and torch.any(x.grad != 0)


def test_grm_exposes_learnable_adjacency_and_weight():
    for layer, w_name in (("gin", "graph_conv.nn.weight"), ("gcn", "graph_conv.lin.weight")):
        grm = GraphReasoning(16, layer=layer)
        names = dict(grm.named_parameters())
        assert names["adjacency"].shape == (16, 16) and names[w_name].shape == (16, 16)
        missing = params_without_grad(grm, weighted_sum(grm(torch.randn(2, 16, 4, 4))))
        assert "adjacency" not in missing and w_name not in missing


def test_adjacency_is_normal_initialised():
    a = GraphReasoning(256).adjacency.detach()
    assert abs(a.mean().item()) < 0.01
    assert a.std().item() == pytest.approx(256**-0.5, rel=0.05)
    assert GraphReasoning(8, adjacency_std=2.0).adjacency.std().item() > 1.0


@pytest.mark.parametrize("layer", ["gin", "gcn"])
@pytest.mark.parametrize("reduction, supernodes", [(1, None), (2, None), (1, 4), (4, 16)])
@pytest.mark.parametrize("seed", [0, 1])
def test_pyg_grm_equals_einsum_grm(layer, reduction, supernodes, seed):
    torch.manual_seed(seed)
    pyg = randomize_(GraphReasoning(32, reduction=reduction, supernodes=supernodes, layer=layer), seed=seed)
    ref = GraphReasoningEinsum.from_module(pyg)
    x = torch.randn(3, 32, 8, 9, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    out, out_ref = pyg(x), ref(x_ref)
    torch.testing.assert_close(out, out_ref, rtol=1e-5, atol=1e-5)
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    (out_ref * weights).sum().backward()
    w_pyg = pyg.graph_conv.nn.weight if layer == "gin" else pyg.graph_conv.lin.weight
    for a, b in ((x.grad, x_ref.grad), (pyg.adjacency.grad, ref.adjacency.grad), (w_pyg.grad.t(), ref.weight.grad)):
        assert relative_error(a, b) < 1e-5


def test_einsum_grm_needs_no_torch_geometric(monkeypatch):
    """The reference runs with torch_geometric unimportable: it cannot be PyG's layer seen twice."""
    import sys

    pyg = randomize_(GraphReasoning(8), seed=3)
    x = torch.randn(2, 8, 4, 4)
    expected = pyg(x)
    for name in [m for m in sys.modules if m == "torch_geometric" or m.startswith("torch_geometric.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torch_geometric", None)  # any import of it now fails
    ref = GraphReasoningEinsum.from_module(pyg)
    torch.testing.assert_close(ref(x), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ImportError):
        import torch_geometric  # noqa: F401


def test_einsum_grm_is_an_independent_implementation():
    """Changing one weight changes both outputs alike: not two views of one code path."""
    pyg = randomize_(GraphReasoning(8), seed=3)
    ref = GraphReasoningEinsum.from_module(pyg)
    x = torch.randn(2, 8, 4, 4)
    with torch.no_grad():
        pyg.adjacency.add_(0.5)
    assert not torch.allclose(pyg(x), ref(x), atol=1e-4)
    torch.testing.assert_close(pyg(x), GraphReasoningEinsum.from_module(pyg)(x), rtol=1e-5, atol=1e-5)


def test_gin_form_is_exactly_eq2():
    """(A + I) M W, computed by hand from the module's own pieces."""
    grm = randomize_(GraphReasoning(6, norm="none", activation="identity"), seed=5)
    x = torch.randn(2, 6, 3, 3)
    m, q = grm.channel_graph(x)
    a, w = grm.adjacency, grm.graph_conv.nn.weight.t()
    m_hat = (a + torch.eye(6)) @ m @ w
    expected = x + grm.T_inv((m_hat @ q).view(2, 6, 3, 3))
    torch.testing.assert_close(grm(x), expected, rtol=1e-5, atol=1e-6)
    f = grm.T(x)
    p, qq = grm.phi(f).flatten(2), grm.theta(f).flatten(2)
    torch.testing.assert_close(m, p @ qq.transpose(1, 2) / 9)  # Eq. 1, scaled by the 9 positions


def test_simple_blocks():
    x = torch.randn(2, 8, 5, 5)
    assert torch.equal(Skip(8)(x), x)
    assert torch.equal(NoBridge(8)(x), torch.zeros_like(x)) and NoBridge.bridges is False
    se = SqueezeExcitation(8, reduction=2)
    y = se(x)
    ratio = y / x
    assert torch.all((ratio > 0) & (ratio < 1))  # a sigmoid gate per channel
    assert torch.allclose(ratio, ratio[:, :, :1, :1].expand_as(ratio), atol=1e-5)  # one gate per channel


@pytest.mark.parametrize("channels, count", [(64, 3648), (128, 14464), (256, 57600), (512, 229888)])
def test_release_grm_parameter_counts(channels, count):
    assert sum(p.numel() for p in ReleaseGraphReasoning(channels).parameters()) == count


@pytest.mark.parametrize("bad", [{"reduction": 3}, {"supernodes": 5}, {"layer": "sage"}])
def test_grm_rejects_bad_options(bad):
    with pytest.raises(ValueError):
        GraphReasoning(16, **bad)


def test_blocks_run_under_bf16_autocast_on_cpu():
    """Each block under bf16 autocast gives its fp32 output to bf16's precision (about 1e-2 relative)."""
    for spec in SPECS:
        torch.manual_seed(0)
        block = registry.build("reasoning", spec, channels=16).eval()
        x = torch.randn(2, 16, 4, 4)
        with torch.no_grad():
            reference = block(x)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = block(x)
        assert out.shape == (2, 16, 4, 4)
        scale = reference.abs().max()
        assert (out.float() - reference).abs().max() <= 0.05 * scale, spec


def test_gin_self_loop_keeps_bf16_under_autocast():
    """(1 + eps) M stays in M's dtype: PyG's [1]-shaped fp32 eps made it fp32 and the Linear cast it back."""
    grm = GraphReasoning(16, reduction=2, supernodes=4)
    seen = []
    grm.graph_conv.nn.register_forward_hook(lambda module, inputs, out: seen.append(inputs[0].dtype))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        grm(torch.randn(2, 16, 4, 4))
    assert seen == [torch.bfloat16]


def test_a_checkpoint_of_pyg_shaped_gin_eps_still_loads():
    """State dicts written before the 0-dim eps hold it as [1]: they load, and compute the same."""
    torch.manual_seed(0)
    grm, again = GraphReasoning(16), GraphReasoning(16)
    randomize_(grm)
    old = {k: v.reshape(1) if k == "graph_conv.eps" else v for k, v in grm.state_dict().items()}
    again.load_state_dict(old)
    assert again.graph_conv.eps.shape == ()
    x = torch.randn(2, 16, 4, 4)
    torch.testing.assert_close(again(x), grm(x), rtol=0, atol=0)
