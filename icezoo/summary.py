"""What a recipe built: the component tree with parameters, MB, counted FLOPs and output shapes.

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` on a real
forward pass (batch of 2 in eval mode, divided by 2), not estimated.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .models import GAN
from .nn.heads import DiscriminatorOutput
from .registry import registry


@dataclasses.dataclass
class Node:
    """One row of the tree."""

    path: str
    type: str
    params: int
    flops: int  # per image, one forward
    output: str
    children: list[Node] = dataclasses.field(default_factory=list)

    @property
    def megabytes(self) -> float:
        """Parameter memory in float32, MB (10^6 bytes, as the paper's Table IV)."""
        return self.params * 4 / 1e6

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "type": self.type, "params": self.params, "mb_fp32": round(self.megabytes, 3),
            "flops_per_image": self.flops, "output": self.output, "children": [c.to_dict() for c in self.children],
        }  # fmt: skip


def _registered_names() -> dict[type, str]:
    out: dict[Any, str] = {}
    for entry in registry.entries():
        out.setdefault(entry.obj, entry.name)
    return out


def _shape(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return "x".join(str(d) for d in value.shape[1:]) or "scalar"
    if isinstance(value, DiscriminatorOutput):
        parts = [f"adv {_shape(value.adv)}", f"cls {_shape(value.cls)}"]
        if value.recon is not None:
            parts.append(f"recon {_shape(value.recon)}")
        return ", ".join(parts)
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_shape(v) for v in value) + ")"
    return type(value).__name__


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _expand(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """Children to show under a component: its direct children, with lists unrolled."""
    rows = []
    for name, child in module.named_children():
        if isinstance(child, nn.ModuleList):
            rows += [(f"{name}[{i}]", item) for i, item in enumerate(child)]
        else:
            rows.append((name, child))
    return rows


def _profile(root: nn.Module, tracked: dict[str, nn.Module], run) -> tuple[dict[str, int], dict[str, str]]:
    """Run ``run()`` once under a FLOP counter, with hooks recording the outputs of ``tracked``."""
    outputs: dict[str, str] = {}

    def record(key: str):
        def hook(_module, _inputs, out) -> None:  # returns None: leaves the output alone
            outputs.setdefault(key, _shape(out))

        return hook

    hooks = [m.register_forward_hook(record(key)) for key, m in tracked.items()]
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            run()
    finally:
        for h in hooks:
            h.remove()
    prefix = type(root).__name__
    flops = {}
    for key, module in tracked.items():
        name = next((n for n, m in root.named_modules() if m is module), None)
        fq = prefix if not name else f"{prefix}.{name}"
        flops[key] = sum(counter.get_flop_counts().get(fq, {}).values())
    return flops, outputs


def _subtree(
    path: str,
    module: nn.Module,
    flops: dict[str, int],
    outputs: dict[str, str],
    names: dict[type, str],
    batch: int,
    depth: int,
) -> Node:
    children = [
        _subtree(f"{path}.{name}", child, flops, outputs, names, batch, depth - 1)
        for name, child in (_expand(module) if depth > 0 else [])
    ]
    label = names.get(type(module), type(module).__name__.removeprefix("Parametrized"))
    return Node(path, label, _count(module), flops.get(path, 0) // batch, outputs.get(path, ""), children)


def summarize(model: GAN, depth: int = 1, batch: int = 2) -> list[Node]:
    """The component tree of ``model``: generator, discriminator trunk and head, ``depth`` levels down."""
    names = _registered_names()
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    s, c = model.image_size, model.in_channels
    x = torch.rand(batch, c, s, s, device=device) * 2 - 1
    labels = torch.arange(batch, device=device) % model.num_classes
    nodes = []
    try:
        if model.generator is not None:
            gen = model.generator
            tracked = {"generator": gen} | {f"generator.{n}": m for n, m in _expand(gen)}
            flops, outputs = _profile(gen, tracked, lambda: model.synthesize(x, labels))
            nodes.append(_subtree("generator", gen, flops, outputs, names, batch, depth))
        disc = model.discriminator
        tracked = {}
        for part in ("trunk", "head"):
            module = getattr(disc, part)
            tracked[f"discriminator.{part}"] = module
            tracked |= {f"discriminator.{part}.{n}": m for n, m in _expand(module)}
        flops, outputs = _profile(disc, tracked, lambda: disc(x))
        d_children = [
            _subtree(f"discriminator.{p}", getattr(disc, p), flops, outputs, names, batch, depth)
            for p in ("trunk", "head")
        ]
        nodes.append(
            Node("discriminator", "", _count(disc), sum(n.flops for n in d_children), d_children[-1].output, d_children)
        )
    finally:
        model.train(was_training)
    return nodes


def summarize_baseline(model, depth: int = 1, batch: int = 2) -> list[Node]:
    """The rows of a baseline (:class:`icezoo.recognition.Baseline`): its input (no parameters: what one clip
    becomes) and its recogniser, ``depth`` levels down; a scikit-learn estimator has no parameters before it is
    fitted and its cost is not counted."""
    names = _registered_names()
    shape = "x".join(str(d) for d in model.in_shape)
    nodes = [Node("input", names.get(type(model.input), type(model.input).__name__), 0, 0, shape)]
    net = model.recogniser
    if model.is_estimator:
        return nodes + [Node("recogniser", type(net).__name__ + " (scikit-learn)", 0, 0, f"{model.num_classes}")]
    device = next(net.parameters()).device
    was_training = net.training
    net.eval()
    x = torch.rand(batch, *model.in_shape, device=device)
    try:
        tracked = {"recogniser": net} | {f"recogniser.{n}": m for n, m in _expand(net)}
        flops, outputs = _profile(net, tracked, lambda: net(x))
        nodes.append(_subtree("recogniser", net, flops, outputs, names, batch, depth))
    finally:
        net.train(was_training)
    return nodes


def format_table(nodes: list[Node], title: str = "") -> str:
    """The tree as an aligned text table."""
    rows = [("component", "type", "params", "MB fp32", "GFLOPs/img", "output")]

    def walk(node: Node, indent: int) -> None:
        rows.append((
            "  " * indent + node.path.split(".")[-1] if indent else node.path, node.type, f"{node.params:,}",
            f"{node.megabytes:.2f}", f"{node.flops / 1e9:.3f}", node.output,
        ))  # fmt: skip
        for child in node.children:
            walk(child, indent + 1)

    for node in nodes:
        walk(node, 0)
    total_p, total_f = sum(n.params for n in nodes), sum(n.flops for n in nodes)
    rows.append(("total", "", f"{total_p:,}", f"{total_p * 4 / 1e6:.2f}", f"{total_f / 1e9:.3f}", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    align = ["<", "<", ">", ">", ">", "<"]
    lines = [title] if title else []
    for i, row in enumerate(rows):
        lines.append("  ".join(f"{cell:{a}{w}}" for cell, a, w in zip(row, align, widths)).rstrip())
        if i == 0 or i == len(rows) - 2:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
