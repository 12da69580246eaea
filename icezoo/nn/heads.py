"""Discriminator heads: ``cls(in_channels, feature_size, num_classes, image_size, **params)``.

``forward(features, labels=None) -> DiscriminatorOutput``. ``labels`` (class
indices) only matter to heads with a reconstruction network, which mask the
expression capsules by the true label in training and by the predicted one
otherwise.
"""

from __future__ import annotations

import dataclasses

import torch
from einops import rearrange
from torch import Tensor, nn

from .capsules import RoutingLayer, RoutingSoftmax, squash
from .layers import Norm, maybe_spectral, norm2d, one_hot
from .spectral import SpectralForm


@dataclasses.dataclass
class DiscriminatorOutput:
    """What every head returns.

    adv: adversarial score [B]; a probability in (0, 1) when
    ``adv_is_probability`` (capsule length), else a logit. cls: class scores
    [B, Nc] (capsule lengths or logits, as the head's class attribute
    ``outputs_probabilities`` says). recon: reconstruction [B, 1, S, S] in
    [0, 1], or None for heads without one.
    """

    adv: Tensor
    cls: Tensor
    recon: Tensor | None = None
    adv_is_probability: bool = False


def _length(v: Tensor, eps: float = 1e-12) -> Tensor:
    """|v| = sqrt(sum v^2 + eps); the epsilon keeps the gradient finite at v = 0 (the release has none)."""
    n2 = v.pow(2).sum(-1)
    return (n2 + eps if eps else n2).sqrt()


class CapsuleHead(nn.Module):
    """Capsule-enhanced head of ICE-GAN (Fig. 3): PrimaryCaps, AdvCaps and ExpCaps, and a reconstruction net.

    PrimaryCaps: a convolution of the trunk's features to ``primary_types`` (8)
    capsule types of ``primary_dim`` (16) at every position of its output grid,
    squashed. The paper does not give the grid; the default 4x4 convolution of
    stride 4 tiles the PatchGAN's 15x15 map into 4x4 (128 capsules), which
    reproduces Table IV's sizes and their growth with ``exp_dim``. Dynamic routing (``routing_iterations``, 3) to one AdvCaps of
    ``adv_dim`` (256; its length is the authenticity score) and to one ExpCaps
    per class of ``exp_dim`` (32; their lengths are the class scores). The
    reconstruction net (Sabour et al.) maps the ExpCaps, masked to one class,
    through ``recon_hidden`` fully connected ReLU layers to the image, sigmoid.

    ``primary_conv=False`` reshapes the trunk's features into capsules as they
    are (the release: 128 x 8 x 8 -> 1024 capsules of 8). ``routing_softmax``
    and ``release_masking`` switch on the release's two deviations (softmax
    over input capsules; a softmax over the batch before the argmax).

    Args:
        in_channels: channels C of the trunk's feature map; set by icezoo.
        feature_size: side h of the trunk's square feature map; set by icezoo.
        num_classes: number N_c of expression classes, one ExpCaps each (3 in the paper); set by icezoo.
        image_size: side S of the reconstructed face (128 in the paper); set by icezoo.
        primary_types: N_prim, primary capsule types at each grid position (8 in the paper).
        primary_dim: d_prim, the dimension of each primary capsule (16 in the paper; 8 in the release).
        primary_conv: whether a convolution maps the features to capsules (on; off reshapes them
            as they are, as the release does).
        primary_kernel: kernel of that convolution (4, an icezoo choice: the paper gives no grid).
        primary_stride: stride of that convolution (4, an icezoo choice that reproduces Table IV's sizes).
        adv_dim: d_adv, the dimension of the AdvCaps (256 in the paper).
        exp_dim: d_exp, the dimension of each ExpCaps (32 in the paper; Table IV varies it from 8 to 128).
        routing_iterations: iterations of dynamic routing (3 in the paper).
        routing_softmax: which couplings the routing softmax normalises: ``out``, each input capsule's
            over the output capsules (Sabour et al.), or ``in``, over the input capsules (the release).
        routing_init_std: standard deviation of the routing weights' normal initialisation (0.01, as in the release).
        recon_hidden: widths of the reconstruction net's hidden layers (512, 1024, as in Sabour et al.;
            the release has 512, 1024, 5120).
        recon_spectral_norm: spectral normalisation of the reconstruction net's weights (off; on in the release).
        release_masking: mask by the argmax of a softmax over the batch when no labels are given,
            as the release does (off: the argmax of the class scores).
        detach_routing: routing predictions carry gradient only in the last iteration, as in the release
            (on); off backpropagates through every iteration, as the paper and Sabour et al. do.
        length_eps: epsilon under the square root of the capsule lengths (1e-12, an icezoo choice that keeps
            the gradient finite at zero; 0 in the release).
        spectral_norm_form: power iteration of the reconstruction net's spectral norm: ``parametrization``
            (torch's current form) or ``hook`` (``torch.nn.utils.spectral_norm``, the release's).
    """

    outputs_probabilities = True  # adversarial and class scores are capsule lengths

    def __init__(
        self,
        in_channels: int,
        feature_size: int,
        num_classes: int = 3,
        image_size: int = 128,
        primary_types: int = 8,
        primary_dim: int = 16,
        primary_conv: bool = True,
        primary_kernel: int = 4,
        primary_stride: int = 4,
        adv_dim: int = 256,
        exp_dim: int = 32,
        routing_iterations: int = 3,
        routing_softmax: RoutingSoftmax = "out",
        routing_init_std: float = 0.01,
        recon_hidden: list[int] = (512, 1024),
        recon_spectral_norm: bool = False,
        release_masking: bool = False,
        detach_routing: bool = True,
        length_eps: float = 1e-12,
        spectral_norm_form: SpectralForm = "parametrization",
    ):
        super().__init__()
        if primary_conv:
            pad = (primary_kernel - 1) // 2
            self.primary = nn.Conv2d(in_channels, primary_types * primary_dim, primary_kernel, primary_stride, pad)
            grid = (feature_size + 2 * pad - primary_kernel) // primary_stride + 1
            types = primary_types
        else:
            if in_channels % primary_dim:
                raise ValueError(
                    f"primary_dim ({primary_dim}) must divide the trunk's {in_channels} channels when primary_conv is false"
                )
            self.primary = nn.Identity()
            grid, types = feature_size, in_channels // primary_dim
        if grid < 1:
            raise ValueError(
                f"the primary capsule grid is empty ({feature_size}x{feature_size} features, kernel {primary_kernel}, stride {primary_stride})"
            )
        self.in_caps, self.primary_dim, self.image_size = grid * grid * types, primary_dim, image_size
        routing = dict(
            iterations=routing_iterations, softmax=routing_softmax, init_std=routing_init_std, detach=detach_routing
        )
        self.adv_caps = RoutingLayer(self.in_caps, primary_dim, 1, adv_dim, **routing)
        self.exp_caps = RoutingLayer(self.in_caps, primary_dim, num_classes, exp_dim, **routing)
        dims = [num_classes * exp_dim, *recon_hidden]
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [maybe_spectral(nn.Linear(a, b), recon_spectral_norm, spectral_norm_form), nn.ReLU()]
        last = nn.Linear(dims[-1], image_size * image_size)
        layers += [maybe_spectral(last, recon_spectral_norm, spectral_norm_form), nn.Sigmoid()]
        self.decoder = nn.Sequential(*layers)
        self.release_masking, self.length_eps = release_masking, length_eps

    def primary_capsules(self, features: Tensor) -> Tensor:
        """[B, C, h, w] -> squashed primary capsules [B, N_in, primary_dim]."""
        p = self.primary(features)  # channels are (capsule type, capsule dimension); each position has every type
        return squash(rearrange(p, "b (t d) h w -> b (h w t) d", d=self.primary_dim))

    def forward(self, features: Tensor, labels: Tensor | None = None) -> DiscriminatorOutput:
        u = self.primary_capsules(features)
        adv = _length(self.adv_caps(u), self.length_eps).squeeze(1)
        exp = self.exp_caps(u)
        cls = _length(exp, self.length_eps)
        if labels is None:
            scores = torch.softmax(cls, dim=0) if self.release_masking else cls
            labels = scores.argmax(dim=1)
        mask = one_hot(labels, cls.shape[1], exp.dtype)
        recon = self.decoder((exp * mask[:, :, None]).flatten(1))
        recon = recon.view(-1, 1, self.image_size, self.image_size)
        return DiscriminatorOutput(adv, cls, recon, adv_is_probability=True)


class CNNHead(nn.Module):
    """Two-layer CNN head (Table IV's DCNN): two convolutions in place of the two capsule layers.

    conv(k, stride) to ``width`` channels, norm, LeakyReLU(0.2); then a
    convolution spanning the whole remaining grid (a fully connected layer) to
    1 + Nc outputs: an adversarial logit and class logits. ``width`` widens it (the "comparable
    size" row of Table IV).

    Args:
        in_channels: channels C of the trunk's feature map; set by icezoo.
        feature_size: side h of the trunk's square feature map; set by icezoo.
        num_classes: number N_c of expression classes, the class logits (3 in the paper); set by icezoo.
        image_size: side S of the faces; set by icezoo (unused: the head has no reconstruction).
        width: channels of the first convolution (128, an icezoo choice: the paper gives none;
            3933 matches the capsule discriminator's parameter count).
        kernel_size: kernel of the first convolution (3, an icezoo choice).
        stride: stride of the first convolution (2, an icezoo choice).
        norm: normalisation after the first convolution (batch, an icezoo choice).
    """

    outputs_probabilities = False  # logits

    def __init__(
        self,
        in_channels: int,
        feature_size: int,
        num_classes: int = 3,
        image_size: int = 128,
        width: int = 128,
        kernel_size: int = 3,
        stride: int = 2,
        norm: Norm = "batch",
    ):
        super().__init__()
        pad = kernel_size // 2
        grid = (feature_size + 2 * pad - kernel_size) // stride + 1
        if grid < 1:
            raise ValueError(f"the CNN head's grid is empty ({feature_size}x{feature_size} features)")
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels, width, kernel_size, stride, pad, bias=norm == "none"),
            norm2d(norm, width),
            nn.LeakyReLU(0.2),
        )
        # the second layer's kernel is the whole grid: a fully connected layer, written as one
        # (PyTorch's CPU bf16 convolution backward corrupts memory for this shape at width 3933)
        self.conv2 = nn.Sequential(nn.Flatten(1), nn.Linear(width * grid * grid, 1 + num_classes))

    def forward(self, features: Tensor, labels: Tensor | None = None) -> DiscriminatorOutput:
        out = self.conv2(self.conv1(features))
        return DiscriminatorOutput(out[:, 0], out[:, 1:], None)
