"""Benchmarks run on the CPU at small sizes and write complete results."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import RECIPES, REPO

FIELDS = {"name", "what", "batch", "precision", "compiled", "device", "median_ms", "q25_ms", "q75_ms", "min_ms", "iters",
          "images_per_s", "flops_per_call", "achieved_tflops", "mfu", "peak_memory_bytes", "extra"}  # fmt: skip


def test_bench_cli_writes_json_with_every_field(tmp_path, cli):
    out = tmp_path / "bench.json"
    code, stdout, err = cli(
        "bench",
        RECIPES / "icegan_small.yaml",
        "--device",
        "cpu",
        "--batch-sizes",
        "2",
        "--iters",
        "2",
        "--warmup",
        "1",
        "--out",
        out,
    )
    assert code == 0, err
    data = json.loads(out.read_text())
    env = data["environment"]
    assert env["device"].startswith("CPU") and env["torch"] and env["peak_tflops"]["fp32"] > 0
    rows = data["results"]
    assert {(r["what"], r["precision"]) for r in rows} == {
        (w, p) for w in ("g forward", "d forward", "train step") for p in ("fp32", "bf16")
    }
    for r in rows:
        assert set(r) == FIELDS
        assert (
            r["median_ms"] > 0
            and r["q25_ms"] <= r["median_ms"] <= r["q75_ms"]
            and r["images_per_s"] == pytest.approx(2000 / r["median_ms"])
        )
        assert r["flops_per_call"] > 0 and 0 < r["mfu"] < 1
    step = next(r for r in rows if r["what"] == "train step" and r["precision"] == "fp32")
    g = next(r for r in rows if r["what"] == "g forward" and r["precision"] == "fp32")
    assert step["flops_per_call"] > 3 * g["flops_per_call"]  # forward and backward of G, plus D's
    md = out.with_suffix(".md").read_text()
    assert "Device: CPU" in md and "| icegan_small | train step | 2 | fp32 |" in md


def test_bench_rejects_bad_lists(cli):
    with pytest.raises(SystemExit):
        cli("bench", RECIPES / "icegan_small.yaml", "--precision", "fp16")


@pytest.mark.slow
@pytest.mark.parametrize("script", ["train_step", "reasoning_blocks", "discriminator_heads"])
def test_benchmark_scripts_smoke_on_cpu(script, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / f"{script}.py"),
            "--smoke",
            "--device",
            "cpu",
            "--no-compile",
            "--out-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (path,) = tmp_path.glob(f"{script}-*.json")
    data = json.loads(path.read_text())
    assert data["results"] and all(r["median_ms"] > 0 for r in data["results"])
