"""The graph reasoning module (GRM) of ICE-GAN, model F (Section III-A, Eqs. 1 and 2).

Two implementations of the same math share one parameter layout:
:class:`GraphReasoning` (``grm``) runs the graph convolution through
torch-geometric; :class:`GraphReasoningEinsum` (``grm_einsum``) is plain
``einsum``, the reference in tests and the baseline in benchmarks.
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from ..layers import Activation, Norm, norm2d
from ..layers import activation as make_activation

GraphLayer = Literal["gin", "gcn"]


class _GraphReasoningBase(nn.Module):
    """Parameters and options shared by both GRM implementations."""

    def __init__(
        self,
        channels: int,
        reduction: int = 1,
        supernodes: int | None = None,
        activation: Activation = "relu",
        layer: GraphLayer = "gin",
        norm: Norm = "instance",
        adjacency_std: float | None = None,
    ):
        """Both GRM implementations' parameters.

        Args:
            channels: width C of the feature map the block bridges; set by icezoo.
            reduction: ratio C / C' of channels to graph nodes (1: the paper's C x C channel graph).
            supernodes: positions N_s that ``pool`` averages P and Q down to, a square number
                (None: every position, N_s = HW; pooling is an icezoo option, not in the paper).
            activation: sigma of Eq. 2 (ReLU, as in the release's graph convolution).
            layer: the form of Eq. 2: ``gin``, exactly the paper's (A + I) M W, or ``gcn``, degree-normalised.
            norm: normalisation of the back-projection before the residual sum (instance, as in the release).
            adjacency_std: standard deviation of A's normal initialisation (None: 1/sqrt(C'), an icezoo
                choice that keeps (A + I) M near M's scale; the paper says only "normal").
        """
        super().__init__()
        if reduction < 1 or channels % reduction:
            raise ValueError(f"reduction must divide channels ({channels}), got {reduction}")
        if supernodes is not None and (supernodes < 1 or math.isqrt(supernodes) ** 2 != supernodes):
            raise ValueError(f"supernodes must be a square number (a side x side grid), got {supernodes}")
        if layer not in ("gin", "gcn"):
            raise ValueError(f"layer must be 'gin' or 'gcn', got {layer!r}")
        nodes = channels // reduction
        self.channels, self.nodes, self.supernodes, self.layer = channels, nodes, supernodes, layer
        self.T = nn.Conv2d(channels, channels, 1)
        self.phi = nn.Conv2d(channels, nodes, 1)
        self.theta = nn.Conv2d(channels, nodes, 1)
        # A: the learnable adjacency of Eq. 2, normal init (std 1/sqrt(C') keeps (A + I) M near M's scale)
        std = adjacency_std if adjacency_std is not None else nodes**-0.5
        self.adjacency = nn.Parameter(torch.randn(nodes, nodes) * std)
        self.T_inv = nn.Conv2d(nodes, channels, 1, bias=False)
        self.norm = norm2d(norm, channels)
        self.act = make_activation(activation)
        self._build_graph_convolution()

    def _build_graph_convolution(self) -> None:
        """Create W of Eq. 2 (each implementation stores it its own way)."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"channels={self.channels}, nodes={self.nodes}, supernodes={self.supernodes}, layer={self.layer!r}"


class GraphReasoning(_GraphReasoningBase):
    """Graph reasoning module (model F): a channel graph from self-attention, reasoned by a PyG graph convolution.

    What is computed, for f_enc = x in R^{C x H x W} and C' = C // reduction::

        f^   = T(x)                           T: 1x1 convolution C -> C (supernodes)
        P, Q = phi(f^), theta(f^)             1x1 convolutions C -> C' (the linear maps)
        M    = pool(P) pool(Q)^T / N_s        Eq. 1: channel graph, C' x C' (N_s supernodes)
        M^   = sigma(Eq. 2 on M)              graph convolution over the C' channel nodes
        y    = norm(T_inv(M^ Q))              back-projection to C x H x W
        out  = x + y                          residual

    ``pool`` averages f^ down to ``supernodes`` positions (None keeps every
    position, N_s = HW). Eq. 2 comes in two forms, chosen by ``layer``:

    * ``layer="gin"`` (default): M^ = sigma((A + I) M W), exactly the paper's
      Eq. 2 with an unconstrained learnable A (normal init) and W. It is computed
      by PyG's ``DenseGINConv(nn=Linear(C', C', bias=False), eps=0)``, whose
      update nn((1 + eps) X + A X) is (A + I) X W: the self-loop I is GIN's
      (1 + eps) X term, and the layer neither normalises nor touches A's diagonal.
    * ``layer="gcn"``: M^ = sigma(D^-1/2 A~ D^-1/2 M W + b), the normalised GCN
      of Kipf and Welling through PyG's ``DenseGCNConv``. That layer overwrites
      the adjacency's diagonal with 1 (the self-loop) and normalises by degree,
      so A~ = softplus(A) with its diagonal set to 1, which keeps the degrees
      positive (a normal-initialised A would give negative degrees).

    :class:`GraphReasoningEinsum` computes the same in plain tensor code.

    The parameters (shared with :class:`GraphReasoningEinsum`) are documented on the base constructor.
    """

    def _build_graph_convolution(self) -> None:
        DenseGCNConv, DenseGINConv = _pyg_dense_layers()
        if self.layer == "gin":
            self.graph_conv = DenseGINConv(nn.Linear(self.nodes, self.nodes, bias=False), eps=0.0, train_eps=False)
            # GIN's fixed eps as a 0-dim tensor: PyG's [1]-shaped fp32 buffer promotes (1 + eps) M from bf16 to
            # fp32 under autocast (two fp32 kernels and a cast per GRM); a 0-dim one leaves M's dtype alone
            self.graph_conv.eps = torch.zeros(())
        else:
            self.graph_conv = DenseGCNConv(self.nodes, self.nodes)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        key = prefix + "graph_conv.eps"
        if key in state_dict and state_dict[key].shape == (1,):  # a checkpoint of PyG's [1]-shaped eps
            state_dict[key] = state_dict[key].reshape(())
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def channel_graph(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Eq. 1: the channel graph M [B, C', C'] and the projected features Q [B, C', HW]."""
        f = self.T(x)
        p, q = self.phi(f), self.theta(f)
        if self.supernodes is not None:
            side = math.isqrt(self.supernodes)
            p_s, q_s = F.adaptive_avg_pool2d(p, side), F.adaptive_avg_pool2d(q, side)
        else:
            p_s, q_s = p, q
        p_s, q_s = p_s.flatten(2), q_s.flatten(2)
        m = torch.bmm(p_s, q_s.transpose(1, 2)) / p_s.shape[-1]
        return m, q.flatten(2)

    def reason(self, m: Tensor) -> Tensor:
        """Eq. 2 through torch-geometric: M^ = sigma(graph_conv(M, A))."""
        if self.layer == "gin":
            out = self.graph_conv(m, self.adjacency)  # nn((1 + 0) M + A M) = (A + I) M W
        else:
            out = self.graph_conv(m, F.softplus(self.adjacency))  # diagonal set to 1, degree-normalised
        return self.act(out)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        m, q = self.channel_graph(x)
        m_hat = self.reason(m)
        y = rearrange(torch.bmm(m_hat, q), "b n (h w) -> b n h w", h=h, w=w)  # nodes back onto the grid
        return x + self.norm(self.T_inv(y))


class GraphReasoningEinsum(_GraphReasoningBase):
    """The GRM in plain tensor code (einsum), the reference for ``grm``; same parameters, same math."""

    def _build_graph_convolution(self) -> None:
        # W of Eq. 2, stored (in, out) as written in the equation
        self.weight = nn.Parameter(torch.empty(self.nodes, self.nodes))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.bias = nn.Parameter(torch.zeros(self.nodes)) if self.layer == "gcn" else None

    @classmethod
    def from_module(cls, grm: GraphReasoning) -> GraphReasoningEinsum:
        """A ``grm_einsum`` holding a copy of a ``grm``'s weights (same device and dtype)."""
        norm = (
            "instance"
            if isinstance(grm.norm, nn.GroupNorm)
            else "batch"
            if isinstance(grm.norm, nn.BatchNorm2d)
            else "none"
        )
        act = {
            nn.ReLU: "relu",
            nn.LeakyReLU: "leaky_relu",
            nn.GELU: "gelu",
            nn.Sigmoid: "sigmoid",
            nn.Tanh: "tanh",
            nn.Identity: "identity",
        }[type(grm.act)]
        out = cls(grm.channels, grm.channels // grm.nodes, grm.supernodes, act, grm.layer, norm)
        state = {k: v for k, v in grm.state_dict().items() if not k.startswith("graph_conv.")}
        if grm.layer == "gin":
            state["weight"] = grm.graph_conv.nn.weight.detach().t()
        else:
            state["weight"] = grm.graph_conv.lin.weight.detach().t()
            state["bias"] = grm.graph_conv.bias.detach()
        out.load_state_dict(state)
        return out.to(device=grm.adjacency.device, dtype=grm.adjacency.dtype)

    @staticmethod
    def _conv1x1(conv: nn.Conv2d, x: Tensor) -> Tensor:
        y = torch.einsum("oc,bchw->bohw", conv.weight[:, :, 0, 0], x)
        return y if conv.bias is None else y + conv.bias[None, :, None, None]

    def forward(self, x: Tensor) -> Tensor:
        f = self._conv1x1(self.T, x)
        p, q = self._conv1x1(self.phi, f), self._conv1x1(self.theta, f)
        if self.supernodes is not None:
            side = math.isqrt(self.supernodes)
            p_s, q_s = F.adaptive_avg_pool2d(p, side), F.adaptive_avg_pool2d(q, side)
        else:
            p_s, q_s = p, q
        n_s = p_s.shape[-1] * p_s.shape[-2]
        m = torch.einsum("bihw,bjhw->bij", p_s, q_s) / n_s  # Eq. 1
        eye = torch.eye(self.nodes, device=x.device, dtype=self.adjacency.dtype)
        if self.layer == "gin":
            h = torch.einsum("ij,bjk,kl->bil", self.adjacency + eye, m, self.weight)  # (A + I) M W
        else:
            a = F.softplus(self.adjacency) * (1 - eye) + eye  # diagonal overwritten with 1
            d = a.sum(-1).clamp(min=1).rsqrt()
            h = torch.einsum("i,ij,j,bjk,kl->bil", d, a, d, m, self.weight) + self.bias
        m_hat = self.act(h)  # Eq. 2
        y = torch.einsum("bij,bjhw->bihw", m_hat, q)  # back-projection M^ Q
        y = torch.einsum("oc,bchw->bohw", self.T_inv.weight[:, :, 0, 0], y)
        return x + self.norm(y)


def _pyg_dense_layers():
    """PyG's dense GCN and GIN layers, imported when a GRM is built (listing components needs no PyG)."""
    with warnings.catch_warnings():  # torch-geometric's import still calls the deprecated torch.jit.script
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
        from torch_geometric.nn import DenseGCNConv, DenseGINConv
    return DenseGCNConv, DenseGINConv
