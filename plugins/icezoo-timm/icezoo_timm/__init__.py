"""icezoo plugin: timm backbones as discriminator trunks (trunk ``timm``).

``model.discriminator.trunk: {type: timm, model: resnet18, stage: 3}`` uses the
feature map of ResNet-18's third stage (256 x 8 x 8 at 128x128) as the trunk of
any head. Weights are read from a local file (``weights: PATH``) through
timm's ``pretrained_cfg_overlay``; nothing is downloaded. A single-channel
input adapts the first convolution as timm does (summing its RGB weights).
"""

from __future__ import annotations

from typing import Annotated

from torch import Tensor, nn

import icezoo
from icezoo.nn.backbones import create_timm
from icezoo.typecheck import ExistingFile


class TimmTrunk(nn.Module):
    """A timm backbone as a discriminator trunk: the feature map of one of its stages.

    Args:
        in_channels: channels of the input faces; the backbone's stem is adapted to them; set by icezoo.
        image_size: side S of the input faces; set by icezoo (unused: the backbone takes any size).
        model: the timm model's name (``resnet18``).
        stage: index of the feature stage whose map is the output (timm's ``out_indices``; 3).
        weights: local file of the model's pretrained weights (None: random initialisation).
    """

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 128,
        model: str = "resnet18",
        stage: int = 3,
        weights: Annotated[str | None, ExistingFile()] = None,
    ):
        super().__init__()
        self.net = create_timm(model, weights, features_only=True, out_indices=(stage,), in_chans=in_channels)
        self.out_channels = self.net.feature_info.channels()[-1]

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)[-1]


@icezoo.hookimpl
def icezoo_register(registry) -> None:
    registry.register("trunk", "timm", TimmTrunk)
