"""Capsule layers (Sabour et al. 2017): squash and batched dynamic routing."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

RoutingSoftmax = Literal["out", "in"]


def squash(s: Tensor, dim: int = -1, eps: float = 1e-12) -> Tensor:
    """v = |s|^2 / (1 + |s|^2) * s / |s|: keeps the direction, maps the length into [0, 1)."""
    n2 = s.pow(2).sum(dim, keepdim=True)
    return s * (n2 / (1 + n2)) * torch.rsqrt(n2 + eps)


def dynamic_routing(u_hat: Tensor, iterations: int = 3, softmax: RoutingSoftmax = "out", detach: bool = True) -> Tensor:
    """Routing by agreement over predictions ``u_hat`` [B, N_out, N_in, D]; returns v [B, N_out, D].

    Coupling logits b start at 0; each iteration c = softmax(b), s = sum_i c u_hat,
    v = squash(s), b += <u_hat, v>. ``softmax="out"`` normalises each input
    capsule's couplings over the output capsules (Sabour et al.); ``"in"`` over
    the input capsules, as the authors' release does. With ``detach`` the
    predictions carry no gradient except in the last iteration (as in the release).
    All samples and capsules are routed at once: no Python loop but the iterations.
    """
    if iterations < 1:
        raise ValueError("routing needs at least one iteration")
    dim = 1 if softmax == "out" else 2
    logits = u_hat.new_zeros(u_hat.shape[:3])
    for it in range(iterations):
        last = it == iterations - 1
        u = u_hat if (last or not detach) else u_hat.detach()
        c = torch.softmax(logits, dim=dim)
        v = squash(torch.einsum("boi,boid->bod", c, u))
        if not last:
            logits = logits + torch.einsum("boid,bod->boi", u, v)
    return v


class RoutingLayer(nn.Module):
    """A capsule layer: N_in capsules of dim d_in -> N_out capsules of dim d_out by dynamic routing.

    Each (output, input) pair has its own transformation W_ij (d_out x d_in),
    initialised ``init_std`` * randn (0.01 in the release). ``detach``: see :func:`dynamic_routing`.
    """

    def __init__(
        self,
        in_caps: int,
        in_dim: int,
        out_caps: int,
        out_dim: int,
        iterations: int = 3,
        softmax: RoutingSoftmax = "out",
        init_std: float = 0.01,
        detach: bool = True,
    ):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_caps, in_caps, out_dim, in_dim) * init_std)
        self.iterations, self.softmax, self.detach = iterations, softmax, detach

    def predictions(self, u: Tensor) -> Tensor:
        """u_hat_{j|i} = W_ij u_i: [B, N_in, d_in] -> [B, N_out, N_in, d_out]."""
        return torch.einsum("oidk,bik->boid", self.weight, u)

    def forward(self, u: Tensor) -> Tensor:
        return dynamic_routing(self.predictions(u), self.iterations, self.softmax, self.detach)

    def extra_repr(self) -> str:
        o, i, do, di = self.weight.shape
        return (
            f"{i} x {di}d -> {o} x {do}d, iterations={self.iterations}, softmax={self.softmax!r}, detach={self.detach}"
        )
