"""Throughput measurement: timing with spread, counted FLOPs, peak memory, MFU.

* Time: after ``warmup`` calls, each of ``iters`` calls is timed on its own,
  with CUDA events on a GPU (no host sync inside the loop) and
  ``time.perf_counter`` on the CPU; we report the median and the
  interquartile range.
* FLOPs: counted once with ``torch.utils.flop_counter.FlopCounterMode`` on
  an eager call of the same function (forward and backward); a compiled
  function does the same arithmetic.
* MFU: achieved FLOP/s over the peak of a large matrix product measured on the
  same device in the same process (bf16 for bf16 runs; for fp32 runs on CUDA
  the TF32 peak, because cuDNN runs fp32 convolutions on TF32 by default).
"""

from __future__ import annotations

import dataclasses
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU {platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def time_calls(fn: Callable[[], Any], device: torch.device, warmup: int, iters: int) -> list[float]:
    """Milliseconds of each of ``iters`` calls of ``fn`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    if device.type == "cuda":
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(iters)]
        for start, end in events:
            start.record()
            fn()
            end.record()
        torch.cuda.synchronize(device)
        return [start.elapsed_time(end) for start, end in events]
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of one call, counted (matrix products and convolutions, forward and backward)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


_PEAKS: dict[tuple[str, str], float] = {}


def measured_peak_tflops(device: torch.device, kind: str) -> float:
    """TFLOP/s of a large square matrix product on ``device``, measured once: ``bf16``, ``tf32`` or ``fp32``."""
    key = (str(device), kind)
    if key not in _PEAKS:
        dtype = torch.bfloat16 if kind == "bf16" else torch.float32
        n = 8192 if device.type == "cuda" else 1024
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        saved = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = kind == "tf32"
        try:
            times = time_calls(lambda: a @ b, device, warmup=3, iters=10 if device.type == "cuda" else 3)
        finally:
            torch.backends.cuda.matmul.allow_tf32 = saved
        _PEAKS[key] = 2 * n**3 / (statistics.median(times) / 1e3) / 1e12
    return _PEAKS[key]


def reference_peak(device: torch.device, precision: str) -> tuple[str, float]:
    """The peak an MFU is taken against: bf16 for bf16 runs; for fp32 runs on CUDA, TF32 where cuDNN
    convolutions use it (PyTorch's default), since they dominate the arithmetic."""
    if precision == "bf16":
        kind = "bf16"
    elif device.type == "cuda" and (torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32):
        kind = "tf32"
    else:
        kind = "fp32"
    return kind, measured_peak_tflops(device, kind)


def peak_memory(device: torch.device) -> int | None:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    try:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # process high-water mark
    except (ImportError, OSError):
        return None


@dataclasses.dataclass
class Measurement:
    """One timed configuration."""

    name: str  # recipe or component
    what: str  # g | d | step | a component's label
    batch: int
    precision: str
    compiled: bool
    device: str
    median_ms: float
    q25_ms: float
    q75_ms: float
    min_ms: float
    iters: int
    images_per_s: float
    flops_per_call: int
    achieved_tflops: float
    mfu: float
    peak_memory_bytes: int | None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def measure(
    name: str,
    what: str,
    fn: Callable[[], Any],
    *,
    batch: int,
    device: torch.device,
    precision: str,
    compiled: bool,
    warmup: int,
    iters: int,
    flops: int | None = None,
    eager_fn: Callable[[], Any] | None = None,
    **extra: Any,
) -> Measurement:
    """Time ``fn`` and derive images/s, FLOP/s and MFU; FLOPs counted on ``eager_fn`` (or ``fn``) unless given."""
    if flops is None:
        flops = count_flops(eager_fn or fn)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = time_calls(fn, device, warmup, iters)
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    med = statistics.median(times)
    achieved = flops / (med / 1e3) / 1e12
    peak_kind, peak = reference_peak(device, precision)
    extra = {**extra, "mfu_against": peak_kind}
    return Measurement(
        name=name, what=what, batch=batch, precision=precision, compiled=compiled, device=device_name(device),
        median_ms=med, q25_ms=q[0], q75_ms=q[2], min_ms=min(times), iters=len(times),
        images_per_s=batch / (med / 1e3), flops_per_call=flops, achieved_tflops=achieved, mfu=achieved / peak,
        peak_memory_bytes=peak_memory(device), extra=dict(extra),
    )  # fmt: skip


def environment(device: torch.device) -> dict[str, Any]:
    """What the numbers were measured on."""
    env = {
        "device": device_name(device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if device.type == "cuda" else None,
        "python": platform.python_version(),
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        "peak_tflops": {
            k: round(measured_peak_tflops(device, k), 2)
            for k in (("fp32", "tf32", "bf16") if device.type == "cuda" else ("fp32", "bf16"))
        },
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return env


def markdown_table(results: list[dict[str, Any]], env: dict[str, Any], title: str = "") -> str:
    """The measurements as a Markdown table, headed by the device and settings."""
    lines = [f"# {title}" if title else "# icezoo benchmark", ""]
    peaks = ", ".join(f"{v} {k}" for k, v in env["peak_tflops"].items())
    lines.append(
        f"Device: {env['device']}; torch {env['torch']}"
        + (f", CUDA {env['cuda']}" if env.get("cuda") else "")
        + f"; measured matmul peaks (TFLOP/s): {peaks}; MFU of fp32 runs is against TF32 where cuDNN uses it; {env['time']}."
    )
    lines += [
        "",
        "| name | what | batch | precision | compiled | median ms (IQR) | images/s | GFLOP/call | TFLOP/s | MFU | peak mem GiB |",
        "| --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        mem = r.get("peak_memory_bytes")
        lines.append(
            f"| {r['name']} | {r['what']} | {r['batch']} | {r['precision']} | {'yes' if r['compiled'] else 'no'} | "
            f"{r['median_ms']:.2f} ({r['q25_ms']:.2f}-{r['q75_ms']:.2f}) | {r['images_per_s']:.1f} | {r['flops_per_call'] / 1e9:.2f} | "
            f"{r['achieved_tflops']:.2f} | {100 * r['mfu']:.1f}% | {'-' if mem is None else f'{mem / 2**30:.2f}'} |"
        )
    return "\n".join(lines) + "\n"
