"""Components: reasoning blocks, generators, discriminator trunks and heads, capsule layers."""

from .capsules import RoutingLayer, dynamic_routing, squash
from .discriminator import Discriminator
from .generators import DCGANGenerator, IdentityUNet
from .heads import CapsuleHead, CNNHead, DiscriminatorOutput
from .reasoning import GraphReasoning, GraphReasoningEinsum, NoBridge, ReleaseGraphReasoning, Skip, SqueezeExcitation
from .trunks import PatchGAN70, ReleasePatchGAN

__all__ = [
    "CNNHead",
    "CapsuleHead",
    "DCGANGenerator",
    "Discriminator",
    "DiscriminatorOutput",
    "GraphReasoning",
    "GraphReasoningEinsum",
    "IdentityUNet",
    "NoBridge",
    "PatchGAN70",
    "ReleaseGraphReasoning",
    "ReleasePatchGAN",
    "RoutingLayer",
    "Skip",
    "SqueezeExcitation",
    "dynamic_routing",
    "squash",
]
