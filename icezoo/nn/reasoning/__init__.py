"""Reasoning blocks: what bridges an encoder level to the decoder ([B,C,H,W] -> [B,C,H,W])."""

from .grm import GraphReasoning, GraphReasoningEinsum
from .release import ReleaseGraphReasoning
from .simple import NoBridge, Skip, SqueezeExcitation

__all__ = ["GraphReasoning", "GraphReasoningEinsum", "NoBridge", "ReleaseGraphReasoning", "Skip", "SqueezeExcitation"]
