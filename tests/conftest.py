"""Shared fixtures. Nothing here downloads: HF_HUB_OFFLINE makes a stray pretrained=True fail at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ICEZOO_CACHE", str(Path(__file__).resolve().parent.parent / ".pytest_cache" / "icezoo"))

import torch  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RECIPES = REPO / "recipes"


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def cli(capsys):
    """Run ``icezoo ARGS...`` in-process; returns (exit code, stdout, stderr)."""
    from icezoo.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory) -> Path:
    """The plugins under plugins/ pip-installed (non-editable) into a fresh folder, as a third party would."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target),
         str(REPO / "plugins" / "icezoo-example"), str(REPO / "plugins" / "icezoo-timm")],
        check=True, capture_output=True,
    )  # fmt: skip
    return target


def run_icezoo(
    *args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run the real console script in a subprocess."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "icezoo.cli", *map(str, args)],
        capture_output=True, text=True, env=full_env, cwd=cwd or REPO, timeout=timeout,
    )  # fmt: skip
