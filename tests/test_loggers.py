"""Run loggers: TensorBoard event files, plain lines into a log file, the default set."""

from __future__ import annotations

import re

import pytest

import icezoo
from icezoo.errors import IcezooError
from icezoo.train import loggers
from icezoo.train.trainer import Trainer

from .conftest import RECIPES

TINY = ["model.image_size=32", "train.batch_size=4", "train.log_every=1", "train.max_steps=2"]


def test_tensorboard_events_and_plain_lines_when_output_is_not_a_terminal(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    recipe = icezoo.load_recipe(RECIPES / "icegan_small.yaml", [*TINY, "train.loggers=[csv, tensorboard]"])
    Trainer(recipe, tmp_path / "run", progress=True).run()  # pytest's captured stdout is not a terminal

    out, err = capsys.readouterr()
    lines = [line for line in out.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"], out
    assert all(re.search(r"d_total \S+ .*g_total \S+ .* img/s  ETA \d+:\d\d:\d\d$", line) for line in lines), lines
    assert "\r" not in out + err and "it/s" not in err and "step/s" not in err  # no tqdm bar

    events = EventAccumulator(str(tmp_path / "run" / "tensorboard")).Reload()
    tags = set(events.Tags()["scalars"])
    assert {"loss/d_total", "loss/g_total", "loss/g_pixel", "speed/img_per_s", "lr/lr", "lr/lr_g"} <= tags
    assert [e.step for e in events.Scalars("loss/d_total")] == [1, 2]
    assert events.Tags()["images"] == ["samples"]  # the sample grid of the last step
    assert (tmp_path / "run" / "metrics.csv").is_file()


def test_only_the_chosen_loggers_write(tmp_path):
    from icezoo.train.trainer import Trainer

    for chosen, files in (([], set()), (["csv"], {"metrics.csv"})):
        recipe = icezoo.load_recipe(
            RECIPES / "icegan_small.yaml", [*TINY, "train.max_steps=1", f"train.loggers={chosen}"]
        )
        run = tmp_path / f"run{len(chosen)}"
        result = Trainer(recipe, run, progress=False).run()
        assert len(result.history) == 1  # the row is still kept (checkpoint, curves)
        written = {p.name for p in run.iterdir()} & {"metrics.csv", "tensorboard"}
        assert written == files, chosen


def test_default_loggers_follow_what_is_installed(monkeypatch):
    monkeypatch.setattr(loggers, "tensorboard_available", lambda: False)
    assert loggers.chosen_loggers(None) == ["csv"]
    monkeypatch.setattr(loggers, "tensorboard_available", lambda: True)
    assert loggers.chosen_loggers(None) == ["csv", "tensorboard"]
    assert loggers.chosen_loggers(["tensorboard"]) == ["tensorboard"]


def test_unknown_logger_is_a_recipe_error():
    with pytest.raises(IcezooError, match=r"train\.loggers"):
        icezoo.load_recipe(RECIPES / "icegan_small.yaml", ["train.loggers=[wandb]"])


def test_progress_line_gives_step_losses_speed_and_time_left():
    row = {"step": 10, "epoch": 0.5, "lr": 1e-3, "d_total": 1.5, "g_total": 0.25, "img_per_s": 8.0}
    line = loggers.progress_line(row, total=100, batch_size=4)
    assert line == "step 10/100 (10%)  d_total 1.5  g_total 0.25  8.0 img/s  ETA 0:00:45"


def test_the_tensorboard_writer_opens_at_the_first_row_and_closes_whole(tmp_path):
    """A run refused before its first step (an existing run without --resume) must leave no event file behind."""
    pytest.importorskip("tensorboard")
    log = loggers.TensorBoardLog(tmp_path / "tb")
    assert not (tmp_path / "tb").exists()
    log.row({"step": 1, "d_total": 0.5})
    log.close()
    assert len(list((tmp_path / "tb").glob("events.out.tfevents.*"))) == 1
    log.close()  # twice is harmless
