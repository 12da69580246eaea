"""The fast paths on the CPU: CUDA graphs' clear errors (equality with the eager step: test_cuda.py), regional compile."""

from __future__ import annotations

import pytest
import torch

import icezoo
from icezoo.errors import IcezooError
from icezoo.train.compiling import compile_regions, repeated_blocks
from icezoo.train.graphs import _where
from icezoo.train.trainer import Trainer

from .test_eval import SMALL, TINY


def test_cuda_graphs_on_the_cpu_is_one_clear_error():
    recipe = icezoo.load_recipe(SMALL, TINY + ["train.cuda_graphs=true", "train.device=cpu"])
    with pytest.raises(IcezooError, match=r"^train.cuda_graphs: needs a CUDA device, the step runs on cpu$"):
        Trainer(recipe, progress=False)


def test_a_capture_error_names_the_line_of_the_component():
    def component_that_syncs():
        raise RuntimeError("operation not permitted when stream is capturing\nmore")

    try:
        component_that_syncs()
    except RuntimeError as err:
        assert (
            _where(err)
            == f"tests/test_fast_paths.py:{component_that_syncs.__code__.co_firstlineno + 1} in component_that_syncs"
        )


def test_regional_compile_picks_the_repeated_blocks_and_keeps_the_weights_names():
    recipe = icezoo.load_recipe(SMALL, TINY)
    with torch.device("meta"):
        model = icezoo.build_model(recipe)
    keys = list(model.state_dict())
    blocks = repeated_blocks(model)
    assert {b.rsplit(".", 1)[0] for b in blocks} >= {"generator.down", "generator.bridges", "generator.up"}
    assert not any(a.startswith(b + ".") for a in blocks for b in blocks)  # outermost only
    assert compile_regions(model) == blocks and list(model.state_dict()) == keys
    assert all(model.get_submodule(b)._compiled_call_impl is not None for b in blocks)
    assert getattr(model.discriminator, "_compiled_call_impl", None) is None  # the glue stays eager
