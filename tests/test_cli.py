"""The icezoo CLI: list, describe, build."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .conftest import RECIPES, run_icezoo

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
    assert (
        code == 0
        and {c["name"] for c in data["components"]} == {"capsule", "cnn"}
        and "core" in data["plugins"]["loaded"]
    )
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
    for fragment in (
        "generator",
        "identity_unet",
        "bridges[0]",
        "grm",
        "discriminator",
        "trunk",
        "patchgan70",
        "capsule",
        "GFLOPs/img",
        "total",
    ):
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


# ---------------------------------------------------------------- the command table, fast start, closed pipes


def test_every_command_is_one_module_with_help_arguments_and_run():
    import argparse

    from icezoo.cli import COMMANDS, build_parser, command

    assert list(COMMANDS) == [
        "list",
        "describe",
        "build",
        "train",
        "eval",
        "ablate",
        "test",
        "predict",
        "synth",
        "export",
        "synth-metrics",
        "prepare",
        "bench",
        "convert-release",
    ]
    for name in COMMANDS:
        module = command(name)
        assert isinstance(module.HELP, str) and module.HELP and callable(module.add_arguments) and callable(module.run)
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.help for p in sub.choices.values() for a in p._actions if "--set" in a.option_strings}
    assert len(helps) == 1  # --set means the same thing everywhere


def test_choices_spelled_out_for_help_match_the_library():
    import typing

    from icezoo.cli import options, prepare, synth
    from icezoo.config.schema import EvalConfig
    from icezoo.data import CLASSES
    from icezoo.data.prepare import LABEL_MAPS

    assert synth.CLASSES == CLASSES and tuple(LABEL_MAPS) == prepare.DATASETS
    assert typing.get_args(typing.get_type_hints(EvalConfig)["protocol"]) == options.PROTOCOLS


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["train", "--help"], ["prepare", "--help"]])
def test_help_and_version_do_not_import_torch(args):
    code = (
        "import sys\nfrom icezoo.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'torch_geometric') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in result.stderr, result.stderr
    assert "icezoo" in result.stdout


@pytest.mark.parametrize("args", [["list"], ["describe", "reasoning", "grm"]])
def test_list_and_describe_import_only_what_they_show(args):
    """The components are torch modules, so torch loads; PyG and timm load only when a block is built."""
    code = (
        "import sys, contextlib, io\nfrom icezoo.cli import main\n"
        f"with contextlib.redirect_stdout(io.StringIO()):\n    main({args!r})\n"
        "print('HEAVY', [m for m in ('torch_geometric', 'timm') if m in sys.modules], file=sys.stderr)\n"
    )
    env = {**os.environ, "ICEZOO_PLUGINS": ""}  # installed third-party plugins may import what they like
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert "HEAVY []" in result.stderr, result.stderr


def test_lazy_package_keeps_its_public_names():
    import icezoo
    import icezoo.registry  # the submodule: icezoo.registry must stay the Registry instance

    assert isinstance(icezoo.registry, icezoo.Registry)
    assert set(icezoo.__all__) <= set(dir(icezoo))
    assert all(getattr(icezoo, name) is not None for name in icezoo.__all__)
    with pytest.raises(AttributeError, match="no_such_name"):
        icezoo.no_such_name  # noqa: B018


@pytest.mark.parametrize("module", ["icezoo", "icezoo.cli"])
def test_python_dash_m_runs_the_command_line(module):
    result = (
        run_icezoo("--version")
        if module == "icezoo.cli"
        else subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True, timeout=60)
    )
    assert result.returncode == 0 and result.stdout.startswith("icezoo ")


def test_a_closed_pipe_is_not_a_traceback():
    """``icezoo list --json | head -1``: the reader leaves early; no BrokenPipeError traceback on stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "icezoo.cli", "list", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()  # before the command writes anything
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and "Traceback" not in err and "BrokenPipe" not in err, err
