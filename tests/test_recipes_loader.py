"""Recipes: extends, type replacement, overrides, validation errors (one line, exit code 2)."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from icezoo.api import load_recipe
from icezoo.config.loader import recipe_to_yaml
from icezoo.errors import RecipeError

from .conftest import RECIPES, run_icezoo

ICEGAN = RECIPES / "icegan.yaml"
SMALL = RECIPES / "icegan_small.yaml"


def write(path, text: str):
    path.write_text(textwrap.dedent(text))
    return path


def test_extends_deep_merges_and_child_wins(tmp_path):
    child = write(
        tmp_path / "child.yaml",
        f"""
        extends: {SMALL}
        model:
          discriminator:
            head: {{exp_dim: 8}}
        train: {{lr: 1.0e-4}}
    """,
    )
    recipe = load_recipe(child)
    head = recipe.model.discriminator.head
    assert head["exp_dim"] == 8
    assert head["adv_dim"] == 32  # from icegan_small
    assert head["primary_types"] == 8 and head["routing_iterations"] == 3  # from icegan
    assert recipe.train.lr == 1e-4 and recipe.train.batch_size == 16
    assert recipe.model.image_size == 64


def test_a_different_type_replaces_the_parent_spec(tmp_path):
    parent = write(
        tmp_path / "parent.yaml",
        f"""
        extends: {SMALL}
        model:
          generator:
            reasoning: {{type: grm, reduction: 4, layer: gcn}}
    """,
    )
    same = write(
        tmp_path / "same.yaml", "extends: parent.yaml\nmodel: {generator: {reasoning: {type: grm, layer: gin}}}\n"
    )
    other = write(tmp_path / "other.yaml", "extends: parent.yaml\nmodel: {generator: {reasoning: {type: se}}}\n")
    assert load_recipe(same).model.generator["reasoning"] == load_recipe(parent).model.generator["reasoning"] | {
        "layer": "gin"
    }
    se = load_recipe(other).model.generator["reasoning"]
    assert se == {"type": "se", "reduction": 16, "min_hidden": 4}  # not grm's reduction 4


def test_set_overrides_are_yaml_typed_and_swap_types_cleanly():
    recipe = load_recipe(SMALL, [
        "model.discriminator.head.exp_dim=64", "train.lr=1e-4", "train.compile=true",
        "model.generator.reasoning.type=skip", "train.betas=[0.5, 0.99]",
    ])  # fmt: skip
    assert recipe.model.discriminator.head["exp_dim"] == 64
    assert recipe.train.lr == pytest.approx(1e-4) and recipe.train.compile is True
    assert recipe.model.generator["reasoning"] == {"type": "skip"}
    assert recipe.train.betas == (0.5, 0.99)
    assert recipe.overrides[0] == "model.discriminator.head.exp_dim=64"


def test_per_level_reasoning_list_and_index_override():
    levels = "[skip, skip, se, grm, {type: grm, reduction: 2}]"
    recipe = load_recipe(SMALL, [f"model.generator.reasoning={levels}", "model.generator.reasoning.0=none"])
    specs = recipe.model.generator["reasoning"]
    assert [s["type"] for s in specs] == ["none", "skip", "se", "grm", "grm"] and specs[4]["reduction"] == 2


def test_resolved_recipe_round_trips(tmp_path):
    recipe = load_recipe(ICEGAN, ["train.max_steps=3"])
    text = recipe_to_yaml(recipe)
    assert text.startswith(f"# resolved from {ICEGAN} with --set train.max_steps=3")
    again = load_recipe(write(tmp_path / "resolved.yaml", text))
    assert again.to_dict() == recipe.to_dict()
    data = yaml.safe_load(text)
    assert data["model"]["generator"]["reasoning"]["layer"] == "gin"  # defaults filled in


def test_error_names_the_file_that_holds_the_bad_value(tmp_path):
    write(tmp_path / "base.yaml", f"extends: {SMALL}\ntrain: {{batch_size: sixteen}}\n")
    child = write(tmp_path / "child.yaml", "extends: base.yaml\nname: child\n")
    with pytest.raises(RecipeError) as err:
        load_recipe(child)
    assert str(err.value) == f"{tmp_path / 'base.yaml'}: train.batch_size: expected int, got 'sixteen'"


def test_constructor_constraints_fail_at_validation(tmp_path):
    with pytest.raises(RecipeError) as err:
        load_recipe(SMALL, ["model.generator.reasoning=[skip, skip]"])
    assert "model.generator" in str(err.value) and "expected one spec or a list of 5" in str(err.value)
    with pytest.raises(RecipeError, match="image_size must be a power of two"):
        load_recipe(SMALL, ["model.image_size=100"])


MALFORMED = {
    "bad_yaml": ("model: {{generator: [\n", "invalid YAML: line"),
    "unknown_key": ("extends: {small}\ntrian: {{epochs: 1}}\n", "trian: unknown key; did you mean 'train'?"),
    "unknown_component": (
        "extends: {small}\nmodel: {{discriminator: {{head: {{type: capsul}}}}}}\n",
        "model.discriminator.head.type: unknown head 'capsul'; did you mean 'capsule'?",
    ),
    "wrong_type": (
        "extends: {small}\nmodel: {{discriminator: {{head: {{exp_dim: abc}}}}}}\n",
        "model.discriminator.head.exp_dim: expected int, got 'abc'",
    ),
    "missing_required_key": (
        "model: {{generator: null, discriminator: {{trunk: {{type: patchgan70}}}}}}\n",
        "model.discriminator.head: missing required key",
    ),
    "missing_required_param": (
        "extends: {small}\nplugins: [needs_param.py]\nmodel: {{generator: {{reasoning: {{type: needs_param}}}}}}\n",
        "model.generator.reasoning.depth: missing required parameter",
    ),
    "circular_extends": ("extends: loop_b.yaml\n", "extends: circular extends: "),
    "missing_file": (None, "recipe file not found"),
    "missing_parent": ("extends: nowhere.yaml\n", "extends: parent recipe 'nowhere.yaml' not found"),
    "not_a_mapping": ("- a\n- b\n", "a recipe must be a mapping"),
    "bad_override": ("extends: {small}\n", "train.epochs: expected int, got 'many'"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_recipes_give_one_line_and_exit_2(case, tmp_path, cli):
    text, fragment = MALFORMED[case]
    recipe = tmp_path / f"{case}.yaml"
    if text is not None:
        recipe.write_text(text.format(small=SMALL))
    write(tmp_path / "loop_b.yaml", f"extends: {case}.yaml\n")
    write(
        tmp_path / "needs_param.py",
        """
        import icezoo
        from torch import nn

        @icezoo.register("reasoning", "needs_param")
        class NeedsParam(nn.Module):
            def __init__(self, channels: int, depth: int):
                super().__init__()
    """,
    )
    args = ["build", recipe] + (["--set", "train.epochs=many"] if case == "bad_override" else [])
    code, out, err = cli(*args)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("icezoo: error: ")
    assert fragment in lines[0]
    assert str(recipe) in lines[0] or case in ("circular_extends",) and "loop_b.yaml" in lines[0]
    assert "Traceback" not in err


def test_console_script_error_is_one_line(tmp_path):
    bad = write(tmp_path / "bad.yaml", f"extends: {SMALL}\nmodel: {{discriminator: {{head: {{exp_dim: abc}}}}}}\n")
    result = run_icezoo("build", bad)
    assert result.returncode == 2
    assert result.stderr.strip() == f"icezoo: error: {bad}: model.discriminator.head.exp_dim: expected int, got 'abc'"
    debug = run_icezoo("--debug", "build", bad)
    assert debug.returncode != 0 and "Traceback" in debug.stderr
