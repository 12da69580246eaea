"""Throughput benchmarks: the harness (timing, FLOPs, MFU) and recipe-level measurements."""

from .harness import Measurement, environment, markdown_table, measure
from .recipes import bench_recipe, cudnn_autotune

__all__ = ["Measurement", "bench_recipe", "cudnn_autotune", "environment", "markdown_table", "measure"]
