"""Whole-step CUDA graphs on the CPU: the clear errors (the equality tests with the eager step are in test_cuda.py)."""

from __future__ import annotations

import pytest

import icezoo
from icezoo.errors import IcezooError
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
            == f"tests/test_graphs.py:{component_that_syncs.__code__.co_firstlineno + 1} in component_that_syncs"
        )
