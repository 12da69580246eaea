"""Data-parallel training under torchrun (gloo on the CPU): N processes compute what one computes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

import pytest
import torch

import icezoo
from icezoo.errors import IcezooError
from icezoo.train.checkpoint import load_checkpoint
from icezoo.train.distributed import Distributed
from icezoo.train.loggers import tensorboard_available
from icezoo.train.trainer import Trainer

from .conftest import RECIPES

# batch-mean losses, equal shares and no batch norm: two processes of 4 must equal one of 8
SETTINGS = ["model.discriminator.trunk.norm=none", "loss.fake_labels=clip", "train.batch_size=8", "train.max_steps=3",
            "train.log_every=1", "model.image_size=32"]  # fmt: skip


def _torchrun(out, *settings: str, processes: int = 2) -> subprocess.CompletedProcess:
    args = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        str(processes),
        "-m",
        "icezoo",
        "train",
        str(RECIPES / "icegan_small.yaml"),
        "--out",
        str(out),
        "--no-progress",
    ]
    for item in settings:
        args += ["--set", item]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)


def test_two_processes_train_the_same_weights_as_one(tmp_path):
    run = _torchrun(tmp_path / "ddp", *SETTINGS)
    assert run.returncode == 0, run.stderr[-2000:]
    tensorboard = ["tensorboard"] if tensorboard_available() else []  # a default logger where installed
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == [
        "checkpoint.pt",
        "curves.png",
        "metrics.csv",
        "recipe.yaml",
        "samples",
        *tensorboard,
    ]
    assert run.stdout.count("trained 3 steps") == 1  # process 0 reports

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the two processes: another thread count changes the rounding, which Adam magnifies
    try:
        single = Trainer(icezoo.load_recipe(RECIPES / "icegan_small.yaml", SETTINGS), None, progress=False).run().model
    finally:
        torch.set_num_threads(threads)
    state = load_checkpoint(tmp_path / "ddp" / "checkpoint.pt")
    # Adam turns the rounding differences of a different summation order into visible steps
    # where a gradient is near zero (a bias ahead of an instance norm has nothing else), so
    # count the weights that differ: 0.05% do here; 87% when the gradients are not averaged
    differing = total = 0
    for part in ("generator", "discriminator"):
        expected = getattr(single, part).state_dict()
        for name, value in state[part].items():
            if value.is_floating_point():
                differing += int(((value - expected[name]).abs() > 1e-5).sum())
                total += value.numel()
    assert differing < 0.01 * total, f"{differing} of {total} weights differ"


def test_a_batch_that_does_not_split_evenly_is_refused():
    recipe = icezoo.load_recipe(RECIPES / "icegan_small.yaml", ["train.batch_size=9", "train.max_steps=1"])
    with pytest.raises(IcezooError, match=r"batch_size \(9\) must be a multiple of the 2 processes"):
        Trainer(recipe, None, progress=False, distributed=Distributed(rank=0, world=2))


def test_each_process_trains_on_its_share_of_the_same_global_batch():
    recipe = icezoo.load_recipe(RECIPES / "icegan_small.yaml", ["train.batch_size=8", "train.max_steps=1"])
    whole = Trainer(recipe, None, progress=False).batch(5)
    # the process group is only needed for communication, not to draw a batch
    shares = [Trainer.batch(_with_rank(recipe, rank), 5) for rank in range(2)]
    for i, tensor in enumerate(whole):
        torch.testing.assert_close(torch.cat([share[i] for share in shares]), tensor)


def _with_rank(recipe, rank):
    trainer = Trainer(recipe, None, progress=False)
    trainer.dist = Distributed(rank=rank, world=2)
    return trainer


def _average_in_group(rank: int, world: int, init_file: str, results) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        d = Distributed(rank=rank, world=world)
        net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3))
        for p in net.parameters():
            p.grad = torch.full_like(p, float(rank + 1))  # 1 in process 0, 2 in process 1
        net[1].running_mean.fill_(10.0 * rank)
        net[1].num_batches_tracked.fill_(7 + rank)  # an integer buffer: left alone
        d.average_gradients(net)
        d.average_statistics(list(net.buffers()))
        results[rank] = (
            [p.grad.clone() for p in net.parameters()],
            net[1].running_mean.clone(),
            int(net[1].num_batches_tracked),
        )
    finally:
        dist.destroy_process_group()


def test_gradients_and_statistics_are_averaged_over_the_processes(tmp_path):
    import torch.multiprocessing as mp

    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_average_in_group, args=(2, str(tmp_path / "rendezvous"), results), nprocs=2)
        results = dict(results)
    for rank, (grads, running_mean, batches) in results.items():
        assert all(torch.equal(g, torch.full_like(g, 1.5)) for g in grads)
        assert torch.equal(running_mean, torch.full((3,), 5.0))
        assert batches == 7 + rank


def _as_torchrun_worker(monkeypatch, port: int, *, nodes: int, attempt: int, restarts: int = 3) -> None:
    for key, value in dict(TORCHELASTIC_USE_AGENT_STORE="True", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                           GROUP_WORLD_SIZE=str(nodes), TORCHELASTIC_RESTART_COUNT=str(attempt),
                           TORCHELASTIC_MAX_RESTARTS=str(restarts), RANK="0").items():  # fmt: skip
        monkeypatch.setenv(key, value)


def test_each_torchrun_attempt_meets_in_its_own_part_of_the_agents_store(monkeypatch):
    """A restarted group must not read the dead group's addresses from the store torchrun's agent keeps."""
    import torch.distributed as dist

    from icezoo.train.distributed import restart_store

    assert restart_store(2) is None  # not under torchrun: env:// as usual
    agent = dist.TCPStore("127.0.0.1", 0, 1, is_master=True)  # what the agent serves to all its attempts
    _as_torchrun_worker(monkeypatch, agent.port, nodes=1, attempt=0)
    restart_store(1).set("rank_0", "address of the dead group")
    _as_torchrun_worker(monkeypatch, agent.port, nodes=1, attempt=1)
    restarted = restart_store(1)
    assert not restarted.check(["rank_0"])  # the restarted group waits for its own peer's address
    restarted.set("rank_0", "new address")
    assert restart_store(1).get("rank_0") == b"new address"


@pytest.mark.parametrize("variable", [None, "1"])  # None: c10d's shared store; "1" with one all the same: static
def test_restarts_across_nodes_sharing_the_agents_store_are_warned_about(monkeypatch, caplog, variable):
    from icezoo import errors
    from icezoo.train.distributed import FRESH_STORES, SHARED_STORE_RESTARTS, STATIC_SHARES, restart_store

    monkeypatch.setattr(errors, "_warned", set())
    _as_torchrun_worker(monkeypatch, 1, nodes=2, attempt=0)
    if variable:
        monkeypatch.setenv("TORCH_DISABLE_SHARE_RDZV_TCP_STORE", variable)
    with caplog.at_level("WARNING", logger="icezoo"):
        assert restart_store(2) is None  # the nodes' restart counts may differ: env://, and the remedy said
    assert caplog.messages == [SHARED_STORE_RESTARTS % ("2", STATIC_SHARES if variable else FRESH_STORES)]
    assert ("--rdzv-backend c10d" in caplog.text) == bool(variable)


def test_a_scoped_store_waits_as_long_as_the_backends_own_default(monkeypatch):
    """As init_process_group's env:// store would: NCCL's 10 minutes, gloo's 30 (a missing peer fails then)."""
    import torch.distributed as dist
    from torch.distributed.distributed_c10d import _get_default_timeout  # init_process_group's own rule

    from icezoo.train.distributed import restart_store

    agent = dist.TCPStore("127.0.0.1", 0, 1, is_master=True)
    _as_torchrun_worker(monkeypatch, agent.port, nodes=1, attempt=0)
    for backend in ("nccl", "gloo"):
        assert restart_store(2, backend).timeout == _get_default_timeout(backend), backend


# -- surviving a lost worker: torchrun restarts the group, --resume auto continues it ------------------------------
LONG = [*SETTINGS, "train.max_steps=120", "train.checkpoint_every=3", "train.log_every=5"]  # checkpoints mid-window


def _local_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _two_nodes(port: int) -> list[str]:
    """torchrun's options for one of two "nodes" of one process each, meeting at a c10d rendezvous on localhost."""
    return ["--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}",
            "--rdzv-id", "icezoo-test"]  # fmt: skip


ONE_NODE = ["--standalone", "--nproc-per-node", "2"]
RESTARTS = ["--max-restarts", "3", "--monitor-interval", "0.5"]


def _torchrun_command(out, *settings: str, launcher: list[str]) -> list[str]:
    args = [sys.executable, "-m", "torch.distributed.run", *launcher, "-m", "icezoo", "train",
            str(RECIPES / "icegan_small.yaml"), "--out", str(out), "--no-progress", "--resume", "auto"]  # fmt: skip
    return args + [a for item in settings for a in ("--set", item)]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def _weights(run) -> dict[str, torch.Tensor]:
    state = load_checkpoint(run / "checkpoint.pt")
    return {f"{part}.{k}": v for part in ("generator", "discriminator") for k, v in state[part].items()}


def _children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (Linux /proc)."""
    from pathlib import Path

    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The 2-process run nobody killed."""
    out = tmp_path_factory.mktemp("whole") / "run"
    command = _torchrun_command(out, *LONG, launcher=ONE_NODE)
    run = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    return out


@pytest.mark.slow  # two 2-process trainings of 120 steps, one of them restarted: about 50 s each
@pytest.mark.parametrize("nodes", [1, 2])
def test_torchrun_restarts_a_killed_worker_and_the_run_ends_as_if_uninterrupted(tmp_path, uninterrupted, nodes):
    """On two nodes as docs/failures.md says to start them: each attempt with a store of its own."""
    import signal
    import time

    out = tmp_path / "elastic"
    if nodes == 1:
        launchers, env = [ONE_NODE + RESTARTS], _env()
    else:
        port = _local_port()
        launchers, env = [_two_nodes(port) + RESTARTS] * 2, {**_env(), "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1"}
    agents = [subprocess.Popen(_torchrun_command(out, *LONG, launcher=launcher), env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
              for launcher in launchers]  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not (out / "checkpoint.pt").exists() and all(a.poll() is None for a in agents):
            assert time.monotonic() < deadline, "no checkpoint in 300 s"
            time.sleep(0.05)
        workers = [pid for agent in agents for pid in _children(agent.pid)]
        assert len(workers) == 2, workers
        os.kill(workers[1], signal.SIGKILL)  # mid-run: one worker of the two is lost
        errors = [agent.communicate(timeout=300)[1] for agent in agents]
    finally:  # each agent's whole group, its workers too: no process of the test is left behind
        for agent in agents:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(agent.pid, signal.SIGKILL)
            agent.wait()
    assert [a.returncode for a in agents] == [0] * nodes, "\n".join(e[-1500:] for e in errors)  # no restart: failed
    assert "exitcode: -9" in "".join(errors)  # torchrun saw the kill (and, exiting 0, restarted the group)
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 120
    expected = _weights(uninterrupted)
    got = _weights(out)
    assert all(torch.equal(got[k], expected[k]) for k in expected)
    from .test_train import logged_rows

    assert logged_rows(out) == logged_rows(uninterrupted)  # the log continued too, row for row


@pytest.mark.slow
def test_two_torchrun_nodes_train_what_one_node_of_two_processes_trains(tmp_path, uninterrupted):
    launcher = _two_nodes(_local_port())
    nodes = [subprocess.Popen(_torchrun_command(tmp_path / "run", *LONG, launcher=launcher), env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
             for _ in range(2)]  # fmt: skip
    try:
        errors = [node.communicate(timeout=600)[1] for node in nodes]
    finally:  # on a timeout too, no process of the test is left behind
        for node in nodes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.pid, signal.SIGKILL)
    assert [node.returncode for node in nodes] == [0, 0], errors[0][-1500:] + errors[1][-1500:]
    expected, got = _weights(uninterrupted), _weights(tmp_path / "run")
    assert all(torch.equal(got[k], expected[k]) for k in expected)
