"""benchmarks/gpu_session.sh: a budget that fits one device command, outputs that come back, failures in sight,
and its rehearsal on the CPU (the device tool brings back at most 8 files of $OUT, each under 16 MiB, and runs
one command for at most 600 s)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest

from .conftest import REPO
from .helpers import marked_processes

SCRIPT = REPO / "benchmarks" / "gpu_session.sh"
BOUND = 570  # seconds: the session's worst case, under one command's 600 s
CORE = ["graphtests", "fast-graphs", "fast-compiled", "loso", "fast-largest"]
FILES_BACK, FILE_BYTES = 8, 16 * 2**20

sys.path.insert(0, str(REPO / "benchmarks"))


def _session(*args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env})  # fmt: skip


def _plan(*parts: str, **env: str) -> tuple[list[tuple[str, int, int]], int, int, str]:
    """(core parts as (name, box, grace), header, worst case, the whole output) of ``gpu_session.sh plan``."""
    result = _session("plan", *parts, timeout=60, **env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    core = [(n, int(b), int(g)) for n, b, g in re.findall(r"^part (\S+): box (\d+) s, grace (\d+) s", out, re.M)]
    header, worst = map(int, re.search(r"^header (\d+) s; worst case (\d+) s", out, re.M).groups())
    return core, header, worst, out


def test_the_session_is_ordered_by_value_and_its_worst_case_fits_one_command():
    none = "recipes/none/*.yaml"  # no Table I recipes: the optional part is skipped, the core set alone counts
    core, header, worst, out = _plan(ICEZOO_GPU_TABLE1=none)
    assert [n for n, _, _ in core] == CORE
    assert worst == header + sum(b + g for _, b, g in core) <= BOUND
    assert "part table1: optional" in out and f"skipped: no {none}" in out
    assert _plan("issue22", ICEZOO_GPU_TABLE1=none)[2] == worst  # the old name runs the same session
    assert _plan()[2] == BOUND  # this checkout's recipes/table1: the optional part fills what the core set leaves
    scaled, header2, worst2, _ = _plan(ICEZOO_GPU_SCALE="2", ICEZOO_GPU_TABLE1=none)  # the sum follows the boxes
    assert [b for _, b, _ in scaled] == [2 * b for _, b, _ in core]
    assert worst2 == header2 + sum(b + g for _, b, g in scaled) > BOUND


def test_an_optional_part_that_can_run_fills_only_what_the_core_set_leaves():
    core, header, worst, out = _plan(ICEZOO_GPU_TABLE1="recipes/icegan_small.yaml")
    assert "part table1: optional" in out and "skipped" not in out
    assert header + sum(b + g for _, b, g in core) < worst == BOUND  # its box is cut to what is left


def test_the_largest_batch_is_predicted_from_one_peak_and_the_free_memory():
    from fast_step import predict_largest

    gib = 2**30
    resident, per_image, free = 2 * gib, 0.03 * gib, 80 * gib
    peak = int(resident + 512 * per_image)
    n = predict_largest(512, peak, resident, free)
    assert n % 64 == 0 and n > 512
    assert resident + n * per_image <= 0.9 * free < resident + (n + 64) * per_image  # the largest that fits
    assert predict_largest(512, peak, resident, 2 * free) > 2 * n - 64  # twice the memory: about twice the batch
    assert predict_largest(512, peak, resident, 3 * gib) == 512  # never below the batch that ran
    with pytest.raises(ValueError, match="must exceed the resident"):
        predict_largest(512, resident, resident, free)


@pytest.mark.parametrize("limit, found", [
    (5_000, "out of memory at batch {twice}: the limit lies in [{n}, {twice})"),  # the prediction holds
    (1_000, "out of memory at batch {n}: the limit lies in [512, {n})"),  # it was too high: 512 is what ran
    (None, "batch {twice} ran too: the prediction was low, a lower bound"),
])  # fmt: skip
def test_the_largest_batch_part_tries_the_prediction_and_its_double(monkeypatch, limit, found):
    from types import SimpleNamespace

    import fast_step
    import torch

    gib, resident, per_image = 2**30, 2 * 2**30, 0.01 * 2**30
    tried = []

    def timed(results, rec, name, device, batch, precision, warmup, iters):  # memory as the model has it
        tried.append(batch)
        if limit is not None and batch > limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return SimpleNamespace(peak_memory_bytes=int(resident + batch * per_image), extra={"resident_bytes": resident})

    monkeypatch.setattr(fast_step, "timed", timed)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (40 * gib, 80 * gib))
    summary = fast_step.largest_batch(None, torch.device("cuda"), 512, 65536, float("inf"), None, "icegan")
    n = fast_step.predict_largest(512, int(resident + 512 * per_image), resident, 40 * gib)
    assert tried == ([512, n] if limit == 1_000 else [512, n, 2 * n])
    best = 512 if limit == 1_000 else 2 * n if limit is None else n
    assert summary == f"{best} (predicted {n} from batch 512's peak 7.1 GiB (2.0 GiB resident) and 40.0 GiB free; " + (
        found.format(n=n, twice=2 * n) + ")"
    )


def test_the_longer_loso_run_starts_only_when_the_scaled_shorter_run_fits():
    from loso import longer_run_fits

    assert longer_run_fits(10.0, 1, 5, 50.0) and not longer_run_fits(10.0, 1, 5, 49.0)
    assert longer_run_fits(10.0, 2, 6, 30.0) and not longer_run_fits(10.0, 2, 6, 29.9)


def test_a_missing_module_is_one_line_and_the_session_stops(tmp_path):
    # the caller's PYTHONPATH is extended, not replaced: a module shadowed there is what the session imports
    shadow = tmp_path / "site"
    shadow.mkdir()
    (shadow / "torch.py").write_text("raise ImportError('this torch is a stand-in')\n")
    out = tmp_path / "out"
    result = _session("rehearse", timeout=120, OUT=str(out), ICEZOO_GPU_WORK=str(tmp_path / "work"),
                      PYTHONPATH=str(shadow))  # fmt: skip
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("session rehearsal")
    assert lines[1].startswith("import check FAILED: torch: ImportError: this torch is a stand-in; session stopped")
    assert "== part" not in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["session.log"]


def test_work_inside_out_is_refused(tmp_path):
    result = _session("rehearse", timeout=60, OUT=str(tmp_path), ICEZOO_GPU_WORK=str(tmp_path / "work"))
    assert result.returncode == 2 and "must lie outside OUT" in result.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_part_that_fails_shows_its_error_and_is_counted_as_writing_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: no-such-parent.yaml\n")
    result = _session("rehearse", "table1", timeout=300, OUT=str(tmp_path / "out"), ICEZOO_GPU_TABLE1=str(bad),
                      ICEZOO_GPU_WORK=str(tmp_path / "work"), ICEZOO_GPU_SCALE="10")  # fmt: skip
    assert result.returncode == 1  # a rehearsal in which a part wrote nothing fails
    box = int(re.search(r"^== part table1: box (\d+) s", result.stdout, re.M)[1])
    assert box <= BOUND - 10 - 5 < 10 * 120  # ten times its box, cut to what is left of the bound
    assert "icezoo: error: " in result.stdout  # lower case: the terminal filter ignores case
    assert "== part table1: exit 2 after" in result.stdout and "wrote nothing" in result.stdout
    assert result.stdout.splitlines()[-1] == "rehearsal: 0 of 1 parts wrote their results; worst case 570 s"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc (Linux)")
def test_the_rehearsal_runs_every_part_and_leaves_what_the_device_tool_brings_back(tmp_path):
    # every part of the session at tiny sizes on the CPU, through the same scripts, boxes and tarball; the Table I
    # part pointed at a recipe that exists, so that the optional part runs too
    out, work, session = tmp_path / "out", tmp_path / "work", f"test-{uuid.uuid4().hex[:8]}"
    recorded = sorted((REPO / "benchmarks" / "results").iterdir())
    result = _session("rehearse", OUT=str(out), ICEZOO_GPU_WORK=str(work), ICEZOO_SESSION=session,
                      ICEZOO_GPU_TABLE1="recipes/icegan_small.yaml", OMP_NUM_THREADS="1")  # fmt: skip
    stdout = result.stdout
    assert result.returncode == 0, stdout + result.stderr[-2000:]
    parts = [*CORE, "table1"]
    for part in parts:
        assert re.search(rf"^== part {part}: exit 0 after \d+ s; wrote {part}/", stdout, re.M), part
    last = stdout.splitlines()[-1]
    found = re.fullmatch(r"rehearsal: (\d+) of (\d+) parts wrote their results; worst case (\d+) s", last)
    assert found, last
    assert int(found[1]) == int(found[2]) == len(parts) and int(found[3]) <= BOUND
    assert "summary: sequential:" in stdout and "summary: largest batch that fits" in stdout  # as they came
    files = [p for p in out.rglob("*") if p.is_file()]
    assert sorted(p.name for p in files) == ["results.tar.gz", "session.log"]  # the cache and results elsewhere
    assert len(files) <= FILES_BACK and all(p.stat().st_size < FILE_BYTES for p in files)
    with tarfile.open(out / "results.tar.gz") as tar:
        names = tar.getnames()
    for part in parts:
        assert any(n.startswith(f"./{part}/") and n.endswith((".json", ".xml")) for n in names), (part, names)
    assert marked_processes(session) == []  # nothing left running
    assert sorted((REPO / "benchmarks" / "results").iterdir()) == recorded  # nothing copied into the checkout
