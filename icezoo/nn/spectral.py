"""Spectral normalisation in two forms that differ in their power iteration (Miyato et al. 2018).

``parametrization`` is ``torch.nn.utils.parametrizations.spectral_norm``: u is
updated before v, and 15 warm-up iterations run at construction.
``hook`` computes what ``torch.nn.utils.spectral_norm`` (the older hook form,
used by the authors' release) computes: one iteration per training forward
with v updated before u, and u, v drawn once at construction with no warm-up
(reference: "Spectral norm is the hook form"). It is written as a
parametrization too, so both forms share one state-dict layout
(``parametrizations.weight.original``, ``...weight.0._u``, ``...weight.0._v``).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm as _parametrization_form

SpectralForm = Literal["parametrization", "hook"]


class HookSpectralNorm(nn.Module):
    """W / sigma(W) with sigma = u^T W v, by the hook form's power iteration (v first, then u).

    Args:
        weight: the weight it normalises (sets the shapes of u and v).
        dim: the weight's output dimension (1 for transposed convolutions, else 0, as torch chooses).
        eps: the normalisation's epsilon (1e-12, torch's).
    """

    def __init__(self, weight: Tensor, dim: int = 0, eps: float = 1e-12):
        super().__init__()
        self.dim, self.eps = dim, eps
        h, w = self._matrix(weight).shape
        self.register_buffer("_u", F.normalize(weight.new_empty(h).normal_(0, 1), dim=0, eps=eps))
        self.register_buffer("_v", F.normalize(weight.new_empty(w).normal_(0, 1), dim=0, eps=eps))

    def _matrix(self, weight: Tensor) -> Tensor:
        if self.dim:
            weight = weight.permute(self.dim, *(d for d in range(weight.dim()) if d != self.dim))
        return weight.flatten(1)

    def forward(self, weight: Tensor) -> Tensor:
        mat = self._matrix(weight)
        u, v = self._u, self._v
        if self.training:
            with torch.no_grad():  # in place, as torch does, so replicas share the update
                F.normalize(torch.mv(mat.t(), u), dim=0, eps=self.eps, out=v)
                F.normalize(torch.mv(mat, v), dim=0, eps=self.eps, out=u)
            u, v = u.clone(), v.clone()
        return weight / torch.dot(u, torch.mv(mat, v))


def spectral_norm(module: nn.Module, form: SpectralForm = "parametrization") -> nn.Module:
    """``module`` with its weight spectral-normalised in the given form."""
    if form == "parametrization":
        return _parametrization_form(module)
    if form != "hook":
        raise ValueError(f"unknown spectral norm form {form!r} (parametrization or hook)")
    dim = 1 if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)) else 0
    # unsafe: the safe path checks shapes by a forward, a power iteration the hook form does not run
    return parametrize.register_parametrization(module, "weight", HookSpectralNorm(module.weight, dim), unsafe=True)
