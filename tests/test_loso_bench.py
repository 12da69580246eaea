"""benchmarks/loso.py and benchmarks/fast_step.py at tiny sizes on the CPU (the GPU runs them in gpu_session.sh)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import REPO


def _script(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / f"{name}.py"), "--smoke", *args],
                          capture_output=True, text=True, timeout=600, cwd=REPO)  # fmt: skip


@pytest.mark.slow
def test_loso_benchmark_times_variants_and_extrapolates(tmp_path):
    result = _script("loso", "--out-dir", str(tmp_path), "--variants", "sequential,cuda graphs")
    assert result.returncode == 0, result.stderr[-2000:]
    (path,) = tmp_path.glob("loso-smoke-*.json")
    doc = json.loads(path.read_text())
    sequential, graphs = doc["rows"]
    assert doc["image_steps"] == 2 * 2 * 8  # 2 folds x max_steps 2 x batch 8
    assert sequential["wall_s"] > 0 and sequential["speedup"] == 1.0
    assert sequential["full_protocol_h"] * 3600 == pytest.approx(
        doc["full_image_steps"] / sequential["image_steps_per_s"]
    )
    assert graphs == {"variant": "cuda graphs", "skipped": "needs a CUDA GPU"}
    assert "| sequential |" in path.with_name(path.name[: -len(".json")] + ".md").read_text()


@pytest.mark.slow
def test_fast_step_benchmark_on_the_cpu(tmp_path):
    result = _script("fast_step", "--device", "cpu", "--no-compile", "--out-dir", str(tmp_path), "--iters", "1")
    assert result.returncode == 0, result.stderr[-2000:]
    (path,) = tmp_path.glob("fast_step-*.json")
    data = json.loads(path.read_text())
    assert [(r["batch"], r["precision"]) for r in data["results"]] == [(2, "fp32"), (4, "fp32"), (4, "bf16")]
    assert "eager bf16 / eager fp32 at batch 4" in data["summary"]
