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
        assert r["flops_per_call"] > 0
        # an MFU in (0, 1], or none where a busy machine made the peak no peak, and the row says why
        assert (r["mfu"] is None and "measurement error" in r["extra"]["mfu_error"]) or 0 < r["mfu"] <= 1
    step = next(r for r in rows if r["what"] == "train step" and r["precision"] == "fp32")
    g = next(r for r in rows if r["what"] == "g forward" and r["precision"] == "fp32")
    assert step["flops_per_call"] > 3 * g["flops_per_call"]  # forward and backward of G, plus D's
    md = out.with_suffix(".md").read_text()
    assert "Device: CPU" in md and "| icegan_small | train step | 2 | fp32 |" in md


def test_bench_rejects_bad_lists(cli):
    code, _, err = cli("bench", RECIPES / "icegan_small.yaml", "--precision", "fp16")
    assert code == 2 and err.count("\n") == 1 and "--precision" in err and "fp16" in err


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


def test_mfu_above_the_peak_is_a_measurement_error_not_a_number(monkeypatch):
    import torch

    from icezoo.bench import harness

    assert harness.utilisation(1.0, 4.0) == (0.25, None)
    mfu, why = harness.utilisation(3.0, 2.0)
    assert mfu is None and "measurement error" in why and "3 TFLOP/s" in why
    # a row measured against a peak any real call beats: no MFU, the reason in extra, the table says error
    monkeypatch.setattr(harness, "reference_peak", lambda device, precision: ("fp32", 1e-12))
    x = torch.randn(8, 8)
    row = harness.measure(
        "mm", "matmul", lambda: x @ x, batch=1, device=torch.device("cpu"), precision="fp32", compiled=False,
        warmup=0, iters=2,
    ).to_dict()  # fmt: skip
    assert row["mfu"] is None and "measurement error" in row["extra"]["mfu_error"]
    env = {"device": "CPU", "torch": torch.__version__, "peak_tflops": {"fp32": 1e-12}, "time": ""}
    assert "| error (> peak) |" in harness.markdown_table([row], env)


def test_measured_peak_is_the_best_of_its_calls_and_grows_sizes_until_compute_bound(monkeypatch):
    import torch

    from icezoo.bench import harness

    calls = []

    def fake_time_calls(fn, device, warmup, iters):  # no clock: call times as a function of the matrix size
        n = fn().shape[0]
        calls.append((n, warmup))
        t = 300.0 * (n / 1024) ** 2.5  # larger products run closer to the peak; 1024 takes 300 ms, compute-bound
        return [4 * t, t, 2 * t]  # the second call is the fastest

    monkeypatch.setattr(harness, "time_calls", fake_time_calls)
    monkeypatch.setattr(harness, "_PEAKS", {})
    peak = harness.measured_peak_tflops(torch.device("cpu"), "fp32")
    assert [n for n, _ in calls] == [256, 512, 1024] and all(w > 0 for _, w in calls)  # warm, growing, then enough
    assert peak == pytest.approx(2 * 1024**3 / (300.0 / 1e3) / 1e12)  # the fastest call of the best size


def test_recorded_benchmark_rows_carry_no_mfu_above_one():
    rows = [
        (path.name, row)
        for path in sorted((REPO / "benchmarks" / "results").glob("*.json"))
        for row in json.loads(path.read_text()).get("results", [])
        if "mfu" in row
    ]
    assert rows  # the recorded results are there to check
    assert [(name, r["name"], r["what"], r["mfu"]) for name, r in rows if r["mfu"] is not None and r["mfu"] > 1] == []
