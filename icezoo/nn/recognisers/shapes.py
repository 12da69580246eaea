"""Shape checks shared by the recognisers: one line naming the expected and the given ``in_shape``."""

from __future__ import annotations

from collections.abc import Sequence

from ...errors import IcezooError


def shape_error(name: str, expected: str, got: Sequence[int]) -> IcezooError:
    """The one-line error of a recogniser that cannot read samples of shape ``got``."""
    return IcezooError(f"recogniser '{name}' expects in_shape {expected}; got {tuple(got)}")


def image_shape(name: str, in_shape: Sequence[int], expected: str = "(C, H, W)") -> tuple[int, int, int]:
    """``in_shape`` as ``(C, H, W)`` of positive ints, or :func:`shape_error`."""
    shape = tuple(in_shape)
    if len(shape) != 3 or not all(isinstance(s, int) and s > 0 for s in shape):
        raise shape_error(name, expected, shape)
    return shape  # type: ignore[return-value]


def conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Side of a convolution's or pooling's output (floor, as PyTorch's default)."""
    return (size + 2 * padding - kernel) // stride + 1
