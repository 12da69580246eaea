"""A recogniser's training views: random rotation, mirror, shift and crop in one resampling (nearest pixel, as
torchvision's ``RandomRotation`` by default), then brightness and contrast jitter; the eval view is the centre crop. CapsuleNet's original pipeline (davidnvq/me_recognition,
``train_me_loso.py``) is the model: resize to 234x240, rotate +-8 degrees, mirror half, jitter colour by 0.2,
crop 224x224 at random; test: resize, centre crop.

The geometric part maps each output pixel back to the stored features through one affine per sample
(``grid_sample``), so a crop at an integer offset copies pixels and the whole batch is one kernel on the device;
tested against torchvision's rotate, flip and crop. Brightness and contrast act on the cropped view (torchvision's
``ColorJitter`` before ``RandomCrop`` takes the contrast's mean over the whole rotated picture: a small difference). Parameters are drawn from a generator seeded by ``train.seed`` and the step: the same run draws the same
views on any device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..config.schema import TrainConfig
from ..errors import IcezooError
from ..train.batches import derived_seed


class TrainingViews:
    """Random views of a batch of stored features ``[B, C, H, W]`` -> ``[B, C, h, w]`` (the recogniser's shape).

    Built by :meth:`of` from the recipe's ``train.augment_*`` keys and the input's declarations
    (:class:`icezoo.inputs.Input`: ``spatial``, ``value_range``, ``mirror_negates``, ``fill``); None when a
    batch needs nothing (no augmentation and no crop).
    """

    def __init__(self, cfg: TrainConfig, *, stored: tuple[int, ...], out: tuple[int, ...], value_range=None,
                 mirror_negates: tuple[int, ...] = (), fill: float = 0.0, mode: str = "nearest"):  # fmt: skip
        self.rotation = float(cfg.augment_rotation or 0.0)
        self.shift, self.flip = float(cfg.augment_shift), bool(cfg.augment_flip)
        self.jitter = tuple(cfg.augment_jitter or (0.0, 0.0))
        self.seed, self.stored, self.out = cfg.seed, tuple(stored), tuple(out)
        self.value_range, self.mirror_negates, self.fill = value_range, tuple(mirror_negates), float(fill)
        self.mode = mode  # grid_sample's: nearest (torchvision's RandomRotation default) or bilinear

    @classmethod
    def of(cls, cfg: TrainConfig, input_, image_size: int, out_shape: tuple[int, ...]) -> TrainingViews | None:
        """The views ``cfg`` asks of ``input_``'s features, or None; one line when the input cannot take them."""
        stored = tuple(input_.stored_shape(image_size))
        asked = [key for key in ("augment_rotation", "augment_shift", "augment_flip", "augment_jitter")
                 if getattr(cfg, key)]  # fmt: skip
        if not asked and stored == tuple(out_shape):
            return None
        name = f"input '{input_.name}'"
        if asked and not input_.spatial:
            raise IcezooError(f"train.{asked[0]}: {name} is not an image (its features have no pixels to move)")
        if (cfg.augment_rotation or cfg.augment_jitter) and input_.value_range is None:
            key = "augment_rotation" if cfg.augment_rotation else "augment_jitter"
            why = "a rotation of its image does not rotate its vectors" if key == "augment_rotation" else "no colours"
            raise IcezooError(f"train.{key}: {name} is a flow field ({why}); it applies to a picture (apex, flow_hsv)")
        return cls(cfg, stored=stored, out=out_shape, value_range=input_.value_range,
                   mirror_negates=input_.mirror_negates, fill=input_.fill)  # fmt: skip

    def __call__(self, x: Tensor, step: int) -> Tensor:
        """Step ``step``'s views of ``x`` [B, C, H, W] (float, on any device)."""
        b = x.shape[0]
        g = torch.Generator().manual_seed(derived_seed(self.seed, 0xA06, step))
        draw = torch.rand(b, 7, generator=g, dtype=torch.float64)  # angle, mirror, shift x/y, crop x/y, order
        (height, width), (h, w) = self.stored[-2:], self.out[-2:]
        angle = (draw[:, 0] * 2 - 1) * self.rotation
        mirrored = draw[:, 1] < 0.5 if self.flip else torch.zeros(b, dtype=torch.bool)
        left = torch.floor(draw[:, 4] * (width - w + 1)) + (draw[:, 2] * 2 - 1) * self.shift
        top = torch.floor(draw[:, 5] * (height - h + 1)) + (draw[:, 3] * 2 - 1) * self.shift
        out = self.resample(x, angle, mirrored, left, top)
        if any(self.jitter):
            out = self._jitter(out, draw[:, 6], torch.rand(b, 2, generator=g, dtype=torch.float64))
        return out

    def resample(self, x: Tensor, degrees: Tensor, mirrored: Tensor, left: Tensor, top: Tensor) -> Tensor:
        """``x`` [B, C, H, W] rotated about its centre by ``degrees`` (counter-clockwise, as torchvision's
        ``rotate``), mirrored left to right where ``mirrored``, then the out-shaped window at (``left``, ``top``)
        pixels (sampled by :attr:`mode`; outside the image: the fill). One affine per sample, float64 [B] each."""
        b = x.shape[0]
        if tuple(x.shape[1:]) != self.stored:
            raise IcezooError(f"training views are cut from features {list(self.stored)}, got {list(x.shape[1:])}")
        (height, width), (h, w) = self.stored[-2:], self.out[-2:]
        # output pixel p (centred) -> stored pixel R^-1 M (p + d), d the window's centre offset, M the mirror
        dx, dy = left.double() - (width - w) / 2, top.double() - (height - h) / 2
        angle = -torch.deg2rad(degrees.double())  # y points down: counter-clockwise on screen
        cos, sin = torch.cos(angle), torch.sin(angle)
        m = 1.0 - 2.0 * mirrored.double()
        rm = torch.stack([torch.stack([cos * m, sin], -1), torch.stack([-sin * m, cos], -1)], -2)  # R^-1 M
        to_stored = torch.tensor([2.0 / width, 2.0 / height], dtype=torch.float64)
        from_out = torch.tensor([w / 2.0, h / 2.0], dtype=torch.float64)
        theta = torch.cat([rm * to_stored[:, None] * from_out, (rm @ torch.stack([dx, dy], -1)[..., None])
                           * to_stored[:, None]], -1)  # fmt: skip
        grid = F.affine_grid(theta.to(x.device, x.dtype), [b, x.shape[1], h, w], align_corners=False)
        out = F.grid_sample(x - self.fill, grid, mode=self.mode, padding_mode="zeros", align_corners=False)
        out = out + self.fill  # what comes in at the rotated corners is the fill (a black face, zero motion)
        if self.mirror_negates and bool(mirrored.any()):
            sign = torch.ones(b, x.shape[1], 1, 1, dtype=x.dtype)
            sign[mirrored.nonzero()[:, 0][:, None], torch.tensor(self.mirror_negates)] = -1
            out = out * sign.to(x.device)
        return out

    def _jitter(self, x: Tensor, order: Tensor, factors: Tensor) -> Tensor:
        """torchvision's brightness and contrast jitter (factors uniform in [1 - j, 1 + j], in a random order per
        sample, clamped to the image's range): saturation and hue have nothing to act on in a grey face."""
        lo, hi = self.value_range
        b = x.shape[0]
        f = (1 + (factors * 2 - 1) * torch.tensor(self.jitter, dtype=torch.float64)).to(x.device, x.dtype)
        unit = (x - lo) / (hi - lo)

        def brightness(y: Tensor) -> Tensor:
            return (y * f[:, 0].view(b, 1, 1, 1)).clamp(0, 1)

        def contrast(y: Tensor) -> Tensor:
            mean = y.mean(dim=(1, 2, 3), keepdim=True)
            return ((y - mean) * f[:, 1].view(b, 1, 1, 1) + mean).clamp(0, 1)

        first = (order < 0.5).to(x.device).view(b, 1, 1, 1)
        unit = torch.where(first, contrast(brightness(unit)), brightness(contrast(unit)))
        return unit * (hi - lo) + lo

    def __repr__(self) -> str:
        return (f"TrainingViews(rotation=+-{self.rotation} deg, mirror={self.flip}, shift=+-{self.shift} px, "
                f"jitter={self.jitter}, {self.stored[-2:]} -> {self.out[-2:]})")  # fmt: skip


__all__ = ["TrainingViews"]
