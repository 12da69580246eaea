"""Regional compilation (``train.compile_scope: regional``): compile the repeated blocks, not the whole step.

Inductor did not finish compiling the whole GAN step (G and D, forward and
backward, three D calls) in 220 s on an H200. Compiling each repeated block
on its own (the encoder and decoder stages, the reasoning blocks, the
discriminator's trunk and decoder) gives small graphs, and blocks of one
class and shape share one compiled graph (dynamo caches by code and guards;
with ``automatic_dynamic_shapes``, a block seen at a second shape is compiled
once more with dynamic sizes and reused). The glue between blocks runs eager.
"""

from __future__ import annotations

from collections import Counter

from torch import nn


def repeated_blocks(model: nn.Module) -> list[str]:
    """The outermost submodules whose class occurs at least twice in ``model`` and which hold submodules."""
    counts = Counter(type(m) for m in model.modules())
    found: list[str] = []

    def visit(module: nn.Module, prefix: str) -> None:
        for name, child in module.named_children():
            containers = (nn.ModuleList, nn.ModuleDict)
            if (
                counts[type(child)] >= 2
                and next(child.children(), None) is not None
                and not isinstance(child, containers)
            ):
                found.append(prefix + name)
            else:
                visit(child, f"{prefix}{name}.")

    visit(model, "")
    return found


def compile_regions(model: nn.Module, mode: str | None = None) -> list[str]:
    """Compile every repeated block of ``model`` in place (``nn.Module.compile``); returns their names.

    In place, so parameter names, ``state_dict`` and checkpoints are unchanged.
    """
    names = repeated_blocks(model)
    for name in names:
        model.get_submodule(name).compile(mode=mode)
    return names
