"""Discriminator trunks: ``cls(in_channels, image_size, **params)``, ``[B,1,S,S] -> [B,C,h,w]``.

Each exposes ``out_channels``.
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from .layers import Norm, conv, init_gan_weights, norm2d
from .spectral import SpectralForm


class PatchGAN70(nn.Module):
    """70x70 PatchGAN feature extractor (pix2pix's NLayerDiscriminator, n_layers=3) without its 1-channel output conv.

    4x4 convolutions: in -> ndf (stride 2, LeakyReLU 0.2), then ``n_layers - 1``
    stride-2 and one stride-1 layer doubling the width up to 8 ndf, each with
    norm and LeakyReLU. For 1x128x128 inputs and ndf 64: [B, 512, 15, 15].

    ``downsample="max"`` (not in the paper) halves the resolution by a 2x2 max
    pool after each of those layers instead, its convolution run at stride 1
    (padded so that every map keeps its size): four times the convolutions'
    work, but detectors of fine features that survive a pixel of jitter, which
    suits micro-expressions, whose motion moves features by a pixel or two.

    Args:
        in_channels: channels of the input faces (1, grayscale, in the paper); set by icezoo.
        image_size: side S of the input faces; set by icezoo (unused: the trunk is fully convolutional).
        ndf: width of the first convolution, doubled by each further layer up to 8 ndf (64, as in pix2pix).
        n_layers: convolutions after the first, all stride 2 but the last (3 gives pix2pix's 70x70 receptive field).
        norm: normalisation after every convolution but the first (batch, as in pix2pix and the release).
        spectral_norm: spectral normalisation of every convolution's weight (on, as in the release).
        downsample: how the stride-2 layers halve the resolution: ``stride`` (pix2pix) or ``max``
            (stride-1 convolution then 2x2 max pool; an icezoo option).
    """

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 128,
        ndf: int = 64,
        n_layers: int = 3,
        norm: Norm = "batch",
        spectral_norm: bool = True,
        downsample: Literal["stride", "max"] = "stride",
    ):
        super().__init__()
        sn = spectral_norm

        def block(cin: int, cout: int, stride: int, norm: Norm | None) -> list[nn.Module]:
            """4x4 convolution, norm (none at all for the first layer), LeakyReLU."""
            bias = norm in (None, "none")
            if stride == 2 and downsample == "max":
                convolution = [nn.ZeroPad2d((1, 2, 1, 2)), conv(cin, cout, 4, 1, 0, bias=bias, spectral=sn)]
            else:
                convolution = [conv(cin, cout, 4, stride, 1, bias=bias, spectral=sn)]
            normalise = [norm2d(norm, cout)] if norm is not None else []
            pool = [nn.MaxPool2d(2)] if stride == 2 and downsample == "max" else []
            return [*convolution, *normalise, nn.LeakyReLU(0.2), *pool]

        layers = block(in_channels, ndf, 2, None)
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            layers += block(ndf * prev, ndf * mult, 2 if n < n_layers else 1, norm)
        self.net = nn.Sequential(*layers)
        self.out_channels = ndf * mult
        init_gan_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ReleasePatchGAN(nn.Module):
    """The trunk of the authors' released discriminator: PatchGAN, one more conv, 1x1 projections to 128 x 8 x 8.

    Spectral-normalised 4x4 convolutions 1 -> 64 (s2, bias), 64 -> 128 (s2),
    128 -> 256 (s2), 256 -> 512 (s1), 512 -> 512 (s1, bias), batch norm and
    LeakyReLU(0.2) after all but the first; then 1x1 convolutions 512 -> 64
    (stride 2, padding 1) and 64 -> 128. 6,992,384 parameters at ndf 64.

    Args:
        in_channels: channels of the input faces (1, grayscale, in the release); set by icezoo.
        image_size: side S of the input faces; set by icezoo (unused: the trunk is fully convolutional).
        ndf: width of the first convolution; the others are 2, 4 and 8 ndf, the first projection ndf
            (64, as in the release).
        out_channels: channels of the last 1x1 projection, the trunk's output (128, as in the release).
        spectral_projections: spectral normalisation of the two 1x1 projections too (off; on in the release,
            where every convolution of the trunk is spectral-normalised).
        spectral_norm_form: power iteration of the spectral norm: ``parametrization`` (torch's current
            form) or ``hook`` (``torch.nn.utils.spectral_norm``, the release's); see :mod:`icezoo.nn.spectral`.
    """

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 128,
        ndf: int = 64,
        out_channels: int = 128,
        spectral_projections: bool = False,
        spectral_norm_form: SpectralForm = "parametrization",
    ):
        super().__init__()
        c = [ndf, ndf * 2, ndf * 4, ndf * 8]
        f, p = spectral_norm_form, spectral_projections
        self.net = nn.Sequential(
            conv(in_channels, c[0], 4, 2, 1, spectral=True, form=f), nn.LeakyReLU(0.2),
            conv(c[0], c[1], 4, 2, 1, bias=False, spectral=True, form=f), nn.BatchNorm2d(c[1]), nn.LeakyReLU(0.2),
            conv(c[1], c[2], 4, 2, 1, bias=False, spectral=True, form=f), nn.BatchNorm2d(c[2]), nn.LeakyReLU(0.2),
            conv(c[2], c[3], 4, 1, 1, bias=False, spectral=True, form=f), nn.BatchNorm2d(c[3]), nn.LeakyReLU(0.2),
            conv(c[3], c[3], 4, 1, 1, spectral=True, form=f), nn.BatchNorm2d(c[3]), nn.LeakyReLU(0.2),
            conv(c[3], ndf, 1, 2, 1, spectral=p, form=f),
            conv(ndf, out_channels, 1, spectral=p, form=f),
        )  # fmt: skip
        self.out_channels = out_channels
        init_gan_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
