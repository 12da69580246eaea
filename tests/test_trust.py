"""Using what was trained and trusting the report: fold models, test, predict, selection, intervals, data names."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

import icezoo
from icezoo.data import load_clips
from icezoo.errors import IcezooError
from icezoo.eval.protocols import make_folds, validation_subjects
from icezoo.eval.report import markdown_report
from icezoo.eval.statistics import bootstrap_intervals, mean_sd
from icezoo.eval.tables import table_ablation

from .test_eval import SMALL, TINY

# a few optimiser steps per epoch (batch 64 over ~300 training clips), so that a fold has several candidates
RUN = [*TINY, "train.batch_size=64", "train.max_steps=10", "eval.validation_subjects=6", "eval.select=oracle_test",
       "eval.bootstrap=200"]  # fmt: skip


def _sets(overrides):
    return [a for o in overrides for a in ("--set", o)]


@pytest.fixture(scope="module")
def clips():
    return load_clips(icezoo.load_recipe(SMALL, TINY))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """One tiny split evaluation with validation subjects, oracle selection and kept models."""
    from icezoo.cli import main

    out = tmp_path_factory.mktemp("run")
    assert main(["eval", str(SMALL), *_sets(RUN), "--protocol", "split", "--keep-models", "--out", str(out),
                 "--no-progress"]) == 0  # fmt: skip
    return out


# -- validation subjects ----------------------------------------------------------------------------------
def test_validation_subjects_come_from_the_training_side_balanced(clips):
    recipe = icezoo.load_recipe(SMALL, [*TINY, "eval.validation_subjects=9"])
    datasets = dict(zip(clips.subject, clips.dataset))
    plain = make_folds("loso", clips, icezoo.load_recipe(SMALL, TINY).eval)
    for fold, without in list(zip(make_folds("loso", clips, recipe.eval), plain))[::7]:
        train, val = fold.train, fold.validation
        assert len(val) == 9 and set(val) <= set(without.train) and not set(val) & set(fold.test)
        assert not set(train) & set(val) and set(train) | set(val) == set(without.train) == set(fold.training_side)
        per_db = {d: sum(datasets[s] == d for s in val) for d in ("smic", "casme2", "samm")}
        assert all(n >= 2 for n in per_db.values()), per_db  # 16 / 24 / 28 subjects: about 2 / 3 / 4 of 9


def test_validation_subjects_ignore_the_test_subjects_results(clips):
    """The draw sees only the fold's training subjects and the seed: other test labels or predictions change nothing."""
    recipe = icezoo.load_recipe(SMALL, [*TINY, "eval.validation_subjects=6"])
    fold = make_folds("split", clips, recipe.eval)[0]
    other = clips.subset(np.arange(len(clips)))
    test_idx = other.indices_of(fold.test)
    other.label[test_idx] = (other.label[test_idx] + 1) % 3
    assert make_folds("split", clips, recipe.eval) == make_folds("split", other, recipe.eval)
    datasets = dict(zip(clips.subject, clips.dataset))
    side = fold.training_side
    assert validation_subjects(fold.name, side, datasets, 6, 1) != validation_subjects(fold.name, side, datasets, 6, 0)


def test_too_many_validation_subjects_is_one_line(tmp_path, cli):
    code, _, err = cli("eval", SMALL, *_sets([*TINY, "eval.validation_subjects=48"]), "--protocol", "split",
                       "--out", tmp_path, "--no-progress")  # fmt: skip
    assert code == 2 and err.count("\n") == 1 and "validation_subjects: 48" in err and "48 training subjects" in err


def test_best_validation_needs_validation_subjects():
    with pytest.raises(IcezooError, match="eval.select: best_validation needs"):
        icezoo.load_recipe(SMALL, ["eval.select=best_validation"])


# -- an evaluation run: selection, outputs, reuse ----------------------------------------------------------
def test_oracle_run_says_so_first_and_is_at_least_the_honest_figure(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert next(iter(metrics)) == "warning" and "ORACLE" in metrics["warning"]
    for name in ("table.md", "predictions.csv"):
        assert "ORACLE SELECTION" in (run_dir / name).read_text().splitlines()[0]
    same = metrics["selection"]["same_run"]
    assert set(same) == {"last", "best_validation", "oracle_test"}
    assert same["oracle_test"]["uf1"] >= max(same["last"]["uf1"], same["best_validation"]["uf1"])  # select_metric uf1
    fold = json.loads((run_dir / "folds" / "split.json").read_text())
    assert len(fold["selection"]["candidates"]) >= 2
    assert metrics["overall"]["uf1"] == pytest.approx(same["oracle_test"]["uf1"])
    assert "validation" in metrics and metrics["validation"]["n"] > 0


def test_reports_name_the_synthetic_data_and_keep_published_numbers_apart(run_dir, clips):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    from icezoo.eval.provenance import content_digest

    assert metrics["data"].pop("content_sha256") == content_digest(clips)  # the clips as the run read them
    assert metrics["data"] == {"type": "synthetic", "clips": 442, "subjects": 68, "seed": 0,
                               "comparable_to_published": False}  # fmt: skip
    table = (run_dir / "table.md").read_text()
    assert "SYNTHETIC faces (seed 0, 442 clips" in table and "Paper UAR" not in table
    loso = {**metrics, "per_dataset": {}, "per_fold_average": None}
    assert "ICE-GAN (paper)" not in markdown_report("loso", loso, "x", None)
    assert "MEGC2019 composite" not in markdown_report("loso", loso, "x", None)
    real = {**loso, "data": {"type": "megc2019", "clips": 442, "subjects": 68, "manifest": "m.csv", "sha256": "ab" * 32,
                             "comparable_to_published": True}}  # fmt: skip
    text = markdown_report("loso", real, "x", None)
    assert "| ICE-GAN (paper) | 0.874 | 0.883 |" in text and "m.csv (442 clips, 68 subjects, sha256 abababab" in text


def test_icezoo_test_reproduces_the_predictions_exactly(run_dir, cli, tmp_path):
    """Byte for byte, the oracle run's label included: re-scored predictions keep it, and so does the output."""
    code, out, err = cli("test", run_dir, "--out", tmp_path)
    assert code == 0, err
    assert "identical" in out and out.startswith("ORACLE SELECTION")
    original = (run_dir / "predictions.csv").read_text()
    assert original.startswith("# ORACLE SELECTION") and (tmp_path / "predictions.csv").read_text() == original


def test_predict_recognises_a_real_photograph(run_dir, cli, tmp_path):
    skimage_data = pytest.importorskip("skimage.data")
    from PIL import Image

    Image.fromarray(skimage_data.astronaut()).save(tmp_path / "astronaut.png")
    code, out, err = cli(
        "predict", run_dir / "folds" / "split.pt", "--image", tmp_path / "astronaut.png", "--json", "--no-align"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["class"] in ("positive", "negative", "surprise")
    assert result["class"] == max(result["scores"], key=result["scores"].get) and result["crop"] == "centre crop"
    # the crop actually used: the photograph's centre square, resized as prepare resizes, gives these very scores
    from icezoo.data.clips import to_unit_range
    from icezoo.data.megc2019 import RESAMPLE

    model, recipe = icezoo.load_checkpoint(run_dir / "folds" / "split.pt")
    photo = Image.open(tmp_path / "astronaut.png").convert("L")
    side = min(photo.size)
    left, top = (photo.size[0] - side) // 2, (photo.size[1] - side) // 2
    square = photo.crop((left, top, left + side, top + side)).resize((recipe.model.image_size,) * 2, RESAMPLE)
    by_hand = model.recognise(to_unit_range(np.asarray(square, dtype=np.uint8)[None].copy()))[0].tolist()
    assert list(result["scores"].values()) == by_hand
    corner = photo.crop((0, 0, side // 2, side // 2)).resize((recipe.model.image_size,) * 2, RESAMPLE)
    assert model.recognise(to_unit_range(np.asarray(corner, dtype=np.uint8)[None].copy()))[0].tolist() != by_hand
    code, out, _ = cli("predict", run_dir / "folds" / "split.pt", "--image", tmp_path / "astronaut.png", "--no-align")
    assert code == 0 and out.split()[0] == result["class"] and "centre crop" in out.splitlines()[0]
    # trained on the synthetic faces: one line says the answer on a photograph is not meaningful
    assert result["caution"] and sum("not meaningful" in line for line in out.splitlines()) == 1


def test_bad_inputs_are_one_line(run_dir, cli, tmp_path):
    (tmp_path / "no_models").mkdir()
    for name in ("recipe.yaml", "protocol.txt", "run.json", "predictions.csv"):  # a run without --keep-models
        (tmp_path / "no_models" / name).write_bytes((run_dir / name).read_bytes())
    code, _, err = cli("test", tmp_path / "no_models")
    assert code == 2 and err.count("\n") == 1 and "--keep-models" in err

    (tmp_path / "not_an_image.png").write_text("not an image")
    code, _, err = cli("predict", run_dir / "folds" / "split.pt", "--image", tmp_path / "not_an_image.png")
    assert code == 2 and err.count("\n") == 1 and f"cannot decode image {tmp_path / 'not_an_image.png'}" in err

    from icezoo.eval.folder import RunFolder
    from icezoo.eval.identity import RunIdentity

    other = tmp_path / "other"
    (other / "folds").mkdir(parents=True)
    for name in ("recipe.yaml", "protocol.txt", "run.json"):
        (other / name).write_bytes((run_dir / name).read_bytes())
    foreign = icezoo.load_recipe(SMALL, [*RUN, "model.discriminator.trunk.ndf=8"])
    writer = RunFolder(other)  # another run's model written into this run's folder
    writer.run = RunIdentity.of(foreign, "split", load_clips(foreign))
    writer.save_model("split", foreign, icezoo.build_model(foreign), 0)
    code, _, err = cli("test", other)
    assert code == 2 and err.count("\n") == 1
    assert "a fold model of another run (recipe.model.discriminator.trunk.ndf = 8 there, 4 in this run)" in err


@pytest.mark.parametrize(("override", "then"), [("eval.split_seed=1", 0), ("train.max_steps=9", 10)])
def test_a_fold_model_of_another_run_is_refused_by_test_and_synth_metrics(
    run_dir, clips, tmp_path, cli, override, then
):
    """A fold model trained on another split (whose training subjects may be this run's test subjects) or for
    another budget is not this run's model, however alike the two recipes look."""
    import shutil

    from icezoo.eval.runner import open_run
    from icezoo.eval.synthesis.run import synth_metrics

    key, value = override.split("=")
    recipe = icezoo.load_recipe(SMALL, [*RUN, override])
    open_run(recipe, "split", tmp_path / "other", clips, computing=True)  # a run folder of that recipe, untrained
    (tmp_path / "other" / "folds").mkdir()
    shutil.copy(run_dir / "folds" / "split.pt", tmp_path / "other" / "folds" / "split.pt")
    expected = f"a fold model of another run (recipe.{key} = {then} there, {value} in this run)"
    code, _, err = cli("test", tmp_path / "other")
    assert code == 2 and err.count("\n") == 1 and expected in err and "folds/split.pt" in err
    with pytest.raises(IcezooError, match=re.escape(expected)):
        synth_metrics(tmp_path / "other", clips=clips, network=torch.nn.Identity())
    assert not (tmp_path / "other" / "synthesis").exists() and not (tmp_path / "other" / "retest").exists()


# -- statistics ---------------------------------------------------------------------------------------------
def _subjects(n: int, seed: int = 0):
    """n subjects of 6 clips each, predicted right about 70% of the time."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n * 6)
    p = np.where(rng.random(n * 6) < 0.7, y, rng.integers(0, 3, n * 6))
    return [f"s{i // 6}" for i in range(n * 6)], y, p


def test_bootstrap_interval_holds_the_estimate_and_narrows_with_more_subjects():
    from icezoo.eval.metrics import uar, uf1

    widths = []
    for n in (10, 160):
        subjects, y, p = _subjects(n)
        ci = bootstrap_intervals(subjects, y, p, resamples=400)
        assert ci["uf1"][0] <= uf1(y, p) <= ci["uf1"][1] and ci["uar"][0] <= uar(y, p) <= ci["uar"][1]
        widths.append(ci["uar"][1] - ci["uar"][0])
    assert widths[1] < widths[0] / 2  # 16x the subjects: about a quarter of the width


def test_seeds_report_mean_and_sd(monkeypatch, tmp_path):
    from icezoo.eval import runner, seeds

    seen = []

    def fake(recipe, protocol, out, **kwargs):
        seen.append(recipe.train.seed)
        score = 0.5 + 0.1 * recipe.train.seed
        data = {"type": "synthetic", "seed": 0, "clips": 442, "subjects": 68}
        return {"overall": {"uf1": score, "uar": score}, "data": data}

    monkeypatch.setattr(runner, "evaluate", fake)
    summary = seeds.evaluate_seeds(icezoo.load_recipe(SMALL), "split", tmp_path, 3)
    assert seen == [0, 1, 2] and summary["uf1"] == pytest.approx({"mean": 0.6, "sd": 0.1, "n": 3})
    text = (tmp_path / "seeds.md").read_text()
    assert "+- 0.100" in text and "SYNTHETIC faces (seed 0, 442 clips" in text  # every report names its data
    assert mean_sd([0.4]) == {"mean": 0.4, "sd": 0.0, "n": 1}


def test_ablation_table_sets_honest_and_oracle_side_by_side():
    entry = {"name": "a", "paper": {}, "overall": {"uar": 0.5, "uf1": 0.4}, "validation": {"uar": 0.45},
             "selection": {"same_run": {"oracle_test": {"uar": 0.6, "uf1": 0.55}}}, "data": {"type": "synthetic"}}  # fmt: skip
    table = table_ablation([entry])
    assert "UAR oracle_test (inflated)" in table and "| a | - | 0.500 | 0.400 | 0.450 | 0.600 |" in table


# -- the Python API ------------------------------------------------------------------------------------------
def test_recipes_by_name_and_the_api_examples_run():
    import doctest

    import icezoo.api

    assert {"icegan", "icegan_small", "icegan_release", "table3/f_grm"} <= set(icezoo.list_recipes())
    assert icezoo.load_recipe("icegan").to_dict() == icezoo.load_recipe(str(SMALL.parent / "icegan.yaml")).to_dict()
    with pytest.raises(IcezooError, match="nearest: icegan_small"):
        icezoo.load_recipe("icegan_smal")
    result = doctest.testmod(icezoo.api, extraglobs={"torch": torch})
    assert result.attempted >= 5 and result.failed == 0


def test_load_checkpoint_gives_a_model_that_recognises_and_synthesizes(run_dir):
    model, recipe = icezoo.load_checkpoint(run_dir / "folds" / "split.pt")
    faces = torch.zeros(2, 1, recipe.model.image_size, recipe.model.image_size)
    assert model.recognise(faces).shape == (2, 3)
    assert model.synthesize(faces, torch.tensor([0, 2])).shape == faces.shape


def test_composite_note_tells_441_from_442():
    from types import SimpleNamespace as Row

    from icezoo.data.prepare.composite import composite_note

    rows = [
        Row(dataset=d, clip=f"{d}{i}") for d, n in (("smic", 164), ("casme2", 147), ("samm", 130)) for i in range(n)
    ]
    assert "441 clips, the MEGC2019 challenge's own csv" in composite_note(rows)
    assert "442 clips, the label file of several papers" in composite_note([*rows, Row(dataset="samm", clip="032_3_1")])
    assert "neither" in composite_note(rows[:-1])


@pytest.mark.slow
def test_create_model_from_an_installed_wheel(tmp_path):
    """The recipes are in the wheel, and a non-editable install builds a model by name from anywhere."""
    import os
    import shutil
    import subprocess
    import sys
    import zipfile

    from .conftest import REPO

    skip = shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", ".pytest_cache", "runs", "__pycache__")
    shutil.copytree(REPO, tmp_path / "src", symlinks=True, ignore=skip)
    pip = [sys.executable, "-m", "pip", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", tmp_path / "src"],
                   check=True, capture_output=True)  # fmt: skip
    wheel = next((tmp_path / "dist").glob("icezoo-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"icezoo/recipes/{n}.yaml" for n in icezoo.list_recipes()}
    assert len(shipped) >= 17 and shipped <= names
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", tmp_path / "site", wheel], check=True)
    site = str(tmp_path / "site")
    code = (
        f"import icezoo, icezoo.convert; assert icezoo.__file__.startswith({site!r}), icezoo.__file__; "
        "m = icezoo.create_model('icegan_small'); assert icezoo.convert.RECIPE.is_file(); "
        "print(sum(p.numel() for p in m.discriminator.parameters()), len(icezoo.list_recipes()))"
    )
    env = {**os.environ, "PYTHONPATH": site}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    d_params, count = (int(x) for x in done.stdout.split())
    assert count == len(shipped) and d_params == sum(
        p.numel() for p in icezoo.create_model("icegan_small").discriminator.parameters()
    )


def test_a_manifest_named_from_the_home_folder_keeps_its_checksum(tmp_path, monkeypatch):
    """``data.manifest: ~/...`` loads (the loader expands it), so the report must read and hash the same file."""
    import hashlib
    from types import SimpleNamespace

    from icezoo.eval.provenance import describe_data

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "manifest.csv").write_text("dataset,subject\n")
    recipe = SimpleNamespace(data={"type": "megc2019", "manifest": "~/manifest.csv"})
    from icezoo.data import ClipSet

    clips = ClipSet(np.zeros((5, 4, 4), np.uint8), np.zeros((5, 1, 4, 4), np.uint8), np.zeros(5, np.int64),
                    ["s1"] * 3 + ["s2"] * 2, ["casme2"] * 5, [f"c{i}" for i in range(5)])  # fmt: skip
    data = describe_data(recipe, clips)
    assert data["sha256"] == hashlib.sha256(b"dataset,subject\n").hexdigest()
    assert data["clips"] == 5 and data["subjects"] == 2
    clips.apex[4, 0, 2, 2] = 1  # one pixel of one frame: other data, though the manifest file is the same
    assert describe_data(recipe, clips)["content_sha256"] != data["content_sha256"]
