"""Hostile and broken input: every case is one line on stderr and exit code 2, and leaves nothing half-written.

The table below is the issue's list (recipes, --set, YAML bombs, images, checkpoints, plugins, output paths,
bench sizes); the tests after it check what a line cannot: no code runs from a checkpoint, a failed
checkpoint write keeps the previous one, a kill -9 inside a checkpoint write resumes exactly.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import icezoo
from icezoo.errors import IcezooError
from icezoo.train.checkpoint import load_checkpoint, load_trained_model, save_checkpoint
from icezoo.train.trainer import Trainer

from .conftest import RECIPES
from .test_megc2019 import row, write_frames, write_manifest
from .test_prepare import smic_root  # noqa: F401 (a fixture)

SMALL = RECIPES / "icegan_small.yaml"
TINY = ["train.max_steps=1", "model.image_size=32", "train.sample_every=1000", "train.log_every=1"]
REPO = Path(__file__).resolve().parents[1]


def _sets(*items: str) -> list[str]:
    return [a for item in items for a in ("--set", item)]


def bomb_png(path: Path, side: int = 30000) -> Path:
    """A valid 1x1 PNG whose header declares ``side`` x ``side`` pixels: a decompression bomb."""
    Image.new("L", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = bytes(data[12:16]) + struct.pack(">II", side, side) + bytes(data[24:29])
    data[16:24] = struct.pack(">II", side, side)
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr))
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A one-step 32x32 run's checkpoint."""
    out = tmp_path_factory.mktemp("tiny") / "run"
    Trainer(icezoo.load_recipe(SMALL, TINY), out, progress=False).run()
    return out / "checkpoint.pt"


def _evil(folder: Path) -> tuple[Path, Path]:
    """A plugin file that, imported, creates a marker file; returns (plugin, marker)."""
    marker = folder / "MARKER"
    plugin = folder / "evil.py"
    plugin.write_text(f"from pathlib import Path\nPath({str(marker)!r}).write_text('code ran')\n")
    return plugin, marker


def _variant(checkpoint: Path, folder: Path, edit) -> Path:
    """A copy of ``checkpoint`` (as ``folder/checkpoint.pt``) with ``edit(state)`` applied."""
    state = load_checkpoint(checkpoint)
    edit(state)
    state.pop("format")
    return save_checkpoint(folder / "checkpoint.pt", state)


def _alias_bomb(tmp: Path) -> list[str]:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    (tmp / "bomb.yaml").write_text("\n".join(lines) + "\n")
    return ["build", tmp / "bomb.yaml"]


def _recursive_alias(tmp: Path) -> list[str]:
    (tmp / "loop.yaml").write_text("model: &a [*a]\n")
    return ["build", tmp / "loop.yaml"]


def _deep_mapping(tmp: Path) -> list[str]:
    (tmp / "deep.yaml").write_text("".join(" " * i + "a:\n" for i in range(3000)) + " " * 3000 + "a: 1\n")
    return ["build", tmp / "deep.yaml"]


def _deep_list(tmp: Path) -> list[str]:
    (tmp / "deep.yaml").write_text("model: " + "[" * 20000 + "]" * 20000 + "\n")
    return ["build", tmp / "deep.yaml"]


def _synth_bomb(tmp: Path, checkpoint: Path) -> list[str]:
    return ["synth", checkpoint, "--onset", bomb_png(tmp / "onset.png"), "--out", tmp / "synth"]


def _data_bomb(tmp: Path) -> list[str]:
    write_frames(tmp / "clip", [10, 20], size=32)
    bomb_png(tmp / "clip" / "frame_000010.png")
    manifest = write_manifest(tmp / "manifest.csv", [row("casme2", "sub01", "c1", "positive", 10, 20, "clip")])
    data = f"data={{type: megc2019, manifest: {manifest}, neighbours: 0}}"
    return ["train", SMALL, *_sets(*TINY, data), "--out", tmp / "run", "--no-progress"]


def _int_weights(tmp: Path, checkpoint: Path) -> Path:
    return _variant(checkpoint, tmp, lambda s: s.update(generator={k: 1 for k in s["generator"]}))


def _stored_plugin(tmp: Path, checkpoint: Path) -> Path:
    plugin, _ = _evil(tmp)
    return _variant(checkpoint, tmp / "run", lambda s: s["recipe"].update(plugins=[str(plugin)]))


def _exiting_plugin(tmp: Path) -> list[str]:
    (tmp / "quits.py").write_text("import sys\nsys.exit(7)\n")
    (tmp / "r.yaml").write_text(f"extends: {SMALL}\nplugins: [quits.py]\n")
    return ["build", tmp / "r.yaml"]


def _file(tmp: Path) -> Path:
    (tmp / "afile").write_text("x")
    return tmp / "afile"


def _resume(run: Path) -> list[str]:
    return ["train", SMALL, *_sets(*TINY), "--out", run, "--resume", "--no-progress"]


def _prepare(tmp: Path, root: Path) -> list[str]:
    (tmp / "prep").mkdir()
    (tmp / "prep" / "manifest.csv").write_bytes(b"\x00garbage,\xff\n1,2\n")
    return ["prepare", "--dataset", "smic", "--root", root, "--out", tmp / "prep", "--no-align"]


def _train(*sets: str, out: str = "run"):
    return lambda tmp, ck: ["train", SMALL, *_sets(*TINY, *sets), "--out", tmp / out, "--no-progress"]


def _build(*sets: str):
    return lambda tmp, ck: ["build", SMALL, *_sets(*sets)]


# id: (arguments from (tmp_path, checkpoint), the one line expected on stderr)
CASES = {
    "lr nan": (_build("train.lr=.nan"), r"train\.lr: must be a finite number, got nan"),
    "lr inf": (_build("train.lr=.inf"), r"train\.lr: must be a finite number, got inf"),
    "loss weight nan": (_build("loss.cls_weight=.nan"), r"loss\.cls_weight: must be a finite number"),
    "epochs 1e20": (_build(f"train.epochs={10**20}"), r"train\.epochs: must be at most 1,000,000"),
    "image_size 2^20": (_build("model.image_size=1048576"), r"model: this recipe needs about [\d,]+ GiB to train"),
    "noise_dim 1e12": (_build(f"model.noise_dim={10**12}"), r"model: this recipe needs about [\d,]+ GiB to train"),
    "in_channels 3": (_train("model.in_channels=3"), r"model\.in_channels is 3, the data has 1"),
    "num_classes 5": (_train("model.num_classes=5"), r"model\.num_classes is 5, the data has 3"),
    "bench batch 0": (lambda t, c: ["bench", SMALL, "--batch-sizes", "0"], r"--batch-sizes: must be at least 1, got 0"),
    "bench batch -1": (lambda t, c: ["bench", SMALL, "--batch-sizes", "-1"], r"--batch-sizes: must be at least 1"),
    "bench out folder": (lambda t, c: ["bench", SMALL, "--out", t], r"--out .*: is a folder; name a file"),
    "yaml alias bomb": (lambda t, c: _alias_bomb(t), r"bomb\.yaml: invalid YAML: more than 100000 values"),
    "yaml recursive alias": (
        lambda t, c: _recursive_alias(t),
        r"loop\.yaml: invalid YAML: a value contains itself",
    ),
    "split_seed -1": (_build("eval.split_seed=-1"), r"eval\.split_seed: must be at least 0, got -1"),
    "sde_datasets empty": (_build("eval.sde_datasets=[]"), r"eval\.sde_datasets: must name each database once"),
    "sde_datasets twice": (_build("eval.sde_datasets=[samm, samm]"), r"eval\.sde_datasets: must name each database"),
    "predict device gpu": (
        lambda t, c: ["predict", c, "--image", bomb_png(t / "face.png", 32), "--device", "gpu"],
        r"--device: .*gpu",
    ),
    "workers-per-gpu 0": (
        lambda t, c: ["eval", SMALL, "--workers", "2", "--workers-per-gpu", "0", "--out", t / "run"],
        r"--workers-per-gpu 0: must be at least 1",
    ),
    "yaml deep mapping": (lambda t, c: _deep_mapping(t), r"deep\.yaml: invalid YAML: .*nested deeper than 64"),
    "yaml deep list": (lambda t, c: _deep_list(t), r"deep\.yaml: invalid YAML: .*nested deeper than 64"),
    "set deep list": (_build("model=" + "[" * 20000 + "]" * 20000), r"--set model=.*nested deeper than 64"),
    "png bomb onset": (_synth_bomb, r"--onset: image .*onset\.png is too large to decode"),
    "png bomb frame": (lambda t, c: _data_bomb(t), r"image .*frame_000010\.png is too large to decode"),
    "png bomb predict": (
        lambda t, c: ["predict", c, "--image", bomb_png(t / "face.png")],
        r"--image: image .*face\.png is too large to decode",
    ),
    "int weights synth": (
        lambda t, c: ["synth", _int_weights(t, c), "--onset", bomb_png(t / "o.png", 32), "--out", t / "s"],
        r"checkpoint\.pt: the checkpoint's generator is not a mapping of tensors",
    ),
    "int weights resume": (
        lambda t, c: _resume(_int_weights(t / "run", c).parent),
        r"checkpoint\.pt: the checkpoint's generator is not a mapping of tensors",
    ),
    "stored plugin synth": (
        lambda t, c: ["synth", _stored_plugin(t, c), "--onset", bomb_png(t / "o.png", 32), "--out", t / "s"],
        r"checkpoint\.pt: the stored recipe needs plugin '.*evil\.py', which is not loaded; .*--plugins",
    ),
    "plugin sys.exit(7)": (lambda t, c: _exiting_plugin(t), r"plugin file 'quits\.py' failed to import: SystemExit: 7"),
    "train out is a file": (
        lambda t, c: ["train", SMALL, "--out", _file(t)],
        r"--out .*afile: is a file, not a folder",
    ),
    "train out below a file": (
        lambda t, c: ["train", SMALL, "--out", _file(t) / "run"],
        r"--out .*afile/run: .*afile is a file, not a folder",
    ),
    "eval out is a file": (lambda t, c: ["eval", SMALL, "--out", _file(t)], r"--out .*afile: is a file, not a folder"),
    "bench precision fp16": (
        lambda t, c: ["bench", SMALL, "--precision", "fp16"],
        r"bench: argument --precision: expected a comma-separated list of fp32, bf16, got 'fp16' \(see icezoo bench",
    ),
    "eval workers x": (lambda t, c: ["eval", SMALL, "--workers", "x"], r"eval: argument --workers: invalid int value"),
    "unknown command": (lambda t, c: ["nosuch"], r"argument COMMAND: invalid choice: 'nosuch'"),
    "synth n 100000000": (
        lambda t, c: ["synth", c, "--onset", bomb_png(t / "o.png", 32), "--n", "100000000", "--out", t / "s"],
        r"--n 100000000: 3 x 100000000 faces of 32x32 need about [\d,.]+ GiB in memory .*ask for fewer",
    ),
    "synth out is a file": (
        lambda t, c: ["synth", c, "--onset", bomb_png(t / "o.png", 32), "--out", _file(t)],
        r"--out .*afile: is a file, not a folder",
    ),
    "prepare out is a file": (
        lambda t, c: ["prepare", "--dataset", "smic", "--root", t, "--out", _file(t)],
        r"--out .*afile: is a file, not a folder",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_exit_2(case, tmp_path, checkpoint, cli):
    make_args, expected = CASES[case]
    code, _, err = cli(*make_args(tmp_path, checkpoint))
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("icezoo: error: ") and len(lines[0]) < 600, err
    assert re.search(expected, lines[0]), lines[0]
    assert not (tmp_path / "MARKER").exists()
    assert not (tmp_path / "run").exists() or case.startswith(("int weights", "stored plugin"))


def test_prepare_with_a_corrupt_manifest_writes_no_crops(tmp_path, smic_root, cli):  # noqa: F811
    code, _, err = cli(*_prepare(tmp_path, smic_root))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "manifest.csv" in err
    assert [p.name for p in (tmp_path / "prep").iterdir()] == ["manifest.csv"]


def test_no_code_runs_from_a_checkpoint_unless_allowed(tmp_path, checkpoint, cli):
    ckpt = _stored_plugin(tmp_path, checkpoint)
    plugin, marker = tmp_path / "evil.py", tmp_path / "MARKER"
    for loader in (load_trained_model, icezoo.load_checkpoint):  # the one loader, and the public API on it
        with pytest.raises(IcezooError, match=r"needs plugin .*allow_plugins=\["):
            loader(ckpt)
    code, _, err = cli(*_resume(ckpt.parent))  # --resume: the user's recipe is built, the stored one is data
    assert code == 0, err
    code, _, err = cli("synth", ckpt, "--onset", bomb_png(tmp_path / "o.png", 32), "--out", tmp_path / "s")
    assert code == 2 and "--plugins" in err
    assert not marker.exists()
    model, recipe = load_trained_model(ckpt, allow_plugins=[str(plugin)])  # the user trusts it: now it runs
    assert marker.exists() and model.generator is not None and recipe.plugins == [str(plugin)]


def test_a_failed_checkpoint_write_keeps_the_previous_one(tmp_path, checkpoint):
    target = tmp_path / "checkpoint.pt"
    target.write_bytes(checkpoint.read_bytes())
    script = textwrap.dedent(f"""
        import resource, signal, sys
        from icezoo.errors import IcezooError
        from icezoo.train.checkpoint import load_checkpoint, save_checkpoint
        state = load_checkpoint({str(target)!r})
        state["step"] += 1
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # the disk is full
        try:
            save_checkpoint({str(target)!r}, state)
        except IcezooError as err:
            sys.exit(str(err))
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "cannot write the checkpoint" in proc.stderr and "the previous one is kept" in proc.stderr
    assert target.read_bytes() == checkpoint.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temporary file left


def test_a_failed_run_is_marked_incomplete_until_it_completes(tmp_path, checkpoint, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(checkpoint.read_bytes())
    recipe = icezoo.load_recipe(SMALL, [*TINY, "train.max_steps=2"])

    def disk_full(path, state):
        raise IcezooError(f"{path}: cannot write the checkpoint (disk full); the previous one is kept")

    monkeypatch.setattr("icezoo.train.trainer.save_checkpoint", disk_full)
    with pytest.raises(IcezooError, match="disk full"):
        Trainer(recipe, run, resume=True, progress=False).run()
    assert (run / "INCOMPLETE").read_text().startswith("IcezooError at step 2: ")
    assert "disk full" in (run / "INCOMPLETE").read_text()
    monkeypatch.undo()
    Trainer(recipe, run, resume=True, progress=False).run()
    assert not (run / "INCOMPLETE").exists() and load_checkpoint(run / "checkpoint.pt")["step"] == 2


KILL_SCRIPT = """
import io, os, signal, sys, torch
torch.set_num_threads(int(sys.argv[2]))
import icezoo.train.checkpoint as ck
real, count = ck.atomic_write, [0]
def dying(path, write, **kw):  # the third checkpoint write dies half-way: kill -9 from inside it
    count[0] += 1
    if count[0] < 3:
        return real(path, write, **kw)
    def half(handle):
        buffer = io.BytesIO(); write(buffer); handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        handle.flush(); os.kill(os.getpid(), signal.SIGKILL)
    return real(path, half, **kw)
ck.atomic_write = dying
from icezoo.cli import main
main(["train", sys.argv[3], *sum((["--set", s] for s in sys.argv[4:]), []), "--out", sys.argv[1], "--no-progress"])
"""


@pytest.mark.slow  # a child process trains 3 steps, then a resumed and an unbroken run: about 100 s on 2 busy cores
def test_kill_9_inside_a_checkpoint_write_resumes_exactly(tmp_path):
    sets = [*TINY[1:], "train.max_steps=4", "train.checkpoint_every=1", "train.schedule=cosine", "train.log_every=3"]
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [sys.executable, "-c", KILL_SCRIPT, str(run), str(torch.get_num_threads()), str(SMALL), *sets]
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == -9, proc.stderr
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 2  # the last whole checkpoint
    assert list(run.glob(".checkpoint.pt.*.tmp"))  # the half-written one, left by the kill
    resumed = Trainer(icezoo.load_recipe(SMALL, sets), run, resume=True, progress=False)
    assert resumed.step == 2 and not list(run.glob(".checkpoint.pt.*.tmp"))  # resume clears it
    resumed.run()
    unbroken = Trainer(icezoo.load_recipe(SMALL, sets), tmp_path / "unbroken", progress=False)
    unbroken.run()
    for name in ("generator", "discriminator"):
        a, b = getattr(unbroken.model, name).state_dict(), getattr(resumed.model, name).state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    assert np.isclose(resumed.history[-1]["d_total"], unbroken.history[-1]["d_total"], rtol=0, atol=0)
    from .test_train import logged_rows

    assert logged_rows(run) == logged_rows(tmp_path / "unbroken")  # the window open at the kill went on


@pytest.mark.parametrize("command", ["test", "synth-metrics"])
def test_no_code_runs_from_a_run_folder_unless_allowed(tmp_path, cli, command):
    from icezoo.config.loader import recipe_to_yaml

    plugin, marker = _evil(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    text = recipe_to_yaml(icezoo.load_recipe(RECIPES / "icegan_small.yaml")).replace(
        "plugins: []", f"plugins: [{plugin}]"
    )
    (run / "recipe.yaml").write_text(text)
    (run / "protocol.txt").write_text("split\n")
    code, _, err = cli(command, run)
    assert code == 2 and "needs plugin" in err and "--plugins" in err and len(err.strip().splitlines()) == 1, err
    assert not marker.exists()
