"""Regional compilation (``train.compile_scope: regional``): compile the repeated blocks, not the whole step.

Inductor did not finish compiling the whole GAN step (G and D, forward and
backward, three D calls) in 220 s on an H200. Compiling each repeated block
on its own (the encoder and decoder stages, the reasoning blocks, the
discriminator's trunk and decoder) gives small graphs; the glue between
blocks runs eager.

Each region is compiled as a function of its own (its own code object), with
static shapes. Dynamo keeps its compiled graphs and its recompile limit
(``torch._dynamo.config.recompile_limit``, 8) per code object, and no two of
these regions could share a graph: every spectral-normalised layer is an
instance of its own class (``torch.nn.utils.parametrize`` makes one per
module) and the blocks of one class sit at different widths and resolutions.
Compiled through one shared function (``nn.Module.compile`` compiles
``_call_impl``), the regions used up that one limit between them and the
later ones ran eager; and, seen at several shapes, they were recompiled with
dynamic sizes, which inductor failed on. Here each region has its own graphs
(one per shape, mode and requires-grad state it meets: a handful) and none
is recompiled for another's sake. Graphs that are identical after tracing
still share inductor's compiled code through its FX graph cache.
"""

from __future__ import annotations

import sys
import types
from collections import Counter
from collections.abc import Callable
from typing import Any

import torch
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


def _call_region(module: nn.Module, *args: Any, **kwargs: Any) -> Any:
    # the module's own call (hooks included), traced from here; one copy of this code object per region
    return module._call_impl(*args, **kwargs)


def region_function(name: str) -> Callable[..., Any]:
    """A copy of :func:`_call_region` with a code object of its own, named after the region (logs name it)."""
    label = "region_" + "".join(ch if ch.isalnum() else "_" for ch in name)
    names = {"co_name": label} | ({"co_qualname": label} if sys.version_info >= (3, 11) else {})
    code = _call_region.__code__.replace(**names)
    return types.FunctionType(code, _call_region.__globals__, label)


def compile_regions(
    model: nn.Module, mode: str | None = None, *, backend: str | Callable = "inductor", prefix: str = ""
) -> list[str]:
    """Compile every repeated block of ``model`` in place, each on its own; returns their names.

    In place (the block's ``_compiled_call_impl``, which ``nn.Module.__call__``
    uses, as ``nn.Module.compile`` sets it), so parameter names, ``state_dict``
    and checkpoints are unchanged; a deep copy (the generator's EMA) is not
    compiled, as with ``nn.Module.compile``. ``prefix`` names the regions in logs
    (``generator.`` or ``discriminator.``). ``backend``: inductor, or another
    for tests.
    """
    names = repeated_blocks(model)
    for name in names:
        region = model.get_submodule(name)
        compiled = torch.compile(region_function(prefix + name), mode=mode, backend=backend, dynamic=False)
        region._compiled_call_impl = types.MethodType(compiled, region)
    return names
