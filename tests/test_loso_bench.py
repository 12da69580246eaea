"""benchmarks/loso.py, fast_step.py and gpu_session.sh at tiny sizes on the CPU (the GPU runs them in full)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from .conftest import REPO
from .helpers import marked_processes


def _script(name: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / f"{name}.py"), "--smoke", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)  # fmt: skip


@pytest.mark.slow
def test_loso_benchmark_times_variants_and_extrapolates_from_two_epoch_counts(tmp_path):
    # a time limit no load reaches: the longer run starts only when 5x the shorter run fits (about 5 x 55 s quiet,
    # 5 x 90 s on a loaded machine), which the default 420 s does not always cover
    result = _script("loso", "--out-dir", str(tmp_path), "--variants", "sequential,cuda graphs",
                     "--time-limit", "3000", timeout=3300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    (path,) = tmp_path.glob("loso-smoke-*.json")
    doc = json.loads(path.read_text())
    sequential, graphs = doc["rows"]
    assert doc["epochs"] == [1, 5] and doc["image_steps"]["5"] == 5 * doc["image_steps"]["1"] > 0
    walls = sequential["wall_s"]
    rate = (doc["image_steps"]["5"] - doc["image_steps"]["1"]) / (walls["5"] - walls["1"])
    assert sequential["image_steps_per_s"] == pytest.approx(rate) and sequential["speedup"] == 1.0
    fixed = walls["1"] - doc["image_steps"]["1"] / rate  # start and set-up: not in the rate
    assert sequential["fixed_s"] == pytest.approx(max(0.0, fixed))
    assert sequential["full_protocol_h"] * 3600 == pytest.approx(
        sequential["fixed_s"] * doc["full_folds"] / doc["folds"] + doc["full_image_steps"] / rate
    )
    assert graphs == {"variant": "cuda graphs", "skipped": "needs a CUDA GPU"}
    assert "| sequential |" in path.with_suffix(".md").read_text()
    assert "summary: sequential:" in result.stdout  # printed as the row came


@pytest.mark.slow
def test_fast_step_benchmark_on_the_cpu(tmp_path):
    result = _script("fast_step", "--device", "cpu", "--no-compile", "--out-dir", str(tmp_path), "--iters", "1")
    assert result.returncode == 0, result.stderr[-2000:]
    (path,) = tmp_path.glob("fast_step-*.json")
    data = json.loads(path.read_text())
    rows = [(r["batch"], r["precision"]) for r in data["results"]]
    assert rows == [(2, "fp32"), (4, "fp32"), (4, "bf16"), (8, "bf16"), (16, "bf16")]
    assert "eager bf16 / eager fp32 at batch 4" in data["summary"]
    assert data["summary"]["largest batch that fits (eager bf16, doubling)"] == (
        "16 (the --max-batch cap (16) reached: a lower bound, not a limit)"
    )


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc (Linux)")
def test_gpu_session_parts_are_time_boxed_and_leave_no_process_behind(tmp_path):
    # smoke-loso: LOSO's own limit cuts a two-worker eval mid-run; smoke-box: the part's box runs out while a
    # run is going (SIGINT to the script, which stops the eval and its workers); smoke-fast: the batch cap
    session = f"test-{uuid.uuid4().hex[:8]}"
    work = tmp_path / "work"  # results and working files: outside OUT, which gets only the log and a tarball
    env = {**os.environ, "OUT": str(tmp_path / "out"), "ICEZOO_GPU_WORK": str(work), "ICEZOO_SESSION": session,
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    result = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_session.sh"), "smoke-loso", "smoke-box",
                             "smoke-fast"], capture_output=True, text=True, env=env, timeout=600)  # fmt: skip
    out = result.stdout
    assert result.returncode == 0, out + result.stderr[-2000:]
    assert marked_processes(session) == []  # nothing left running, workers in their own sessions included
    assert "== part smoke-loso: exit 0 " in out and "== part smoke-fast: exit 0 " in out
    assert "== part smoke-box: box of 12 s reached: SIGINT" in out
    assert "summary: workers 2: skipped (interrupted" in out  # the script stopped on the SIGINT and said so
    (cut,) = json.loads(next((work / "results" / "smoke-loso").glob("loso-smoke-*.json")).read_text())["rows"]
    assert "did not finish in" in cut["skipped"]
    assert "summary: largest batch that fits (eager bf16, doubling): 16 (the --max-batch cap (16) reached" in out
    assert not list((REPO / "benchmarks" / "results").glob("*-smoke-*"))  # nothing copied into the checkout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["results.tar.gz", "session.log"]
