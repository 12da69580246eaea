"""Generators: the identity-aware U-Net of ICE-GAN and the DCGAN-like one of model B.

Contract: ``cls(image_size, in_channels, noise_dim, num_classes, **params)``;
``forward(x_on [B,1,S,S] or None, z [B,Nz], c [B,Nc] one-hot) -> x_syn [B,1,S,S]``
in [-1, 1]. ``uses_onset`` says whether the onset face is read.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..registry import registry
from ..typecheck import Component
from .layers import Norm, activation, conv, conv_transpose, init_gan_weights, norm2d, power_of_two_depth
from .spectral import SpectralForm

ReasoningSpecs = Annotated[Any, Component("reasoning", many=True)]


def _level_widths(depth: int, width: int, max_width: int) -> list[int]:
    """Channels of f_enc_1 .. f_enc_{depth-1}: width, 2 width, 4 width, ... capped at max_width."""
    return [min(width * 2**i, max_width) for i in range(depth - 1)]


class IdentityUNet(nn.Module):
    """Identity-aware generator of ICE-GAN (Fig. 2): a U-Net whose bridges are reasoning blocks.

    The encoder turns the onset face into f_enc_1..f_enc_L (L = log2(S) - 1:
    six levels at 128x128, widths 64, 128, 256, 512, 512, 512) and a bottleneck
    embedding e of ``embed_dim`` (320) channels at 1x1. The synthesis seed
    s = [e, z, c] (320 + 100 + 3 = 423 channels) is decoded by transposed
    convolutions; at each level the decoder input is concat(g_i, f_dec_i) with
    g_i = reasoning_i(f_enc_i) (Eq. 3). A reasoning block with ``bridges = False``
    (``none``) leaves the concatenation out (model C).

    ``reasoning`` is one spec for every level or a list, outermost level first.
    Layer style follows the authors' release: 4x4 stride-2 convolutions,
    LeakyReLU(0.2) before each down- and up-convolution, instance norm, spectral
    norm on every (de)convolution, tanh output, weights N(0, 0.02).

    Args:
        image_size: side S of the square faces, a power of two (128 in the paper); set by icezoo.
        in_channels: channels of the onset and synthesised faces (1, grayscale, in the paper); set by icezoo.
        noise_dim: length N_z of the noise z in the seed (100 in the paper); set by icezoo.
        num_classes: number N_c of expression classes, the length of the one-hot c (3 in the paper); set by icezoo.
        reasoning: the bridge blocks g_i: one reasoning spec for every encoder level, or a list of
            L specs, outermost level first (``grm``, model F, by default).
        width: channels of f_enc_1, doubled at each deeper level (64 gives the paper's widths).
        max_width: cap on the doubling widths (512 gives the paper's widths).
        embed_dim: channels of the identity embedding e at 1x1 (320 in the paper).
        norm: normalisation after each inner (de)convolution (instance, as in the release).
        spectral_norm: spectral normalisation of every (de)convolution's weight (on, as in the release).
        up_activation: activation before each up-convolution (LeakyReLU 0.2, as in the release;
            ``relu`` is pix2pix's).
        bridge_input: what each reasoning block (and its residual) reads: ``pre_activation``, f_enc_i as
            Eq. 3 says, or ``activated``, LeakyReLU(0.2)(f_enc_i), as in the release, whose in-place
            LeakyReLU overwrites the level input before the bridge runs.
        concat_order: halves of each decoder input: ``bridge_first``, concat(g_i, f_dec_i) as Eq. 3
            writes it, or ``decoder_first``, concat(f_dec_i, g_i), the release's (its weights load only so).
        spectral_norm_form: power iteration of the spectral norm: ``parametrization`` (torch's current
            form) or ``hook`` (``torch.nn.utils.spectral_norm``, the release's); see :mod:`icezoo.nn.spectral`.
    """

    uses_onset = True

    def __init__(
        self,
        image_size: int = 128,
        in_channels: int = 1,
        noise_dim: int = 100,
        num_classes: int = 3,
        reasoning: ReasoningSpecs = "grm",
        width: int = 64,
        max_width: int = 512,
        embed_dim: int = 320,
        norm: Norm = "instance",
        spectral_norm: bool = True,
        up_activation: Literal["relu", "leaky_relu"] = "leaky_relu",
        bridge_input: Literal["pre_activation", "activated"] = "pre_activation",
        concat_order: Literal["bridge_first", "decoder_first"] = "bridge_first",
        spectral_norm_form: SpectralForm = "parametrization",
    ):
        super().__init__()
        depth = power_of_two_depth(image_size)
        widths = _level_widths(depth, width, max_width)
        specs = reasoning if isinstance(reasoning, list) else [reasoning] * len(widths)
        if len(specs) != len(widths):
            raise ValueError(
                f"reasoning: expected one spec or a list of {len(widths)} (one per encoder level, widths {widths}), got {len(specs)}"
            )
        self.image_size, self.noise_dim, self.num_classes, self.embed_dim = (
            image_size,
            noise_dim,
            num_classes,
            embed_dim,
        )
        self.widths, self.bridge_input, self.concat_order = widths, bridge_input, concat_order
        sn, form = spectral_norm, spectral_norm_form

        down_conv = lambda cin, cout: conv(cin, cout, 4, 2, 1, spectral=sn, form=form)  # noqa: E731
        down = [down_conv(in_channels, widths[0])]
        for cin, cout in zip(widths[:-1], widths[1:]):
            down.append(nn.Sequential(nn.LeakyReLU(0.2), down_conv(cin, cout), norm2d(norm, cout)))
        down.append(nn.Sequential(nn.LeakyReLU(0.2), down_conv(widths[-1], embed_dim)))
        self.down = nn.ModuleList(down)

        self.bridges = nn.ModuleList(registry.build("reasoning", spec, channels=c) for spec, c in zip(specs, widths))
        bridged = [getattr(block, "bridges", True) for block in self.bridges]

        act = lambda: activation(up_activation)  # noqa: E731
        seed = embed_dim + noise_dim + num_classes
        up_conv = lambda cin, cout: conv_transpose(cin, cout, 4, 2, 1, spectral=sn, form=form)  # noqa: E731
        up = [nn.Sequential(act(), up_conv(seed, widths[-1]), norm2d(norm, widths[-1]))]
        for i in range(len(widths) - 1, 0, -1):
            cin = widths[i] * (2 if bridged[i] else 1)
            up.append(nn.Sequential(act(), up_conv(cin, widths[i - 1]), norm2d(norm, widths[i - 1])))
        cin = widths[0] * (2 if bridged[0] else 1)
        up.append(nn.Sequential(act(), up_conv(cin, in_channels), nn.Tanh()))
        self.up = nn.ModuleList(up)  # innermost first
        self._bridged = bridged
        init_gan_weights(self.down)
        init_gan_weights(self.up)

    @property
    def seed_channels(self) -> int:
        """Channels of the synthesis seed s = [e, z, c] (423 for the paper)."""
        return self.embed_dim + self.noise_dim + self.num_classes

    def encode(self, x_on: Tensor) -> tuple[list[Tensor], Tensor]:
        """f_enc_1..f_enc_L (outermost first) and the identity embedding e [B, embed_dim, 1, 1]."""
        feats = []
        h = x_on
        for layer in self.down[:-1]:
            h = layer(h)
            feats.append(h)
        return feats, self.down[-1](h)

    def forward(self, x_on: Tensor, z: Tensor, c: Tensor) -> Tensor:
        feats, e = self.encode(x_on)
        seed = torch.cat([e, z[:, :, None, None].to(e.dtype), c[:, :, None, None].to(e.dtype)], dim=1)
        h = self.up[0](seed)  # f_dec_L
        for step, level in enumerate(range(len(feats) - 1, -1, -1)):
            if self._bridged[level]:
                f = feats[level] if self.bridge_input == "pre_activation" else F.leaky_relu(feats[level], 0.2)
                g = self.bridges[level](f)
                h = torch.cat([g, h] if self.concat_order == "bridge_first" else [h, g], dim=1)  # Eq. 3
            h = self.up[step + 1](h)
        return h


class DCGANGenerator(nn.Module):
    """DCGAN-like generator (model B): a face from noise and class alone, no encoder.

    [z, c] at 1x1 -> 4x4 by a 4x4 transposed convolution, then stride-2
    transposed convolutions doubling the size up to S (batch norm, ReLU), tanh.

    Args:
        image_size: side S of the square faces, a power of two (128 in the paper); set by icezoo.
        in_channels: channels of the synthesised faces (1, grayscale, in the paper); set by icezoo.
        noise_dim: length N_z of the noise z (100 in the paper); set by icezoo.
        num_classes: number N_c of expression classes, the length of the one-hot c (3 in the paper); set by icezoo.
        width: channels of the last hidden layer (at S/2); each coarser layer doubles it (64, as in DCGAN).
        max_width: cap on the doubling widths (512, as in the identity-aware U-Net).
        norm: normalisation after each hidden transposed convolution (batch, as in DCGAN).
        spectral_norm: spectral normalisation of every transposed convolution's weight (off, as in DCGAN).
    """

    uses_onset = False

    def __init__(
        self,
        image_size: int = 128,
        in_channels: int = 1,
        noise_dim: int = 100,
        num_classes: int = 3,
        width: int = 64,
        max_width: int = 512,
        norm: Norm = "batch",
        spectral_norm: bool = False,
    ):
        super().__init__()
        depth = power_of_two_depth(image_size)
        # channels at resolution 4, 8, ..., S/2: width * (S/2)/r, capped
        sizes = [2**k for k in range(2, depth)]
        chans = [min(width * (image_size // 2) // r, max_width) for r in sizes]
        sn = spectral_norm
        layers: list[nn.Module] = [
            conv_transpose(noise_dim + num_classes, chans[0], 4, 1, 0, bias=False, spectral=sn),
            norm2d(norm, chans[0]),
            nn.ReLU(),
        ]
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += [conv_transpose(cin, cout, 4, 2, 1, bias=False, spectral=sn), norm2d(norm, cout), nn.ReLU()]
        layers += [conv_transpose(chans[-1], in_channels, 4, 2, 1, spectral=sn), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_gan_weights(self)

    def forward(self, x_on: Tensor | None, z: Tensor, c: Tensor) -> Tensor:
        seed = torch.cat([z, c.to(z.dtype)], dim=1)[:, :, None, None]
        return self.net(seed)
