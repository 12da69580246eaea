"""Throughput benchmarks: the harness (timing, FLOPs, MFU) and recipe-level measurements."""

from .harness import Measurement, environment, markdown_table, measure
from .recipes import bench_recipe, fast_math

__all__ = ["Measurement", "bench_recipe", "environment", "fast_math", "markdown_table", "measure"]
