"""Plugins: installed packages through the entry point, recipe modules, isolation of broken ones."""

from __future__ import annotations

import importlib.metadata
import textwrap

import pytest

from icezoo.errors import IcezooError
from icezoo.plugins import create_registry
from icezoo.registry import Registry

from .conftest import RECIPES, run_icezoo

SMALL = RECIPES / "icegan_small.yaml"


def _module(tmp_path, name: str, body: str):
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))


def _host(monkeypatch, tmp_path, plugins: dict[str, str]) -> Registry:
    """A fresh registry whose 'installed' plugins are the given entry points (name -> module)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [importlib.metadata.EntryPoint(name=n, value=v, group="icezoo.plugins") for n, v in plugins.items()]
    monkeypatch.setattr(
        "icezoo.plugins.importlib.metadata.entry_points", lambda group: eps if group == "icezoo.plugins" else []
    )
    return create_registry()


GOOD = """
    import icezoo
    from torch import nn

    class Good(nn.Module):
        '''A good block.'''
        def __init__(self, channels: int):
            super().__init__()
        def forward(self, x):
            return x

    @icezoo.hookimpl
    def icezoo_register(registry):
        registry.register("reasoning", "{name}", Good)
"""


def test_installed_plugin_registers_under_its_name(monkeypatch, tmp_path):
    _module(tmp_path, "izp_good", GOOD.format(name="good_block"))
    reg = _host(monkeypatch, tmp_path, {"good": "izp_good"})
    assert reg.get("reasoning", "good_block").source == "good"
    assert list(reg.plugins.loaded) == ["core", "good"]


def test_broken_plugins_are_reported_and_the_others_load(monkeypatch, tmp_path, caplog):
    _module(tmp_path, "izp_good2", GOOD.format(name="good2"))
    _module(tmp_path, "izp_broken", "raise ImportError('missing dependency foo')\n")
    _module(
        tmp_path,
        "izp_misspelt",
        """
        import icezoo
        @icezoo.hookimpl
        def icezoo_regster(registry):
            registry.register("reasoning", "never", object)
    """,
    )
    _module(
        tmp_path,
        "izp_raises",
        """
        import icezoo
        from torch import nn
        @icezoo.hookimpl
        def icezoo_register(registry):
            registry.register("reasoning", "half", nn.Identity)
            raise RuntimeError("bad config")
    """,
    )
    _module(
        tmp_path,
        "izp_clash",
        """
        import icezoo
        from torch import nn
        @icezoo.hookimpl
        def icezoo_register(registry):
            registry.register("reasoning", "skip", nn.Identity)
    """,
    )
    _module(tmp_path, "izp_nohook", "x = 1\n")
    reg = _host(monkeypatch, tmp_path, {
        "broken": "izp_broken", "clash": "izp_clash", "good2": "izp_good2", "misspelt": "izp_misspelt",
        "nohook": "izp_nohook", "raises": "izp_raises",
    })  # fmt: skip
    with caplog.at_level("WARNING", logger="icezoo"):
        reg.ensure_loaded()
    failed = reg.plugins.failed
    assert set(failed) == {"broken", "clash", "misspelt", "nohook", "raises"}
    assert "missing dependency foo" in failed["broken"]
    assert "icezoo_regster" in failed["misspelt"]
    assert "registered twice" in failed["clash"] and "core" in failed["clash"]
    assert "bad config" in failed["raises"]
    assert "no icezoo hook" in failed["nohook"]
    assert "good2" in reg.plugins.loaded
    assert "half" not in reg.names("reasoning")  # rolled back
    assert reg.get("reasoning", "skip").source == "core"
    for name in failed:
        assert f"plugin '{name}'" in caplog.text
    with pytest.raises(IcezooError, match="failed: broken, clash, misspelt, nohook, raises"):
        reg.get("reasoning", "never")


def test_env_var_limits_installed_plugins(monkeypatch, tmp_path):
    _module(tmp_path, "izp_a", GOOD.format(name="block_a"))
    _module(tmp_path, "izp_b", GOOD.format(name="block_b"))
    monkeypatch.setenv("ICEZOO_PLUGINS", "a")
    reg = _host(monkeypatch, tmp_path, {"a": "izp_a", "b": "izp_b"})
    assert "block_a" in reg.names("reasoning") and "block_b" not in reg.names("reasoning")
    assert reg.plugins.skipped == ["b"]
    assert "not loaded because of ICEZOO_PLUGINS: b" in reg.plugins.status_line()


def test_env_var_empty_loads_only_core(monkeypatch, tmp_path):
    _module(tmp_path, "izp_c", GOOD.format(name="block_c"))
    monkeypatch.setenv("ICEZOO_PLUGINS", "")
    reg = _host(monkeypatch, tmp_path, {"c": "izp_c"})
    reg.ensure_loaded()
    assert list(reg.plugins.loaded) == ["core"] and "grm" in reg.names("reasoning")


def test_plugins_load_once(monkeypatch, tmp_path):
    _module(tmp_path, "izp_once", GOOD.format(name="once"))
    reg = _host(monkeypatch, tmp_path, {"once": "izp_once"})
    reg.ensure_loaded()
    reg.ensure_loaded()
    reg.plugins.load()
    assert reg.names("reasoning", "once") == ["once"]


def test_recipe_module_with_decorator_and_with_hook(monkeypatch, tmp_path):
    _module(
        tmp_path,
        "izp_deco",
        """
        import icezoo
        from torch import nn

        @icezoo.register("reasoning", "deco_block_xyz")
        class Deco(nn.Module):
            def __init__(self, channels: int):
                super().__init__()
    """,
    )
    _module(tmp_path, "izp_hooked", GOOD.format(name="hooked_block_xyz"))
    monkeypatch.chdir(tmp_path)
    from icezoo.registry import registry

    host = registry.plugins
    host.load_modules(["izp_deco", "izp_hooked"], base_dir=tmp_path)
    assert registry.get("reasoning", "deco_block_xyz").source == "module izp_deco"
    assert registry.get("reasoning", "hooked_block_xyz").source == "izp_hooked"


def test_recipe_module_missing_is_one_clear_error(tmp_path):
    from icezoo.registry import registry

    with pytest.raises(IcezooError, match="plugin module 'no_such_module_abc' not found"):
        registry.plugins.load_modules(["no_such_module_abc"])
    with pytest.raises(IcezooError, match="plugin file 'nope.py' not found"):
        registry.plugins.load_modules(["nope.py"], base_dir=tmp_path)


def test_pip_installed_plugin_used_by_a_recipe(plugin_site, tmp_path):
    """A third-party package installed with pip: its block is listed and builds from a recipe, icezoo unchanged."""
    env = {"PYTHONPATH": str(plugin_site)}
    listed = run_icezoo("list", "reasoning", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "nonlocal" in listed.stdout and "example" in listed.stdout
    recipe = tmp_path / "nonlocal.yaml"
    recipe.write_text(f"extends: {SMALL}\nmodel:\n  generator:\n    reasoning: {{type: nonlocal, reduction: 4}}\n")
    built = run_icezoo("build", recipe, "--json", env=env)
    assert built.returncode == 0, built.stderr
    assert '"type": "nonlocal"' in built.stdout
    timm_trunk = run_icezoo(
        "build", SMALL, "--set", "model.discriminator.trunk={type: timm, model: resnet18, stage: 2}", env=env
    )
    assert timm_trunk.returncode == 0, timm_trunk.stderr
    assert "timm" in timm_trunk.stdout
    hidden = run_icezoo("list", "reasoning", env={**env, "ICEZOO_PLUGINS": "timm"})
    assert "nonlocal" not in hidden.stdout and "ICEZOO_PLUGINS: example" in hidden.stdout
