"""Versions in the run identity: the code that computed a fold is recorded, and a mix is refused unless asked for."""

from __future__ import annotations

import json
import re
import shutil
from importlib import metadata

import pytest
import torch

import icezoo
from icezoo.data import load_clips
from icezoo.errors import IcezooError
from icezoo.eval.identity import code_versions
from icezoo.eval.runner import evaluate

from .test_eval import SMALL, TINY

TWO = [*TINY, "eval.max_folds=2", "eval.bootstrap=50"]
OTHER_TORCH = "2.99.0"


def _sets(overrides):
    return [a for o in overrides for a in ("--set", o)]


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def clips():
    return load_clips(icezoo.load_recipe(SMALL, TINY))


def fake_versions(monkeypatch, **versions: str) -> None:
    """Another installation, as both places a version is read from see it: ``torch.__version__`` and the installed
    packages' metadata (keyword names with ``_`` for ``-``)."""
    wanted = {k.replace("_", "-"): v for k, v in versions.items()}
    real = metadata.version
    if "torch" in wanted:
        monkeypatch.setattr(torch, "__version__", wanted["torch"])
    monkeypatch.setattr(metadata, "version", lambda name: wanted.get(name) or real(name))


def test_code_versions_reads_what_runs(monkeypatch):
    here = code_versions()
    assert here["icezoo"] == icezoo.__version__ and here["torch"] == str(torch.__version__)
    assert here["timm"] == metadata.version("timm") and here["torch-geometric"] == metadata.version("torch-geometric")
    fake_versions(monkeypatch, torch=OTHER_TORCH, timm="0.0.1")
    there = code_versions(["no-such-library"])
    assert there["torch"] == OTHER_TORCH and there["timm"] == "0.0.1" and there["no-such-library"] is None
    assert there["torch-geometric"] == here["torch-geometric"]


def test_the_commit_is_recorded_but_the_source_is_compared():
    """A docs-only commit changes no result: the commit is kept for the reader; the digest of icezoo's own Python
    files (which an uncommitted edit changes too) is what must match."""
    from icezoo.eval.identity import describe_versions, version_difference

    here = code_versions()
    assert len(here["icezoo-source"]) == 16 and "icezoo-commit" in here
    assert version_difference(here, {**here, "icezoo-commit": "0" * 40}) is None
    assert version_difference(here, {**here, "icezoo-source": "0" * 16})[0] == "icezoo-source"
    assert describe_versions(here).startswith(f"icezoo {icezoo.__version__} (source {here['icezoo-source'][:12]}")
    assert describe_versions({}).startswith("versions not recorded")


def test_a_recipes_components_add_the_libraries_they_compute_with():
    from icezoo.eval.identity import recipe_libraries

    assert recipe_libraries(icezoo.load_recipe("icegan_small")) == []
    assert recipe_libraries(icezoo.load_recipe("table1/ststnet")) == ["opencv-contrib-python-headless"]
    assert recipe_libraries(icezoo.load_recipe("table1/lbp_top")) == ["scikit-learn"]


def test_run_json_every_fold_file_and_the_report_name_the_versions(tmp_path, clips):
    from icezoo.train.checkpoint import load_checkpoint

    recipe = icezoo.load_recipe(SMALL, TWO)
    metrics = evaluate(recipe, "loso", tmp_path, progress=False, clips=clips, keep_models=True)
    versions = json.loads((tmp_path / "run.json").read_text())["versions"]
    assert versions["torch"] == str(torch.__version__) and versions["icezoo"] == icezoo.__version__
    for path in (tmp_path / "folds").glob("*.json"):
        assert json.loads(path.read_text())["run"]["versions"] == versions
    for path in (tmp_path / "folds").glob("*.pt"):
        assert load_checkpoint(path)["run"]["versions"] == versions
    (group,) = json.loads((tmp_path / "metrics.json").read_text())["versions"]
    assert group["versions"] == versions and len(group["folds"]) == 2 and metrics["versions"] == [group]
    assert f"Computed with icezoo {icezoo.__version__}" in (tmp_path / "table.md").read_text()
    assert f"torch {torch.__version__}" in (tmp_path / "table.md").read_text()


def _two_shards(cli, monkeypatch, mine, theirs):
    """Shard 1 computed here, shard 2 under another torch, copied beside shard 1 (as users gather shards)."""
    code, _, err = cli("eval", SMALL, *_sets(TWO), "--protocol", "loso", "--shard", "1/2", "--out", mine,
                       "--no-progress")  # fmt: skip
    assert code == 0, err
    with monkeypatch.context() as patch:
        fake_versions(patch, torch=OTHER_TORCH)
        code, _, err = cli("eval", SMALL, *_sets(TWO), "--protocol", "loso", "--shard", "2/2", "--out", theirs,
                           "--no-progress")  # fmt: skip
    assert code == 0, err
    for path in (theirs / "folds").iterdir():
        shutil.copy(path, mine / "folds" / path.name)


@pytest.mark.slow  # four shard runs through the command line: ~15 s
def test_a_merge_of_shards_computed_with_another_torch_is_refused_unless_allowed(tmp_path, cli, monkeypatch):
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    _two_shards(cli, monkeypatch, mine, theirs)
    before = _files(mine)
    code, _, err = cli("eval", SMALL, *_sets(TWO), "--protocol", "loso", "--merge", "--out", mine)
    assert code == 2 and err.count("\n") == 1, err
    assert f"fold results computed with torch {OTHER_TORCH} where this run has torch {torch.__version__}" in err
    assert "--allow-mixed-versions" in err and _files(mine) == before  # nothing written

    code, out, err = cli("eval", SMALL, *_sets(TWO), "--protocol", "loso", "--merge", "--out", mine,
                         "--allow-mixed-versions")  # fmt: skip
    assert code == 0, err
    groups = json.loads((mine / "metrics.json").read_text())["versions"]
    assert sorted(g["versions"]["torch"] for g in groups) == sorted([OTHER_TORCH, str(torch.__version__)])
    assert [len(g["folds"]) for g in groups] == [1, 1]
    table = (mine / "table.md").read_text()
    assert "Computed with mixed versions" in table
    assert f"torch {OTHER_TORCH}" in table and f"torch {torch.__version__}" in table


def test_a_resume_under_another_torch_is_refused_before_any_fold_runs(tmp_path, cli, monkeypatch):
    code, _, err = cli("eval", SMALL, *_sets(TWO), "--protocol", "loso", "--shard", "1/2", "--out", tmp_path,
                       "--no-progress")  # fmt: skip
    assert code == 0, err
    before, here = _files(tmp_path), str(torch.__version__)
    fake_versions(monkeypatch, torch=OTHER_TORCH)
    code, _, err = cli("eval", SMALL, *_sets(TWO), "--protocol", "loso", "--out", tmp_path, "--no-progress")
    assert code == 2 and err.count("\n") == 1, err
    assert f"run.json: a folder computed with torch {here} where this run has torch {OTHER_TORCH}" in err
    assert _files(tmp_path) == before


@pytest.mark.slow  # four shard runs through the command line: ~15 s
def test_copied_fold_files_merge_in_a_fresh_folder(tmp_path, cli, clips):
    """Shards computed apart, their folds/ copied into an empty folder: every fold file carries the identity."""
    for i in (1, 2):
        code, _, err = cli("eval", SMALL, *_sets(TWO), "--protocol", "loso", "--shard", f"{i}/2", "--out",
                           tmp_path / f"shard{i}", "--no-progress")  # fmt: skip
        assert code == 0, err
        shutil.copytree(tmp_path / f"shard{i}" / "folds", tmp_path / "gathered" / "folds", dirs_exist_ok=True)
    code, _, err = cli("eval", SMALL, *_sets(TWO), "--protocol", "loso", "--merge", "--out", tmp_path / "gathered")
    assert code == 0, err
    whole = evaluate(icezoo.load_recipe(SMALL, TWO), "loso", tmp_path / "whole", progress=False, clips=clips)
    assert (tmp_path / "gathered" / "predictions.csv").read_bytes() == (
        tmp_path / "whole" / "predictions.csv"
    ).read_bytes()
    assert json.loads((tmp_path / "gathered" / "metrics.json").read_text())["overall"] == whole["overall"]
    # a copied fold of another run is still refused, naming the key
    other = tmp_path / "other"
    code, _, err = cli("eval", SMALL, *_sets([*TWO, "train.seed=1"]), "--protocol", "loso", "--shard", "1/2",
                       "--out", other, "--no-progress")  # fmt: skip
    shutil.copytree(other / "folds", tmp_path / "mixed" / "folds")
    shutil.copytree(tmp_path / "shard2" / "folds", tmp_path / "mixed" / "folds", dirs_exist_ok=True)
    code, _, err = cli("eval", SMALL, *_sets(TWO), "--protocol", "loso", "--merge", "--out", tmp_path / "mixed")
    assert (
        code == 2
        and "recipe.train.seed = 1 there, 0 in this run" in err
        and not (tmp_path / "mixed" / "run.json").exists()
    )


def test_copied_folds_of_two_torch_versions_are_refused_before_anything_is_written(tmp_path, cli, monkeypatch):
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    _two_shards(cli, monkeypatch, mine, theirs)
    gathered = tmp_path / "gathered"
    shutil.copytree(mine / "folds", gathered / "folds")  # mine's folds/ now holds both shards' folds
    before = _files(gathered)
    code, _, err = cli("eval", SMALL, *_sets(TWO), "--protocol", "loso", "--merge", "--out", gathered)
    assert code == 2 and err.count("\n") == 1 and "--allow-mixed-versions" in err, err
    assert _files(gathered) == before  # no run.json, recipe.yaml or report


def test_synth_metrics_under_another_torch_is_refused_before_measuring(tmp_path, clips, monkeypatch):
    """Its records would be of other versions than the run's folds: refused at once, nothing measured or written."""
    from icezoo.eval.synthesis import run as synth_run

    evaluate(icezoo.load_recipe(SMALL, TWO), "loso", tmp_path, progress=False, clips=clips, keep_models=True)
    before, here = _files(tmp_path), str(torch.__version__)
    fake_versions(monkeypatch, torch=OTHER_TORCH)
    expected = f"a folder computed with torch {here} where this run has torch {OTHER_TORCH}"
    with pytest.raises(IcezooError, match=re.escape(expected)):
        synth_run.synth_metrics(tmp_path, clips=clips, network=torch.nn.Identity())
    assert _files(tmp_path) == before


def test_a_ray_node_with_other_data_refuses_its_fold_before_training(tmp_path, clips, monkeypatch):
    """A Ray task loads its node's data: where that differs from the folder's run it refuses, naming the key."""
    import icezoo.data
    from icezoo.eval import fold as fold_fit
    from icezoo.eval.job import FoldJob
    from icezoo.eval.protocols import make_folds
    from icezoo.eval.ray_launcher import run_fold_task
    from icezoo.eval.runner import open_run

    recipe = icezoo.load_recipe(SMALL, TWO)
    open_run(recipe, "loso", tmp_path, clips, computing=True)  # the driver claimed the folder with its data
    theirs = clips.subset(range(len(clips)))
    theirs.apex = theirs.apex.copy()
    theirs.apex[0, 0, 0, 0] ^= 1  # one pixel of one frame differs on that node
    trained = []
    monkeypatch.setattr(icezoo.data, "load_clips", lambda recipe: theirs)
    monkeypatch.setattr(fold_fit, "Trainer", lambda *a, **k: trained.append(a))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    fold = make_folds("loso", clips, recipe.eval)[0]
    with pytest.raises(IcezooError, match=r"a folder of another run \(data.content_sha256 = "):
        run_fold_task(FoldJob(recipe, "loso", str(tmp_path), fold.name), use_gpu=False)
    assert trained == [] and not (tmp_path / "folds").exists()
    # a node that does not see the folder (no shared filesystem) refuses on the stamp its job carries
    from icezoo.eval.identity import RunIdentity

    expected = RunIdentity.of(recipe, "loso", clips).stamp()
    elsewhere = tmp_path / "not_shared"
    with pytest.raises(IcezooError, match=r"fold \S+ on .*: a job of another run \(data.content_sha256 = "):
        run_fold_task(FoldJob(recipe, "loso", str(elsewhere), fold.name, expected=expected), use_gpu=False)
    assert trained == [] and not elsewhere.exists()
