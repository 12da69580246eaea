"""Folds in parallel: worker processes and Ray tasks give the sequential run's predictions; a dead worker is named."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import pytest

import icezoo
from icezoo.errors import IcezooError
from icezoo.eval import parallel
from icezoo.eval.parallel import Worker, plan_workers
from icezoo.eval.runner import evaluate

from .test_eval import SMALL, TINY

FOLDS = 4
SETS = [f"--set={s}" for s in TINY + [f"eval.max_folds={FOLDS}"]]


def test_workers_round_robin_over_gpus_and_split_threads():
    plan = plan_workers(4, 2, None, gpus=2, cpus=16)
    assert [w.device for w in plan] == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert {w.threads for w in plan} == {4} and [w.index for w in plan] == [1, 2, 3, 4]
    assert [w.device for w in plan_workers(3, None, None, gpus=0, cpus=2)] == [None] * 3
    assert [w.device for w in plan_workers(2, None, "auto", gpus=0, cpus=2)] == [None] * 2
    assert plan_workers(3, None, "cpu", gpus=8, cpus=2)[0] == Worker(1, 3, "cpu", 1)
    with pytest.raises(IcezooError, match="needs 4 GPUs; 2 visible"):
        plan_workers(8, 2, None, gpus=2)
    with pytest.raises(IcezooError, match="--workers 0"):
        plan_workers(0, None, None, gpus=0)


@pytest.fixture(scope="module")
def sequential(tmp_path_factory, clips):
    out = tmp_path_factory.mktemp("sequential")
    recipe = icezoo.load_recipe(SMALL, TINY + [f"eval.max_folds={FOLDS}"])
    evaluate(recipe, "loso", out, progress=False, clips=clips)
    return (out / "predictions.csv").read_text()


@pytest.fixture(scope="module")
def clips():
    from icezoo.data import load_clips

    return load_clips(icezoo.load_recipe(SMALL, TINY))


@pytest.mark.slow  # two worker processes each import torch: ~15 s on 2 loaded cores
def test_two_workers_give_the_sequential_predictions(cli, tmp_path, sequential):
    code, out, err = cli("eval", SMALL, *SETS, "--protocol", "loso", "--out", tmp_path, "--workers", "2")
    assert code == 0, err
    assert (tmp_path / "predictions.csv").read_text() == sequential
    assert "worker 2/2 (cpu): fold" in out
    assert sorted(p.name for p in (tmp_path / "folds").iterdir()) == sorted(
        f"{name}.{ext}" for name in FOLD_NAMES for ext in ("csv", "json")
    )  # every fold's files, each written once, no temporary file left


FAULTY = """
import os, pickle, signal, subprocess, sys
fault, target, attempts, marks, command = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5:]
data = sys.stdin.buffer.read()
fold = pickle.loads(data).fold
tries = len([p for p in os.listdir(marks) if p.startswith(fold + ".")])
open(os.path.join(marks, f"{fold}.{tries}"), "w").close()
if fold in target.split(",") and tries < attempts:
    print(f"test: fold {fold} fails on purpose ({fault})", flush=True)
    if fault == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    sys.exit(2)
sys.exit(subprocess.run(command, input=data).returncode)
"""


def _faulty(monkeypatch, marks, fault: str, folds: list[str], attempts: int):
    """Each of ``folds`` fails its first ``attempts`` starts (SIGKILL, or exit 2): a real worker process, killed or
    failing on purpose; the others run the real fold job. ``marks`` counts every start of each fold."""
    marks.mkdir(exist_ok=True)
    real = parallel.job_command()
    monkeypatch.setattr(parallel, "job_command",
                        lambda: [sys.executable, "-c", FAULTY, fault, ",".join(folds), str(attempts), str(marks), *real])  # fmt: skip


def _starts(marks) -> dict[str, int]:
    found: dict[str, int] = {}
    for path in marks.iterdir():
        fold = path.name.rsplit(".", 1)[0]
        found[fold] = found.get(fold, 0) + 1
    return found


@pytest.mark.slow  # five fold processes: ~30 s
def test_a_killed_worker_is_started_again_and_the_run_completes(cli, tmp_path, sequential, monkeypatch):
    _faulty(monkeypatch, tmp_path / "marks", "kill", [FOLD_NAMES[1]], attempts=1)
    code, out, err = cli("eval", SMALL, *SETS, "--protocol", "loso", "--out", tmp_path / "run", "--workers", "2")
    assert code == 0, err
    assert f"fold {FOLD_NAMES[1]} on worker 2/2 (cpu): killed by SIGKILL; its last line: 'test: fold" in out
    assert "starting it again (retry 1 of 1)" in out
    assert _starts(tmp_path / "marks") == {FOLD_NAMES[0]: 1, FOLD_NAMES[1]: 2, FOLD_NAMES[2]: 1, FOLD_NAMES[3]: 1}
    assert (tmp_path / "run" / "predictions.csv").read_text() == sequential


@pytest.mark.slow  # five fold processes: ~30 s
def test_a_worker_that_keeps_dying_is_named_by_fold_and_a_rerun_completes(cli, tmp_path, sequential, monkeypatch):
    _faulty(monkeypatch, tmp_path / "marks", "kill", [FOLD_NAMES[1]], attempts=2)
    code, out, err = cli("eval", SMALL, *SETS, "--protocol", "loso", "--out", tmp_path / "run", "--workers", "2",
                         "--retries", "1")  # fmt: skip
    assert code == 2
    line = err.strip().splitlines()[-1]
    assert (f"fold {FOLD_NAMES[1]} on worker 2/2 (cpu): killed by SIGKILL; its last line: "
            f"'test: fold {FOLD_NAMES[1]} fails on purpose (kill)'") in line  # fmt: skip
    assert not (tmp_path / "run" / "predictions.csv").exists()
    done = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "run" / "folds").glob("*.csv")}
    assert sorted(done) == sorted(f"{n}.csv" for n in FOLD_NAMES if n != FOLD_NAMES[1])  # the others went on

    code, out, err = cli("eval", SMALL, *SETS, "--protocol", "loso", "--out", tmp_path / "run", "--workers", "2")
    assert code == 0, err
    assert f"worker 1/1 (cpu): fold {FOLD_NAMES[1]}" in out and "worker 2/" not in out  # one fold left: one worker
    assert {p: (tmp_path / "run" / "folds" / p).stat().st_mtime_ns for p in done} == done
    assert (tmp_path / "run" / "predictions.csv").read_text() == sequential


@pytest.mark.slow  # six fold processes: ~40 s
def test_a_worker_that_exits_2_is_not_retried_and_a_rerun_spreads_what_is_left_over_every_worker(
    cli, tmp_path, sequential, monkeypatch
):
    """Exit 2 is the input's fault: retrying gives the same. The folds left are then shared by every worker of the
    rerun (one queue). Folds 2 and 4 are what round-robin shards gave worker 2 of 2, which ran them both."""
    failing = [FOLD_NAMES[1], FOLD_NAMES[3]]
    _faulty(monkeypatch, tmp_path / "marks", "exit2", failing, attempts=1)
    code, out, err = cli("eval", SMALL, *SETS, "--protocol", "loso", "--out", tmp_path / "run", "--workers", "2",
                         "--retries", "3")  # fmt: skip
    assert code == 2 and "starting it again" not in out
    assert all(f"fold {name} on worker" in err and "exit status 2" in err for name in failing)
    assert _starts(tmp_path / "marks") == dict.fromkeys(FOLD_NAMES, 1)  # each tried once: none retried

    code, out, err = cli("eval", SMALL, *SETS, "--protocol", "loso", "--out", tmp_path / "run", "--workers", "2")
    assert code == 0, err
    started = sorted(line.split(";")[0] for line in out.splitlines() if line.startswith("worker "))
    assert [line.split(" (")[0] for line in started] == ["worker 1/2", "worker 2/2"]  # both workers, one fold each
    assert sorted(line.split("fold ")[1] for line in started) == sorted(failing)
    assert (tmp_path / "run" / "predictions.csv").read_text() == sequential


@pytest.fixture(scope="module", autouse=True)
def _fold_names(clips):
    from icezoo.eval.protocols import make_folds

    global FOLD_NAMES
    FOLD_NAMES = [f.name for f in make_folds("loso", clips, icezoo.load_recipe(SMALL).eval)[:FOLDS]]


@pytest.mark.slow
def test_ray_tasks_give_the_sequential_predictions(cli, tmp_path, sequential):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, logging_level="WARNING", log_to_driver=False)
    try:
        code, out, err = cli("eval", SMALL, *SETS, "--protocol", "loso", "--out", tmp_path, "--launcher", "ray")
    finally:
        ray.shutdown()
    assert code == 0, err
    assert "ray: 4 fold task(s) on 2 CPUs" in out
    assert (tmp_path / "predictions.csv").read_text() == sequential


WAIT_AFTER_ONE_FOLD = """
import os, sys, time
from icezoo.eval import job
real = job.run_fold_job
def run_fold_job(*args, **kwargs):
    rows = real(*args, **kwargs)
    open(os.path.join(sys.argv[1], f"waiting.{os.getpid()}"), "w").close()
    while True:  # one fold done: say so, then wait for the test's Ctrl-C
        time.sleep(0.05)
job.run_fold_job = run_fold_job
sys.exit(job.main())
"""

PARENT = """
import sys
from icezoo.cli import main
from icezoo.eval import parallel
parallel.job_command = lambda: [sys.executable, "-c", WAIT_AFTER_ONE_FOLD, sys.argv[1]]
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.slow
def test_ctrl_c_stops_every_worker_and_leaves_whole_fold_files(tmp_path):
    """Each worker finishes one fold and waits; then Ctrl-C: no timing decides what the folder holds.

    The parent gets SIGINT's default action (a test runner started in the background would pass it SIGINT
    ignored), and whatever happens, no process of the test is left behind."""
    import os
    import signal
    import subprocess
    import time

    from .conftest import REPO

    markers = tmp_path / "markers"
    markers.mkdir()
    out = tmp_path / "run"
    script = PARENT.replace("WAIT_AFTER_ONE_FOLD", repr(WAIT_AFTER_ONE_FOLD))
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(markers), "eval", str(SMALL), *SETS[:-1], "--set=eval.max_folds=68",
         "--protocol", "loso", "--out", str(out), "--workers", "2"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 600  # a safety net only: the order below does not depend on it
        while len(list(markers.iterdir())) < 2 and parent.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(list(markers.iterdir())) == 2, "the workers did not both finish a fold"
        parent.send_signal(signal.SIGINT)
        _, err = parent.communicate(timeout=120)
    finally:  # on any failure: the parent's group, then the workers (each in its own session), by their marker
        with contextlib.suppress(ProcessLookupError):
            os.killpg(parent.pid, signal.SIGKILL)
        for proc in Path("/proc").glob("[0-9]*"):
            if str(markers) in _cmdline(proc):
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(proc.name), signal.SIGKILL)
    assert parent.returncode == 130, err
    assert "icezoo: interrupted" in err
    left = [p for p in Path("/proc").glob("[0-9]*") if str(markers) in _cmdline(p)]
    assert not left  # every worker stopped
    everything = list((out / "folds").iterdir())
    assert not [p for p in everything if p.name.startswith(".")]  # no temporary file of an unfinished write
    assert sorted(p.suffix for p in everything) == [".csv", ".csv", ".json", ".json"]  # one whole fold per worker
    for path in everything:
        if path.suffix == ".json":  # the fold's subjects and selection, written beside its predictions
            json.loads(path.read_text())
        else:  # each one whole: the stamp, a header and one row per clip of its subject, every column filled
            stamp, *lines = path.read_text().splitlines()
            assert stamp.startswith("# icezoo run ") and lines[0].startswith("fold,") and len(lines) > 1
            assert all(len(line.split(",")) == len(lines[0].split(",")) for line in lines)
    assert os.path.exists(out / "recipe.yaml") and not (out / "predictions.csv").exists()


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@pytest.mark.slow  # a local Ray: about 40 s
def test_the_ray_launcher_keeps_a_cpu_run_off_the_gpus_of_a_real_cluster(tmp_path):
    """On a Ray with one (logical) GPU, a --device cpu fold task is given no GPU; a --device auto one gets it."""
    ray = pytest.importorskip("ray")
    recipe = icezoo.load_recipe(SMALL, [*TINY, "eval.max_folds=1"])
    ray.init(num_cpus=2, num_gpus=1, logging_level="WARNING", log_to_driver=False)
    try:
        seen = {}
        for device in ("cpu", "auto"):
            out = tmp_path / device
            parallel.evaluate_parallel(recipe, "loso", out, launcher="ray", device=device, log=lambda line: None)
            (info,) = [json.loads(p.read_text()) for p in (out / "folds").glob("*.json")]
            seen[device] = info["ran_on"]["cuda_visible_devices"]
    finally:
        ray.shutdown()
    assert seen == {"cpu": "", "auto": "0"}  # no GPU for the CPU run; the GPU Ray assigned for the other


@pytest.mark.parametrize(("device", "gpu"), [("cpu", False), ("auto", True), ("cuda", True)])
def test_the_ray_launcher_keeps_a_cpu_run_off_the_gpus(tmp_path, monkeypatch, device, gpu):
    """--device cpu (or train.device: cpu) asks Ray for no GPU, whatever the cluster has."""
    from icezoo.eval import ray_launcher

    asked = {}

    def fake(*args, **kwargs):
        asked.update(kwargs)
        raise SystemExit("stop before the folds")

    monkeypatch.setattr(ray_launcher, "run_on_ray", fake)
    recipe = icezoo.load_recipe(SMALL, [*TINY, "eval.max_folds=1"])
    with pytest.raises(SystemExit, match="stop before"):
        parallel.evaluate_parallel(recipe, "loso", tmp_path / "run", launcher="ray", device=device)
    assert asked["gpu"] is gpu


def _busy_fold_tasks() -> int:
    """Ray worker processes executing a fold task (Ray titles them ``ray::run_fold_task`` while they run one)."""
    return sum("ray::run_fold_task" in _cmdline(p) for p in Path("/proc").glob("[0-9]*"))


@pytest.mark.slow  # a three-node Ray cluster on this machine: about 90 s
def test_losing_a_node_mid_fold_costs_time_not_results(cli, tmp_path, clips):
    """Ray's own multi-node test cluster: a head and two worker nodes of one CPU each run the folds; once both
    are inside a fold, one node is removed (its raylet and workers die); Ray runs the lost fold again on the
    other node and predictions.csv is the sequential run's, byte for byte."""
    import threading
    import time

    ray = pytest.importorskip("ray")
    import torch
    from ray.cluster_utils import Cluster

    sets = [f"--set={s}" for s in [*TINY, "eval.max_folds=3", "train.max_steps=40"]]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as a Ray task of one CPU: other thread counts round differently, and Adam shows it
    try:
        code, _, err = cli("eval", SMALL, *sets, "--protocol", "loso", "--out", tmp_path / "seq", "--no-progress")
    finally:
        torch.set_num_threads(threads)
    assert code == 0, err
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})  # the head runs no fold
    nodes = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    removed = []

    def remove_a_busy_node() -> None:
        deadline = time.monotonic() + 300
        while _busy_fold_tasks() < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2)  # inside the fold's training, not its start
        if _busy_fold_tasks() == 2 and not (tmp_path / "ray" / "predictions.csv").exists():
            cluster.remove_node(nodes[0], allow_graceful=False)
            removed.append(nodes[0])

    ray.init(address=cluster.address, logging_level="WARNING", log_to_driver=False)
    remover = threading.Thread(target=remove_a_busy_node)
    remover.start()
    try:
        code, out, err = cli("eval", SMALL, *sets, "--protocol", "loso", "--out", tmp_path / "ray", "--launcher", "ray")
    finally:
        remover.join()
        ray.shutdown()
        cluster.shutdown()
    assert code == 0, err
    assert removed, "no node was removed while two folds ran"
    assert (tmp_path / "ray" / "predictions.csv").read_bytes() == (tmp_path / "seq" / "predictions.csv").read_bytes()
