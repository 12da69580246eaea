"""Evaluation: MEGC2019 metrics, protocols, sharding, outputs, synthesis."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

import icezoo
from icezoo.data import CLASSES, load_clips
from icezoo.errors import IcezooError
from icezoo.eval import metrics as M
from icezoo.eval.metrics import compute_metrics
from icezoo.eval.protocols import make_folds, parse_shard, shard
from icezoo.eval.runner import evaluate

from .conftest import RECIPES

SMALL = RECIPES / "icegan_small.yaml"
TINY = [
    "model.image_size=32", "model.generator.width=4", "model.generator.max_width=16", "model.generator.embed_dim=16",
    "model.discriminator.trunk.ndf=4", "model.discriminator.head.adv_dim=8", "model.discriminator.head.exp_dim=4",
    "model.discriminator.head.recon_hidden=[16]", "train.batch_size=8", "train.max_steps=1", "train.log_every=1",
]  # fmt: skip


def test_uf1_uar_hand_computed():
    y = [0, 0, 1, 1, 2, 2]
    p = [0, 1, 1, 1, 0, 2]
    # F1: class 0 = 2*1/(2+1+1) = 0.5, class 1 = 2*2/(4+1) = 0.8, class 2 = 2*1/(2+0+1) = 2/3
    assert M.uf1(y, p) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert M.uar(y, p) == pytest.approx((0.5 + 1.0 + 0.5) / 3)


def test_a_class_never_predicted_scores_zero():
    y, p = [0, 1, 2, 2], [0, 1, 1, 1]
    # class 2 is never predicted: its F1 and recall are 0; class 1: TP 1, FP 2 -> F1 0.5
    assert M.uf1(y, p) == pytest.approx((1 + 0.5 + 0) / 3)
    assert M.uar(y, p) == pytest.approx((1 + 1 + 0) / 3)


def test_pooling_differs_from_per_fold_averaging():
    folds = {"a": ([0, 0, 0], [0, 0, 0]), "b": ([1, 2], [2, 1])}
    pooled_y = [0, 0, 0, 1, 2]
    pooled_p = [0, 0, 0, 2, 1]
    pooled = M.uf1(pooled_y, pooled_p)
    averaged = M.per_fold_average(folds)
    assert pooled == pytest.approx(1 / 3)  # class 0 perfect, classes 1 and 2 always wrong
    assert averaged["uf1"] == pytest.approx((1.0 + 0.0) / 2)  # fold a perfect on its one class
    assert averaged["folds"] == 2 and averaged["uf1"] != pytest.approx(pooled)
    by = ["a", "a", "a", "b", "b"]
    assert M.scores(pooled_y, pooled_p)["uf1"] == pytest.approx(pooled)  # the pooling is a parameter
    assert M.scores(pooled_y, pooled_p, by, pooling="per_fold") == averaged


def test_metrics_per_dataset_and_sde_f1():
    # positive 0, negative 1, surprise 2; arrays and explicit groups, no CSV rows
    y_true, y_pred = [0, 1, 2, 1], [0, 0, 2, 1]
    m = compute_metrics(y_true, y_pred, ["casme2", "casme2", "samm", "samm"], ["f1", "f1", "f2", "f2"], "sde")
    assert m["per_dataset"]["samm"]["f1"] == pytest.approx(M.uf1([2, 1], [2, 1]))
    assert m["per_dataset"]["casme2"]["uar"] == pytest.approx(0.5)
    assert m["overall"]["n"] == 4 and m["folds"] == 2
    assert m["overall"]["confusion"][1] == [1, 1, 0]  # true negative: once predicted positive, once negative


@pytest.fixture(scope="module")
def clips():
    return load_clips(icezoo.load_recipe(SMALL, TINY))


def test_loso_folds(clips):
    folds = make_folds("loso", clips, icezoo.load_recipe(SMALL).eval)
    assert len(folds) == 68
    for fold in folds:
        assert len(fold.test) == 1 and fold.test[0] not in fold.train and len(fold.train) == 67


def test_sde_folds_stay_within_one_database(clips):
    folds = make_folds("sde", clips, icezoo.load_recipe(SMALL).eval)
    assert len(folds) == 24 + 28
    for fold in folds:
        dataset = fold.test[0].split("/")[0]
        assert dataset in ("casme2", "samm") and all(s.startswith(dataset + "/") for s in fold.train)
        assert fold.test[0] not in fold.train


def test_split_is_48_20_and_seeded(clips):
    cfg = icezoo.load_recipe(SMALL).eval
    (fold,) = make_folds("split", clips, cfg)
    assert len(fold.train) == 48 and len(fold.test) == 20 and not set(fold.train) & set(fold.test)
    assert make_folds("split", clips, cfg) == [fold]
    other = icezoo.load_recipe(SMALL, ["eval.split_seed=1"]).eval
    assert make_folds("split", clips, other)[0].test != fold.test


def test_shards_partition_the_folds():
    folds = list(range(10))
    parts = [shard(folds, i, 3) for i in (1, 2, 3)]
    assert sorted(sum(parts, [])) == folds and parse_shard("2/3") == (2, 3)
    for bad in ("0/3", "4/3", "x", "1-3"):
        with pytest.raises(IcezooError):
            parse_shard(bad)


def test_fold_trains_without_its_test_subject(clips, monkeypatch, tmp_path):
    seen = []
    from icezoo.eval import fold as ev

    original = ev.Trainer

    def spy(recipe, out, *, clips, **kw):
        seen.append(set(clips.subject))
        return original(recipe, out, clips=clips, **kw)

    monkeypatch.setattr(ev, "Trainer", spy)
    recipe = icezoo.load_recipe(SMALL, TINY + ["eval.max_folds=2"])
    evaluate(recipe, "loso", tmp_path, progress=False, clips=clips)
    folds = make_folds("loso", clips, recipe.eval)[:2]
    assert len(seen) == 2
    for fold, subjects in zip(folds, seen):
        assert fold.test[0] not in subjects and subjects == set(fold.train)


class _Stop(Exception):
    """Raised by a spy to end a command once it has shown what it asked for."""


def test_test_and_synth_metrics_walk_the_folds_eval_ran(clips, tmp_path, monkeypatch):
    """``icezoo test`` and ``synth-metrics`` take their folds from protocol_folds, where eval's max_folds cut is."""
    from icezoo.eval import protocols
    from icezoo.eval.retest import retest
    from icezoo.eval.runner import open_run
    from icezoo.eval.synthesis import run as synth_run

    recipe = icezoo.load_recipe(SMALL, TINY + ["eval.max_folds=2"])
    open_run(recipe, "loso", tmp_path, clips, computing=True)  # the folder eval claims, nothing trained
    asked = []

    def spy(recipe, protocol, clips):
        asked.append((recipe.eval.max_folds, protocol))
        raise _Stop

    monkeypatch.setattr(protocols, "protocol_folds", spy)
    with pytest.raises(_Stop):
        retest(tmp_path)
    with pytest.raises(_Stop):
        synth_run.synth_metrics(tmp_path, clips=clips, network=torch.nn.Identity())
    assert asked == [(2, "loso")] * 2


def test_sharded_evaluation_equals_unsharded(clips, tmp_path):
    recipe = icezoo.load_recipe(SMALL, TINY + ["eval.max_folds=3"])
    whole = evaluate(recipe, "loso", tmp_path / "whole", progress=False, clips=clips)
    assert evaluate(recipe, "loso", tmp_path / "sharded", shard_of=(1, 2), progress=False, clips=clips) is None
    with pytest.raises(IcezooError, match="1 of 3 folds have no results"):
        evaluate(recipe, "loso", tmp_path / "sharded", merge_only=True, progress=False, clips=clips)
    merged = evaluate(recipe, "loso", tmp_path / "sharded", shard_of=(2, 2), progress=False, clips=clips)
    assert merged == whole
    assert (tmp_path / "whole" / "predictions.csv").read_text() == (
        tmp_path / "sharded" / "predictions.csv"
    ).read_text()
    assert evaluate(recipe, "loso", tmp_path / "sharded", merge_only=True, progress=False, clips=clips) == whole


def test_every_output_is_written_and_readable(clips, tmp_path, cli):
    code, out, err = cli(
        "eval",
        SMALL,
        *[a for o in TINY for a in ("--set", o)],
        "--protocol",
        "split",
        "--out",
        tmp_path,
        "--no-progress",
    )
    assert code == 0, err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics["overall"]) >= {"uf1", "uar", "n", "confusion"} and set(metrics["per_dataset"]) == {
        "smic",
        "casme2",
        "samm",
    }
    assert "for comparison only" in metrics["per_fold_average"]["note"]
    rows = list(csv.DictReader((tmp_path / "predictions.csv").open()))
    assert (
        len(rows)
        == metrics["overall"]["n"]
        == sum(np.isin(clips.subject, make_folds("split", clips, icezoo.load_recipe(SMALL).eval)[0].test))
    )
    assert set(rows[0]) == {
        "fold",
        "dataset",
        "subject",
        "clip",
        "label",
        "pred",
        "score_positive",
        "score_negative",
        "score_surprise",
    }
    assert {r["label"] for r in rows} <= set(CLASSES)
    table = (tmp_path / "table.md").read_text()
    assert "| Recipe | Paper row | UAR [95% CI] | UF1 [95% CI] |" in table  # synthetic: no published numbers beside
    assert (tmp_path / "confusion.png").stat().st_size > 1000
    assert "UF1" in out


def test_loso_report_has_the_papers_table_i_only_for_megc2019(clips, tmp_path):
    from icezoo.eval.report import markdown_report

    recipe = icezoo.load_recipe(
        RECIPES / "icegan.yaml", TINY + ["eval.max_folds=2", "model.generator.reasoning.type=skip"]
    )
    evaluate(recipe, "loso", tmp_path, progress=False, clips=clips)
    table = (tmp_path / "table.md").read_text()
    assert "**ours: icegan**" in table and "ICE-GAN (paper)" not in table  # synthetic data: not set beside them
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    metrics["data"] = {"type": "megc2019", "clips": 442, "subjects": 68, "comparable_to_published": True}
    table = markdown_report("loso", metrics, "icegan", None)
    assert "| ME-Recognizer | 0.788 | 0.782 |" in table and "| ICE-GAN (paper) | 0.874 | 0.883 |" in table


def test_a_folder_holds_one_run(clips, tmp_path):
    evaluate(icezoo.load_recipe(SMALL, TINY + ["eval.max_folds=1"]), "loso", tmp_path, progress=False, clips=clips)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(IcezooError, match=r"run.json: a folder of another run \(recipe.train.seed = 0 there, 3 in"):
        evaluate(icezoo.load_recipe(SMALL, TINY + ["eval.max_folds=1", "train.seed=3"]), "loso", tmp_path,
                 progress=False, clips=clips)  # fmt: skip
    with pytest.raises(IcezooError, match="protocol = 'loso' there, 'split' in this run"):
        evaluate(icezoo.load_recipe(SMALL, TINY), "split", tmp_path, progress=False, clips=clips)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before  # nothing written
    # what does not decide results may differ: more folds, another device, a logging interval
    more = icezoo.load_recipe(SMALL, TINY + ["eval.max_folds=2", "train.device=cpu", "train.log_every=5"])
    assert evaluate(more, "loso", tmp_path, progress=False, clips=clips)["folds"] == 2


def test_synth_writes_faces_grid_and_difference_maps(tmp_path, cli):
    from PIL import Image

    from icezoo.train.trainer import Trainer

    Trainer(icezoo.load_recipe(SMALL, TINY), tmp_path / "run", progress=False).run()
    face = (np.random.default_rng(0).random((50, 40)) * 255).astype(np.uint8)
    Image.fromarray(face).save(tmp_path / "onset.png")
    code, out, err = cli(
        "synth",
        tmp_path / "run" / "checkpoint.pt",
        "--onset",
        tmp_path / "onset.png",
        "--n",
        "2",
        "--out",
        tmp_path / "syn",
    )
    assert code == 0, err
    files = sorted(p.name for p in (tmp_path / "syn").iterdir())
    assert files == ["difference.png", "grid.png", "recipe.yaml"] + sorted(
        f"synth_{c}_{i}.png" for c in CLASSES for i in range(2)
    )
    with Image.open(tmp_path / "syn" / "synth_positive_0.png") as img:
        assert img.size == (32, 32) and img.mode == "L"
    (tmp_path / "bad.png").write_bytes(b"not an image")
    code, _, err = cli(
        "synth", tmp_path / "run" / "checkpoint.pt", "--onset", tmp_path / "bad.png", "--out", tmp_path / "syn2"
    )
    assert code == 2 and "cannot decode image" in err and len(err.strip().splitlines()) == 1


def test_class_code_changes_the_synthesised_face(tmp_path):
    """Different class codes give different faces from the same onset and noise."""
    from icezoo.inference.synth import synthesize

    model = icezoo.build_model(icezoo.load_recipe(SMALL, TINY)).eval()
    faces = synthesize(model, torch.rand(1, 1, 32, 32) * 2 - 1, [0, 1, 2], n=1, seed=0)
    assert not torch.allclose(faces[0], faces[1]) and not torch.allclose(faces[1], faces[2])


def test_ablate_writes_one_comparison_table(tmp_path, cli):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(f"extends: {SMALL}\nname: small_grm\n")
    b.write_text(f"extends: {SMALL}\nname: small_skip\nmodel: {{generator: {{reasoning: {{type: skip}}}}}}\n")
    code, out, err = cli(
        "ablate", a, b, *[x for o in TINY for x in ("--set", o)], "--out", tmp_path / "ablation", "--no-progress"
    )
    assert code == 0, err
    table = (tmp_path / "ablation" / "comparison.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| small_")]
    assert [r.split("|")[1].strip() for r in rows] == ["small_grm", "small_skip"]
    assert table.count("Data: icezoo's built-in SYNTHETIC faces (seed 0") == 1  # named once, as both runs share it
    assert (tmp_path / "ablation" / "small_skip" / "metrics.json").exists()
    code, _, err = cli("ablate", a, a, "--out", tmp_path / "again")
    assert code == 2 and "distinct names" in err
