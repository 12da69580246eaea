"""The icezoo CLI: list, describe, build."""

from __future__ import annotations

import json

from .conftest import RECIPES

SMALL = RECIPES / "icegan_small.yaml"


def test_list_shows_kinds_sources_and_plugins(cli):
    code, out, _ = cli("list")
    assert code == 0
    assert "reasoning" in out and "grm_einsum" in out and "core" in out
    assert out.strip().splitlines()[-1].startswith("(plugins loaded: core")


def test_list_with_wildcards(cli):
    code, out, _ = cli("list", "reasoning", "grm*")
    names = [line.split()[1] for line in out.strip().splitlines()[:-1]]
    assert code == 0 and names == ["grm", "grm_einsum", "grm_release"]
    code, out, _ = cli("list", "*", "*gan*")
    assert code == 0 and {"dcgan", "patchgan70", "gan"} <= {line.split()[1] for line in out.strip().splitlines()[:-1]}


def test_list_json_and_no_match(cli):
    code, out, _ = cli("list", "head", "--json")
    data = json.loads(out)
    assert code == 0 and {c["name"] for c in data["components"]} == {"capsule", "cnn"} and "core" in data["plugins"]["loaded"]
    code, out, _ = cli("list", "head", "zzz*")
    assert code == 1 and "no head matches 'zzz*'" in out


def test_describe_shows_parameters_defaults_and_doc(cli):
    code, out, _ = cli("describe", "head", "capsule")
    assert code == 0
    assert "head 'capsule' from core" in out
    assert "exp_dim: int (default 32)" in out and "adv_dim: int (default 256)" in out
    assert "in_channels: int (required, set by icezoo)" in out
    code, _, err = cli("describe", "head", "capsul")
    assert code == 2 and "did you mean 'capsule'" in err


def test_build_prints_tree_params_and_flops(cli):
    code, out, err = cli("build", SMALL)
    assert code == 0, err
    for fragment in ("generator", "identity_unet", "bridges[0]", "grm", "discriminator", "trunk", "patchgan70", "capsule", "GFLOPs/img", "total"):
        assert fragment in out, fragment


def test_build_json_counts_match_the_model(cli):
    import icezoo

    code, out, _ = cli("build", SMALL, "--json", "--set", "model.generator.reasoning.type=se")
    data = json.loads(out)
    model = icezoo.build_model(icezoo.load_recipe(SMALL, ["model.generator.reasoning.type=se"]))
    gen, disc = data["components"]
    assert code == 0 and gen["type"] == "identity_unet"
    assert gen["params"] == sum(p.numel() for p in model.generator.parameters())
    assert disc["params"] == sum(p.numel() for p in model.discriminator.parameters())
    assert data["total"]["params"] == gen["params"] + disc["params"]
    assert all(c["type"] == "se" for c in gen["children"] if c["path"].startswith("generator.bridges"))
    assert gen["flops_per_image"] > 0 and disc["flops_per_image"] > 0
    assert sum(c["flops_per_image"] for c in gen["children"]) <= gen["flops_per_image"] * 1.01
    assert gen["output"] == "1x64x64"
    assert data["overrides"] == ["model.generator.reasoning.type=se"]
