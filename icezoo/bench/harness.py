"""Throughput measurement: timing with spread, counted FLOPs, peak memory, MFU.

* Time: after ``warmup`` calls, each of ``iters`` calls is timed on its own,
  with CUDA events on a GPU (no host sync inside the loop) and
  ``time.perf_counter`` on the CPU; we report the median and the
  interquartile range.
* FLOPs: counted once with ``torch.utils.flop_counter.FlopCounterMode`` on
  an eager call of the same function (forward and backward); a compiled
  function does the same arithmetic.
* MFU: achieved FLOP/s over the peak of square matrix products measured on the
  same device in the same process, in the run's dtype (bf16 for bf16 runs; for
  fp32 runs on CUDA the TF32 peak, because cuDNN runs fp32 convolutions on TF32
  by default). The peak is made to be a peak: warm, the best of several calls,
  over growing sizes until a call is long enough to be compute-bound. An
  achieved rate above it means the peak was not one (a busy machine, a kernel
  the matrix product does not reach), so the row carries no MFU (None) and
  says why in ``extra["mfu_error"]``: never a ratio above 1.
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


# Matrix sizes tried, smallest first, and the call time (ms) past which a size counts as compute-bound.
PEAK_SIZES = {"cuda": (2048, 4096, 8192), "cpu": (256, 512, 1024, 2048)}
COMPUTE_BOUND_MS = {"cuda": 5.0, "cpu": 200.0}


def measured_peak_tflops(device: torch.device, kind: str) -> float:
    """The best TFLOP/s of square matrix products on ``device`` (``bf16``, ``tf32`` or ``fp32``), measured once per
    process: for each size, warm-up calls then the fastest of several; sizes grow until a call takes
    ``COMPUTE_BOUND_MS`` (arithmetic, not launches or memory, then sets the time)."""
    key = (str(device), kind)
    if key not in _PEAKS:
        dtype = torch.bfloat16 if kind == "bf16" else torch.float32
        kind_of_device = "cuda" if device.type == "cuda" else "cpu"
        saved = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = kind == "tf32"
        best = 0.0
        try:
            for n in PEAK_SIZES[kind_of_device]:
                a = torch.randn(n, n, device=device, dtype=dtype)
                b = torch.randn(n, n, device=device, dtype=dtype)
                fastest = min(
                    time_calls(lambda a=a, b=b: a @ b, device, warmup=3, iters=10 if device.type == "cuda" else 5)
                )
                best = max(best, 2 * n**3 / (fastest / 1e3) / 1e12)
                if fastest >= COMPUTE_BOUND_MS[kind_of_device]:
                    break
        finally:
            torch.backends.cuda.matmul.allow_tf32 = saved
        _PEAKS[key] = best
    return _PEAKS[key]


def utilisation(achieved_tflops: float, peak_tflops: float) -> tuple[float | None, str | None]:
    """(MFU, None), or (None, why) where the achieved rate exceeds the measured peak: a measurement error."""
    if peak_tflops > 0 and achieved_tflops <= peak_tflops:
        return achieved_tflops / peak_tflops, None
    return None, (
        f"measurement error: achieved {achieved_tflops:.3g} TFLOP/s is above the measured peak of "
        f"{peak_tflops:.3g} TFLOP/s, so that peak was not a peak (a busy machine?); no MFU"
    )


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
    mfu: float | None  # None where the achieved rate exceeded the measured peak (extra["mfu_error"] says so)
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
    reset_peak: bool = True,
    **extra: Any,
) -> Measurement:
    """Time ``fn`` and derive images/s, FLOP/s and MFU; FLOPs counted on ``eager_fn`` (or ``fn``) unless given.

    ``reset_peak=False`` keeps the peak memory measured so far (a CUDA graph's: its capture allocates the memory
    its replays then use without allocating, so a peak reset after capture would miss it). On CUDA,
    ``extra["peak_reserved_bytes"]`` records the allocator's reserved peak too.
    """
    if flops is None:
        flops = count_flops(eager_fn or fn)
    if device.type == "cuda" and reset_peak:
        torch.cuda.reset_peak_memory_stats(device)
    times = time_calls(fn, device, warmup, iters)
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    med = statistics.median(times)
    achieved = flops / (med / 1e3) / 1e12
    peak_kind, peak = reference_peak(device, precision)
    mfu, error = utilisation(achieved, peak)
    extra = {**extra, "mfu_against": peak_kind, **({"mfu_error": error} if error else {})}
    if device.type == "cuda":
        extra["peak_reserved_bytes"] = int(torch.cuda.max_memory_reserved(device))
    return Measurement(
        name=name, what=what, batch=batch, precision=precision, compiled=compiled, device=device_name(device),
        median_ms=med, q25_ms=q[0], q75_ms=q[2], min_ms=min(times), iters=len(times),
        images_per_s=batch / (med / 1e3), flops_per_call=flops, achieved_tflops=achieved, mfu=mfu,
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
            k: float(f"{measured_peak_tflops(device, k):.3g}")
            for k in (("fp32", "tf32", "bf16") if device.type == "cuda" else ("fp32", "bf16"))
        },
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return env


def mfu_text(mfu: float | None) -> str:
    """An MFU for tables and logs: a percentage, or the measurement error it was (see :func:`utilisation`)."""
    return "error (> peak)" if mfu is None else f"{100 * mfu:.1f}%"


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
            f"{r['achieved_tflops']:.2f} | {mfu_text(r['mfu'])} | {'-' if mem is None else f'{mem / 2**30:.2f}'} |"
        )
    return "\n".join(lines) + "\n"
