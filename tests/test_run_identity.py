"""One run identity and one fold runner: no two experiments pooled into one table, every backend the same fold."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import icezoo
from icezoo.data import ClipSet, load_clips
from icezoo.errors import IcezooError
from icezoo.eval import runner
from icezoo.eval.protocols import make_folds
from icezoo.eval.runner import evaluate

from .test_eval import SMALL, TINY

TWO = [*TINY, "eval.max_folds=2", "eval.bootstrap=50"]


def _sets(overrides):
    return [a for o in overrides for a in ("--set", o)]


@pytest.fixture(scope="module")
def clips():
    return load_clips(icezoo.load_recipe(SMALL, TINY))


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize(("override", "key", "then", "now"), [
    ("train.seed=1", "recipe.train.seed", 1, 0),
    ("data={type: synthetic, seed: 1}", "data.seed", 1, 0),
])  # fmt: skip
def test_a_merge_of_shards_of_another_run_is_refused_naming_the_key(tmp_path, cli, override, key, then, now):
    """Shard 2 made with another seed (or other data) and copied beside shard 1: one line, nothing written."""
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    code, _, err = cli("eval", SMALL, *_sets(TWO), "--protocol", "loso", "--shard", "1/2", "--out", mine,
                       "--no-progress")  # fmt: skip
    assert code == 0, err
    code, _, err = cli("eval", SMALL, *_sets([*TWO, override]), "--protocol", "loso", "--shard", "2/2", "--out",
                       theirs, "--no-progress")  # fmt: skip
    assert code == 0, err
    for path in (theirs / "folds").iterdir():  # copying shard folders together, as users do
        shutil.copy(path, mine / "folds" / path.name)
    before = _files(mine)
    code, _, err = cli("eval", SMALL, *_sets(TWO), "--protocol", "loso", "--merge", "--out", mine)
    assert code == 2 and err.count("\n") == 1, err
    assert f"fold results of another run ({key} = {then} there, {now} in this run)" in err
    assert _files(mine) == before and not (mine / "predictions.csv").exists()


def test_an_unknown_class_in_a_fold_file_is_one_line_naming_file_row_and_value(tmp_path, cli, clips):
    recipe = icezoo.load_recipe(SMALL, TWO)
    evaluate(recipe, "loso", tmp_path, progress=False, clips=clips)
    fold = make_folds("loso", clips, recipe.eval)[1]
    path = tmp_path / "folds" / f"{fold.name}.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace(",negative,", ",happy,", 1).replace(",positive,", ",happy,", 1)
    lines[2] = lines[2].replace(",surprise,", ",happy,", 1)
    path.write_text("".join(lines))
    code, _, err = cli("eval", SMALL, *_sets(TWO), "--protocol", "loso", "--merge", "--out", tmp_path)
    assert code == 2 and err.count("\n") == 1 and f"{path}:3: label: unknown class 'happy'" in err


def test_a_fold_counts_as_done_only_with_every_output_asked_for(tmp_path, clips):
    """A rerun with --keep-models after a run without them trains the models (icezoo test tells users to do it)."""
    recipe = icezoo.load_recipe(SMALL, TWO)
    first = evaluate(recipe, "loso", tmp_path, progress=False, clips=clips)
    folds = make_folds("loso", clips, recipe.eval)[:2]
    assert not list((tmp_path / "folds").glob("*.pt"))
    predictions = (tmp_path / "predictions.csv").read_bytes()
    again = evaluate(recipe, "loso", tmp_path, progress=False, clips=clips, keep_models=True)
    assert sorted(p.name for p in (tmp_path / "folds").glob("*.pt")) == sorted(f"{f.name}.pt" for f in folds)
    assert again == first and (tmp_path / "predictions.csv").read_bytes() == predictions
    stamp = (tmp_path / "folds" / f"{folds[0].name}.csv").read_text().splitlines()[0]
    assert stamp == f"# icezoo run {json.loads((tmp_path / 'run.json').read_text())['fingerprint']}"


def test_fold_files_without_a_run_identity_are_refused_not_pooled(tmp_path, clips):
    recipe = icezoo.load_recipe(SMALL, TWO)
    evaluate(recipe, "loso", tmp_path, progress=False, clips=clips)
    path = next((tmp_path / "folds").glob("*.csv"))
    path.write_text("".join(path.read_text().splitlines(keepends=True)[1:]))  # as an older icezoo wrote it
    with pytest.raises(IcezooError, match="fold results without a run identity"):
        evaluate(recipe, "loso", tmp_path, progress=False, clips=clips)


def test_subjects_whose_fold_names_collide_are_refused():
    n = 4
    clips = ClipSet(np.zeros((n, 8, 8), np.uint8), np.zeros((n, 1, 8, 8), np.uint8), np.arange(n) % 3,
                    ["samm/a b", "samm/a_b", "samm/c", "samm/d"], ["samm"] * n, [f"c{i}" for i in range(n)])  # fmt: skip
    with pytest.raises(IcezooError, match="subjects 'samm/a b' and 'samm/a_b' both give the fold name 'samm_a_b'"):
        make_folds("loso", clips, icezoo.load_recipe(SMALL).eval)


def test_a_class_absent_from_training_weighs_zero(clips):
    from icezoo.train.objective import class_weights
    from icezoo.train.trainer import Trainer

    assert class_weights(torch.tensor([0, 0, 1, 0]), 3).tolist() == pytest.approx([4 / 9, 4 / 3, 0.0])
    recipe = icezoo.load_recipe(SMALL, [*TINY, "loss.class_balance=true"])
    no_surprise = clips.subset(np.flatnonzero(clips.label != 2))
    trainer = Trainer(recipe, None, clips=no_surprise, progress=False)
    weights = trainer.objective.class_weights
    assert weights[2] == 0 and weights[0] > 0 and weights[1] > 0  # it was about N/3 before: the largest of all
    # the effect: a batch of only the absent class adds nothing to the recognition loss
    scores = torch.rand(4, 3)
    assert trainer.objective.classification(scores, torch.full((4,), 2), weight=weights[torch.full((4,), 2)]) == 0


def test_eval_keeps_and_measures_the_averaged_generator(tmp_path, clips, monkeypatch):
    """train.ema_decay: the fold model holds the average, and the synthesis metrics read faces from it."""
    from icezoo.eval.synthesis import run as synth_run
    from icezoo.train.checkpoint import load_checkpoint, load_trained_model
    from icezoo.train.trainer import Trainer

    recipe = icezoo.load_recipe(SMALL, [*TINY, "train.max_steps=3", "train.ema_decay=0.5", "eval.max_folds=1"])
    measured = {}
    from icezoo.eval import job as fold_job

    monkeypatch.setattr(fold_job, "synthesis_setup", lambda recipe: torch.nn.Identity())
    monkeypatch.setattr(synth_run, "measure",
                        lambda model, *a: measured.update({k: v.clone() for k, v in model.generator.state_dict().items()}))  # fmt: skip
    recipe.eval.synthesis_metrics = True
    fold = make_folds("loso", clips, recipe.eval)[0]
    fold_job.run_fold_job(fold_job.FoldJob(recipe, "loso", str(tmp_path), fold.name, keep_model=True),
                          fold_job.Context(clips=clips))  # fmt: skip
    twin = Trainer(recipe, None, clips=clips.subset(clips.indices_of(fold.train)), progress=False)
    twin.run()  # the same fold trained again: its average is the one eval must keep
    average, raw = twin.ema.state_dict(), twin.model.generator.state_dict()
    state = load_checkpoint(tmp_path / "folds" / f"{fold.name}.pt")
    model, _ = load_trained_model(tmp_path / "folds" / f"{fold.name}.pt")
    some = next(k for k in average if not torch.equal(average[k], raw[k]))  # the average is not the raw weights
    for weights in (state["generator_ema"], model.generator.state_dict(), measured):
        assert torch.equal(weights[some], average[some])


def test_workers_beyond_the_folds_left_are_not_started(tmp_path, monkeypatch):
    from icezoo.eval import parallel

    planned = []
    monkeypatch.setattr(parallel, "run_workers", lambda jobs, plan, *a, **k: planned.append(plan))
    monkeypatch.setattr(runner, "evaluate", lambda *a, **k: None)
    recipe = icezoo.load_recipe(SMALL, TWO)
    parallel.evaluate_parallel(recipe, "loso", tmp_path, workers=8)
    assert [len(p) for p in planned] == [2]


def test_sde_reports_its_figure_and_interval_per_database():
    from icezoo.cli.eval import headline
    from icezoo.eval.tables import table_ii

    metrics = {
        "protocol": "sde", "overall": {"uf1": 0.5, "uar": 0.5, "n": 9},
        "per_dataset": {"casme2": {"f1": 0.6, "uf1": 0.6, "n": 5}, "samm": {"f1": 0.4, "uf1": 0.4, "n": 4}},
        "interval_95": {"uf1": [0.1, 0.9], "uar": [0.1, 0.9],
                        "per_dataset": {"casme2": {"uf1": [0.3, 0.8]}, "samm": {"uf1": [0.2, 0.7]}}},
    }  # fmt: skip
    assert headline(metrics) == "casme2 F1 0.600 [0.300, 0.800] on 5 clips; samm F1 0.400 [0.200, 0.700] on 4 clips"
    assert "| **ours: x** | 0.600 [0.30, 0.80] | 0.400 [0.20, 0.70] |" in table_ii(metrics, "x", published=False)


@pytest.mark.slow  # Ray starts workers: ~40 s
def test_a_recipe_with_a_local_plugin_runs_on_ray(tmp_path, cli):
    """A Ray task gets the recipe as data: it must import the recipe's plugins: as the driver did."""
    ray = pytest.importorskip("ray")
    (tmp_path / "my_block.py").write_text(
        "import icezoo\nfrom torch import nn\n\n\n"
        '@icezoo.register("reasoning", "ray_test_identity")\n'
        "class RayTestIdentity(nn.Identity):\n"
        '    """A block that exists only in this file."""\n\n'
        "    def __init__(self, channels):\n        super().__init__()\n"
    )
    (tmp_path / "recipe.yaml").write_text(
        f"extends: {SMALL}\nplugins: [my_block.py]\nmodel: {{generator: {{reasoning: {{type: ray_test_identity}}}}}}\n"
    )
    sets = _sets([*TINY, "eval.max_folds=2"])
    code, _, err = cli("eval", tmp_path / "recipe.yaml", *sets, "--protocol", "loso", "--out", tmp_path / "seq",
                       "--no-progress")  # fmt: skip
    assert code == 0, err
    ray.init(num_cpus=2, logging_level="WARNING", log_to_driver=False)
    try:
        code, out, err = cli("eval", tmp_path / "recipe.yaml", *sets, "--protocol", "loso", "--out",
                             tmp_path / "ray", "--launcher", "ray", "--workers", "1")  # fmt: skip
    finally:
        ray.shutdown()
    assert code == 0, err
    assert "at most 1 at once" in out
    assert (tmp_path / "ray" / "predictions.csv").read_bytes() == (tmp_path / "seq" / "predictions.csv").read_bytes()


def test_weights_files_count_by_content_not_path(tmp_path, clips):
    """Shards on two machines keep the perceptual network's weights at different paths: one run; other weights
    at the same path: another run."""
    from icezoo.eval.identity import RunIdentity

    recipe = icezoo.load_recipe(SMALL, TINY)
    a, b = tmp_path / "a" / "w.pth", tmp_path / "b" / "w.pth"
    for path in (a, b):
        path.parent.mkdir()
        path.write_bytes(b"the same weights")
    ids = []
    for path in (a, b):
        recipe.loss.perceptual = {"type": "timm", "model": "resnet18", "weights": str(path)}
        ids.append(RunIdentity.of(recipe, "split", clips).fingerprint)
    b.write_bytes(b"other weights")
    ids.append(RunIdentity.of(recipe, "split", clips).fingerprint)
    assert ids[0] == ids[1] != ids[2]


def test_a_folder_of_an_older_icezoo_is_refused_before_anything_is_written(tmp_path, clips):
    (tmp_path / "folds").mkdir()
    (tmp_path / "recipe.yaml").write_text("the old run's recipe\n")
    with pytest.raises(IcezooError, match="older than run identities"):
        evaluate(icezoo.load_recipe(SMALL, TWO), "loso", tmp_path, progress=False, clips=clips)
    assert (tmp_path / "recipe.yaml").read_text() == "the old run's recipe\n" and not (tmp_path / "run.json").exists()


def test_settings_a_protocol_never_reads_do_not_part_two_runs(clips):
    from icezoo.eval.identity import RunIdentity

    def fingerprint(protocol, *overrides):
        return RunIdentity.of(icezoo.load_recipe(SMALL, [*TINY, *overrides]), protocol, clips).fingerprint

    assert fingerprint("loso") == fingerprint("loso", "eval.test_subjects=10", "eval.sde_datasets=[samm]")
    assert fingerprint("loso") == fingerprint("loso", "eval.split_seed=3", "eval.select_metric=uar")
    assert fingerprint("split") != fingerprint("split", "eval.split_seed=3")  # the split's own draw
    validated = ["eval.validation_subjects=6"]
    assert fingerprint("loso", *validated) != fingerprint("loso", *validated, "eval.split_seed=3")  # draws those
    assert fingerprint("sde") != fingerprint("sde", "eval.sde_datasets=[samm]")
    weights = f"eval.synthesis_network_weights={Path(__file__).parents[1] / 'README.md'}"  # a network that measures nothing cannot part two runs
    assert fingerprint("loso") == fingerprint("loso", weights)
    assert fingerprint("loso", "eval.synthesis_metrics=true") != fingerprint(
        "loso", "eval.synthesis_metrics=true", weights
    )


def test_synthesis_records_of_another_run_are_refused_naming_the_key(tmp_path, clips):
    from icezoo.eval.folder import RunFolder
    from icezoo.eval.identity import RunIdentity

    mine = RunFolder(tmp_path).claim(RunIdentity.of(icezoo.load_recipe(SMALL, TWO), "loso", clips))
    theirs = RunFolder(tmp_path)  # another run's records written into this folder
    theirs.run = RunIdentity.of(icezoo.load_recipe(SMALL, [*TWO, "train.seed=1"]), "loso", clips)
    theirs.versions = theirs.run.versions
    records = {"identity": np.arange(3.0), "motion": {"flow": np.ones((2, 2), dtype=np.float32)}}
    network = {"network": "fer_xception", "weights": None}
    mine.write_records("fold1", records, network)
    back = mine.read_records("fold1", network)
    np.testing.assert_array_equal(back["identity"], records["identity"])
    np.testing.assert_array_equal(back["motion"]["flow"], records["motion"]["flow"])
    with pytest.raises(IcezooError, match=r"measured with another network \(fer_xception there, resnet18 \(sha256"):
        mine.read_records("fold1", {"network": "resnet18", "weights": "sha256:0123"})  # two feature spaces
    theirs.write_records("fold1", records, network)
    with pytest.raises(IcezooError, match=r"synthesis records of another run \(recipe.train.seed = 1 there, 0 in"):
        mine.read_records("fold1", network)
    path = tmp_path / "synthesis" / "fold1.pt"  # the previous release stamped the fingerprint alone
    torch.save({**torch.load(path, weights_only=True), "run": mine.run.fingerprint}, path)
    np.testing.assert_array_equal(mine.read_records("fold1", network)["identity"], records["identity"])
    torch.save({**torch.load(path, weights_only=True), "run": theirs.run.fingerprint}, path)
    with pytest.raises(IcezooError, match="synthesis records without a run identity"):
        mine.read_records("fold1", network)
