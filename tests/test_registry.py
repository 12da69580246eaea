"""The registry: registration, look-up, spec validation and building."""

from __future__ import annotations

from typing import Literal

import pytest
from torch import nn

from icezoo.errors import IcezooError, UnknownComponentError
from icezoo.registry import Registry, registry
from icezoo.typecheck import ValidationError


class Block(nn.Module):
    """A test block."""

    def __init__(self, channels: int, depth: int, gain: float = 1.0, mode: Literal["a", "b"] = "a", flag: bool = False):
        super().__init__()
        self.channels, self.depth, self.gain, self.mode, self.flag = channels, depth, gain, mode, flag


@pytest.fixture
def reg() -> Registry:
    r = Registry()
    r.register("reasoning", "block", Block)
    return r


def test_decorator_registers_and_returns_the_class(reg):
    @reg.register("reasoning", "other")
    class Other(nn.Module):
        """Other block."""

    assert reg.get("reasoning", "other").obj is Other
    assert reg.get("reasoning", "other").summary == "Other block."
    source = reg.get("reasoning", "other").source
    assert source.startswith("module ") and source.endswith("test_registry")


def test_duplicate_names_both_sources(reg):
    class Impostor(nn.Module):
        pass

    with pytest.raises(IcezooError) as err:
        reg.register("reasoning", "block", Impostor, source="plugin-x")
    message = str(err.value)
    assert "registered twice" in message and "plugin-x" in message and "Block" in message and "Impostor" in message


def test_same_object_registered_twice_is_harmless(reg):
    reg.register("reasoning", "block", Block)
    assert reg.names("reasoning") == ["block"]


def test_unknown_name_lists_nearest_and_plugins(reg):
    with pytest.raises(UnknownComponentError) as err:
        reg.get("reasoning", "blok")
    assert "did you mean 'block'" in str(err.value)
    assert "plugins loaded" in str(err.value)


def test_unknown_kind_is_an_error(reg):
    with pytest.raises(UnknownComponentError, match="unknown component kind 'reasonin'; did you mean 'reasoning'"):
        reg.get("reasonin", "block")
    with pytest.raises(IcezooError, match="unknown component kind"):
        reg.register("nope", "x", Block)


def test_glob_listing(reg):
    reg.register("reasoning", "blob", Block)
    reg.register("reasoning", "zed", Block)
    assert reg.names("reasoning", "bl*") == ["blob", "block"]
    assert reg.names("reasoning", "?ed") == ["zed"]


def test_validate_fills_defaults_and_coerces(reg):
    spec = reg.validate("reasoning", {"type": "block", "depth": 3, "gain": "1e-3"})
    assert spec == {"type": "block", "depth": 3, "gain": 0.001, "mode": "a", "flag": False}
    assert reg.validate("reasoning", {"type": "block", "depth": 2, "gain": 2})["gain"] == 2.0


@pytest.mark.parametrize(
    "spec, path, fragment",
    [
        ({"type": "block"}, "r.depth", "missing required parameter"),
        ({"type": "block", "depth": "x"}, "r.depth", "expected int, got 'x'"),
        ({"type": "block", "depth": True}, "r.depth", "expected int, got True"),
        ({"type": "block", "depth": 1, "mode": "c"}, "r.mode", "expected one of 'a', 'b'"),
        ({"type": "block", "depth": 1, "flag": "yes"}, "r.flag", "expected bool"),
        ({"type": "block", "depth": 1, "dept": 1}, "r.dept", "did you mean 'depth'"),
        ({"type": "block", "depth": 1, "channels": 8}, "r.channels", "set by icezoo"),
        ({"depth": 1}, "r", "needs 'type'"),
        ({"type": 3}, "r.type", "expected a reasoning name"),
        ([1, 2], "r", "expected a reasoning spec"),
    ],
)
def test_validate_rejects_bad_specs(reg, spec, path, fragment):
    with pytest.raises(ValidationError) as err:
        reg.validate("reasoning", spec, "r")
    assert err.value.path == path
    assert fragment in err.value.message


def test_build_passes_builder_args_and_params(reg):
    block = reg.build("reasoning", {"type": "block", "depth": 4, "mode": "b"}, channels=16, unused=1)
    assert (block.channels, block.depth, block.mode) == (16, 4, "b")


def test_string_shorthand(reg):
    class Simple(nn.Module):
        def __init__(self, channels: int, k: int = 3):
            super().__init__()

    reg.register("reasoning", "simple", Simple)
    assert reg.validate("reasoning", "simple", "x") == {"type": "simple", "k": 3}
    with pytest.raises(ValidationError, match="missing required"):
        reg.build("reasoning", "block", channels=4)


def test_describe_lists_parameters(reg):
    text = reg.describe("reasoning", "block")
    assert "A test block." in text
    assert "depth: int (required)" in text
    assert "gain: float (default 1.0)" in text
    assert "channels: int (required, set by icezoo)" in text


def test_failed_registration_rolls_back(reg):
    with pytest.raises(RuntimeError), reg.registering_as("half-plugin"):
        reg.register("reasoning", "first", Block)
        raise RuntimeError("boom")
    assert "first" not in reg.names("reasoning")


def test_core_components_are_registered_from_core():
    expected = {
        "generator": {"identity_unet", "dcgan"},
        "reasoning": {"none", "skip", "se", "grm", "grm_einsum", "grm_release"},
        "trunk": {"patchgan70", "patchgan70_release"},
        "head": {"capsule", "cnn"},
        "loss": {"l1", "mse", "margin", "cross_entropy", "gan"},
        "dataset": {"synthetic"},
    }
    for kind, names in expected.items():
        assert names <= set(registry.names(kind)), kind
        assert all(registry.get(kind, n).source == "core" for n in names)
    assert "core" in registry.plugins.loaded


def test_specs_are_checked_the_same_after_torch_compile_ran():
    """torch.compile wraps nn.Module.__init__ for the rest of the process; a parameterless component must still
    refuse an unknown parameter by name, not fail later inside its constructor."""
    import torch

    import icezoo
    from icezoo.errors import IcezooError

    compiled = torch.compile(torch.nn.Linear(2, 2), backend="eager")
    compiled(torch.zeros(1, 2))
    with pytest.raises(IcezooError, match="loss.pixel.foo: unknown parameter 'foo' for loss 'l1'"):
        icezoo.load_recipe("icegan_small", ["loss.pixel={type: l1, foo: 1}"])
