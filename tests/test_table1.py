"""Table I's baselines as recipes: their sizes and paper numbers, a fold of each kind, their fold models, bad input."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest
import torch

import icezoo
from icezoo.data import ClipSet
from icezoo.data.clips import ClipFrames
from icezoo.data.synthetic import synthetic
from icezoo.errors import IcezooError
from icezoo.eval.job import Context, FoldJob, run_fold_job
from icezoo.eval.protocols import protocol_folds
from icezoo.eval.report import write_report
from icezoo.eval.tables import PAPER_TABLE_I
from icezoo.inputs import flow as flow_module
from icezoo.nn.recognisers import CAPSULENET_MARGIN

from .conftest import RECIPES
from .helpers import fresh_feature_cache  # noqa: F401  (autouse: each test its own feature cache)

TABLE1 = RECIPES / "table1"
BASELINES = ["capsulenet", "dual_inception", "emr_approx", "lbp_top", "ststnet"]
ROWS = {"capsulenet": "CapsuleNet", "dual_inception": "Dual-Inception", "lbp_top": "LBP-TOP", "ststnet": "STSTNet",
        "icegan": "ICE-GAN", "emr_approx": "ME-Recognizer"}  # fmt: skip


@pytest.fixture(scope="module")
def clips() -> ClipSet:
    """The clips of nine synthetic subjects (three per database) at 32x32, with their sequences."""
    with pytest.MonkeyPatch.context() as m:
        m.delenv("ICEZOO_CACHE", raising=False)
        full = synthetic(image_size=32)
    return full.subset(full.indices_of(_per_database(full, 3)))


def _per_database(clips: ClipSet, k: int) -> list[str]:
    """The first ``k`` subjects of each database."""
    return [s for d in ("smic", "casme2", "samm") for s in sorted({s for s in clips.subject if s.startswith(d)})[:k]]


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "name, params",
    [("ststnet", 1_683), ("dual_inception", 6_449_867), ("lbp_top", 0)]
    + [pytest.param("capsulenet", 13_842_496, marks=pytest.mark.slow)]
    + [pytest.param("emr_approx", 11_242_953, marks=pytest.mark.slow)],  # fmt: skip
)
def test_icezoo_build_prints_each_baselines_parameters_and_flops(cli, name, params):
    code, out, err = cli("build", TABLE1 / f"{name}.yaml", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["total"]["params"] == params
    assert (report["total"]["flops_per_image"] > 0) == (params > 0)  # an SVM's cost is not counted
    assert report["components"][0]["path"] == "input"
    code, out, _ = cli("build", TABLE1 / f"{name}.yaml")
    assert code == 0 and f"{params:,}" in out


def test_table1_recipes_carry_the_published_row_and_the_training_numbers():
    recipes = {name: icezoo.load_recipe(TABLE1 / f"{name}.yaml") for name in [*BASELINES, "icegan"]}
    for name, recipe in recipes.items():
        paper = recipe.paper
        published = PAPER_TABLE_I["ICE-GAN (paper)" if name == "icegan" else ROWS[name]]
        assert (paper.table, paper.row) == ("I", ROWS[name])
        assert (paper.uf1, paper.uar) == published["all"]
        assert {d: tuple(v) for d, v in paper.datasets.items()} == {d: published[d] for d in ("samm", "smic", "casme2")}
    assert recipes["icegan"].model.generator == icezoo.load_recipe(RECIPES / "icegan.yaml").model.generator
    ststnet, dual, caps = recipes["ststnet"].train, recipes["dual_inception"].train, recipes["capsulenet"].train
    assert (ststnet.lr, ststnet.batch_size, ststnet.epochs, ststnet.schedule) == (5e-5, 256, 500, "constant")
    assert (dual.lr, dual.epochs, recipes["dual_inception"].loss.class_balance) == (1e-4, 40, True)
    assert (caps.lr, caps.batch_size, caps.epochs, caps.schedule, caps.lr_gamma) == (1e-4, 32, 30, "exponential", 0.9)
    margin = recipes["capsulenet"].loss.classification
    assert {k: margin[k] for k in CAPSULENET_MARGIN} == CAPSULENET_MARGIN and margin["type"] == "margin"
    assert recipes["dual_inception"].model.input["target"] == "middle"
    dual_eval = recipes["dual_inception"].eval  # its authors chose the epoch on held-out subjects, never the test one
    assert (dual_eval.select, dual_eval.validation_subjects) == ("best_validation", 12)
    assert recipes["ststnet"].model.input == {**recipes["ststnet"].model.input, "type": "flow_strain", "size": 28}
    assert "test" in recipes["capsulenet"].paper.selection  # its published run chose epochs on the test subject
    assert "precision" in recipes["ststnet"].paper.caveat  # its published UAR is mean per-class precision
    assert "common configuration" in recipes["lbp_top"].paper.caveat
    svm = recipes["lbp_top"].model.recogniser
    assert (svm["type"], svm["kernel"], svm["C"]) == ("svm", "linear", 1.0)
    emr = recipes["emr_approx"]  # Train/main.py's numbers
    assert (emr.train.lr, emr.train.weight_decay, emr.train.batch_size, emr.train.epochs) == (1e-3, 1e-6, 32, 100)
    assert (emr.train.schedule, emr.train.lr_gamma, emr.train.lr_step, emr.train.grad_clip) == ("step", 0.5, 10, 1.0)
    assert (emr.train.augment_rotation, tuple(emr.train.augment_jitter), emr.train.augment_flip) == (10, (0.2, 0.2),
                                                                                                    False)  # fmt: skip
    assert emr.model.recogniser["backbone_lr"] == 1e-5
    farneback = dict(
        type="flow_hsv", size=256, crop=224, pyr_scale=0.5, levels=1, winsize=15, iterations=2, poly_n=5, poly_sigma=1.1
    )  # Prepare.py's calcOpticalFlowFarneback and Train/main.py's Resize, RandomCrop
    assert emr.model.input == farneback
    assert "CK+" in emr.paper.caveat and "test" in emr.paper.selection


def test_recipes_without_the_new_keys_resolve_as_before():
    """Keys added for the baselines are left out of a GAN recipe's resolved form (so of its fingerprint)."""
    plain = icezoo.load_recipe(RECIPES / "icegan.yaml").to_dict()
    assert "input" not in plain["model"] and "recogniser" not in plain["model"] and "lr_gamma" not in plain["train"]
    assert not {"datasets", "selection", "caveat"} & set(plain["paper"])
    assert "discriminator" not in icezoo.load_recipe(TABLE1 / "ststnet.yaml").to_dict()["model"]


def _run(recipe, clips, out, protocol="split", keep=True):
    """Every fold of ``recipe`` on ``clips`` through the fold job, then the report."""
    context = Context(clips=clips)
    folds = protocol_folds(recipe, protocol, clips)
    for fold in folds:
        run_fold_job(FoldJob(recipe, protocol, str(out), fold.name, keep_model=keep), context)
    return context.folder, folds, write_report(recipe, protocol, context.folder, folds)


SPLIT = ["eval.test_subjects=3", "eval.bootstrap=20"]


def test_an_svm_fold_trains_reports_the_published_figure_apart_and_keeps_no_pickle(clips, tmp_path):
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    recipe = icezoo.load_recipe(TABLE1 / "lbp_top.yaml", ["model.image_size=32", "model.input.blocks=2", *SPLIT])
    clips = clips.subset(clips.indices_of(_per_database(clips, 2)))
    folder, folds, metrics = _run(recipe, clips, tmp_path / "run")
    published = metrics["published"]
    assert published["label"] == "published, MEGC2019" and published["figures"]["all"] == [0.588, 0.578]
    assert published["same_data"] is False and "common configuration" in published["caveat"]
    table = (tmp_path / "run" / "table.md").read_text()
    assert "| MEGC2019 | " + f"{metrics['overall']['uf1']:.3f}" in table  # ours, in our column
    assert "0.588 | 0.578 |" in table and "reference only" in table and "measured on MEGC2019" in table
    assert not any(p.suffix in (".pkl", ".pickle", ".joblib") for p in (tmp_path / "run").rglob("*"))
    kept = folder.model(folds[0])
    state = torch.load(kept, weights_only=True)  # data only
    skops_file = kept.with_suffix(".skops")
    assert state["estimator"]["file"] == skops_file.name and state["recogniser"] is None
    model = folder.load_model(folds[0])
    test = clips.subset(clips.indices_of(folds[0].test))
    rows = folder.read_predictions(folds)
    assert [r["pred"] for r in rows] == [icezoo.data.CLASSES[k] for k in model.scores(model.features(test)).argmax(1)]
    # an estimator file holding a type icezoo does not trust is refused, even with the checkpoint's digest matched
    skops_file.write_bytes(sio.dumps(FunctionTransformer(os.system)))  # written, never run

    torch.save({**state, "estimator": {"file": skops_file.name,
                                       "sha256": "sha256:" + hashlib.sha256(skops_file.read_bytes()).hexdigest()}},
               kept)  # fmt: skip
    with pytest.raises(IcezooError) as err:
        folder.load_model(folds[0])
    assert "does not trust" in one_line(err) and str(skops_file) in str(err.value)


@pytest.mark.slow
def test_a_network_fold_trains_with_selection_and_keeps_its_state_dict(clips, tmp_path):
    recipe = icezoo.load_recipe(TABLE1 / "ststnet.yaml", [
        "model.image_size=32", *SPLIT, "train.epochs=4", "train.batch_size=16", "train.lr=1e-2",
        "eval.validation_subjects=2", "eval.select=best_validation"])  # fmt: skip
    folder, folds, metrics = _run(recipe, clips, tmp_path / "run")
    info = folder.read_info(folds[0])
    assert len(info["selection"]["candidates"]) == 4 and "validation" in info["selection"]["candidates"][0]
    state = torch.load(folder.model(folds[0]), weights_only=True)
    assert set(state["recogniser"]) == set(icezoo.build_model(recipe).recogniser.state_dict())
    model = folder.load_model(folds[0])
    assert isinstance(model.recogniser, torch.nn.Module) and not model.recogniser.training
    assert metrics["published"]["row"] == "STSTNet" and metrics["recogniser_mb"] == pytest.approx(1683 * 4 / 1e6)
    assert "Baseline: recogniser `ststnet` on input `flow_strain`." in (tmp_path / "run" / "table.md").read_text()


def test_a_second_loso_fold_computes_no_flow(clips, tmp_path, monkeypatch):
    calls = []
    real = flow_module.tvl1_flow
    monkeypatch.setattr(flow_module, "tvl1_flow", lambda *a, **k: calls.append(1) or real(*a, **k))
    few = clips.subset(clips.indices_of(sorted(set(clips.subject))[:3]))
    recipe = icezoo.load_recipe(TABLE1 / "ststnet.yaml", ["model.image_size=32", "train.max_steps=1"])
    folds = protocol_folds(recipe, "loso", few)
    context = Context(clips=few)
    run_fold_job(FoldJob(recipe, "loso", str(tmp_path / "run"), folds[0].name), context)
    assert len(calls) == len(few)  # every clip once: training and test subjects
    run_fold_job(FoldJob(recipe, "loso", str(tmp_path / "run"), folds[1].name), context)
    assert len(calls) == len(few)


def test_a_recogniser_whose_input_does_not_fit_is_one_line_naming_both_shapes(cli):
    with pytest.raises(IcezooError) as err:
        icezoo.load_recipe(TABLE1 / "dual_inception.yaml", ["model.input={type: flow_strain}"])
    message = one_line(err)
    assert "flow_strain" in message and "(3, 28, 28)" in message and "(2k, H, W)" in message
    code, out, err_text = cli("build", TABLE1 / "ststnet.yaml", "--set", "model.input={type: apex, size: 1}")
    assert code == 2 and err_text.count("\n") == 1 and "(1, 1, 1)" in err_text and "ststnet" in err_text
    with pytest.raises(IcezooError, match="gives logits"):
        icezoo.load_recipe(TABLE1 / "ststnet.yaml", ["loss.classification={type: margin}"])
    with pytest.raises(IcezooError, match="exponential is for recognisers"):
        icezoo.load_recipe(RECIPES / "icegan.yaml", ["train.schedule=exponential", "train.lr_gamma=0.9"])


def test_a_one_frame_clip_for_a_flow_input_is_one_line(clips, tmp_path):
    same = ClipFrames(5, 5, 9, lambda numbers: np.zeros((len(numbers), 32, 32), np.uint8))
    pick = clips.subset(clips.indices_of(sorted(set(clips.subject))[:2]))
    frames = [same, *pick.frames[1:]]
    bad = ClipSet(pick.onset, pick.apex, pick.label, pick.subject, pick.dataset, pick.clip, frames)
    recipe = icezoo.load_recipe(TABLE1 / "ststnet.yaml", ["model.image_size=32", "train.max_steps=1"])
    fold = protocol_folds(recipe, "loso", bad)[1]  # trains on the first subject, whose first clip is one frame
    with pytest.raises(IcezooError) as err:
        icezoo.eval.fold.fit_and_score(recipe, bad, fold)
    assert f"{bad.subject[0]}/{bad.clip[0]}" in one_line(err) and "same frame" in str(err.value)


def test_a_converted_release_ststnet_is_read_by_load_checkpoint_with_the_table1_recipe(tmp_path, cli):
    from icezoo.convert import STSTNET_RELEASE_CLASSES

    from .test_recognisers import release_state, their_forward

    state = release_state(seed=3)
    torch.save(state, tmp_path / "sub01.pth")
    code, _, err = cli("convert-release", "--ststnet", tmp_path / "sub01.pth", "--out", tmp_path / "ststnet.pt")
    assert code == 0, err
    model, recipe = icezoo.load_checkpoint(tmp_path / "ststnet.pt")
    assert recipe.to_dict() == icezoo.load_recipe(TABLE1 / "ststnet.yaml").to_dict()
    x = torch.rand(4, 3, 28, 28) * 255  # their layout: u, v, strain as 0-255 image values
    order = [STSTNET_RELEASE_CLASSES.index(c) for c in icezoo.data.CLASSES]
    torch.testing.assert_close(model.recognise(x), their_forward(state, x)[:, order], rtol=1e-5, atol=1e-4)
    assert model.trained_on["type"] == "megc2019"


def test_predict_answers_for_a_flow_fold_model_from_frames_and_refuses_an_image(clips, tmp_path, cli):
    from PIL import Image

    recipe = icezoo.load_recipe(TABLE1 / "ststnet.yaml", ["model.image_size=32", "train.max_steps=1", *SPLIT])
    folder, folds, _ = _run(recipe, clips.subset(clips.indices_of(_per_database(clips, 2))), tmp_path / "run")
    kept = folder.model(folds[0])
    clip = clips.frames[0]
    (tmp_path / "clip").mkdir()
    for i, frame in enumerate(clip.sequence()):
        Image.fromarray(frame).save(tmp_path / "clip" / f"frame{i}.png")
    code, out, err = cli("predict", kept, "--frames", tmp_path / "clip", "--no-align", "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["class"] in icezoo.data.CLASSES and answer["score_kind"] == "logits"
    assert answer["apex_frame"] > 0 and answer["frame_count"] == len(clip.sequence())
    code, _, err = cli("predict", kept, "--image", tmp_path / "clip" / "frame3.png")
    assert code == 2 and err.count("\n") == 1 and "flow_strain" in err and "--frames" in err


def test_a_network_fold_model_exports_to_a_model_folder_that_answers_as_the_fold_model(clips, tmp_path, cli):
    recipe = icezoo.load_recipe(TABLE1 / "ststnet.yaml", ["model.image_size=32", "train.max_steps=1", *SPLIT])
    folder, folds, _ = _run(recipe, clips.subset(clips.indices_of(_per_database(clips, 2))), tmp_path / "run")
    code, _, err = cli("export", folder.model(folds[0]), "--out", tmp_path / "exported")
    assert code == 0, err
    kept, _ = icezoo.load_checkpoint(folder.model(folds[0]))
    exported, _ = icezoo.load_checkpoint(tmp_path / "exported")
    x = torch.rand(3, 3, 28, 28)
    torch.testing.assert_close(exported.recognise(x), kept.recognise(x))
    card = (tmp_path / "exported" / "README.md").read_text()
    assert "A baseline of Table I" in card and "--frames DIR" in card and "icezoo synth" not in card


def test_predict_reads_an_apex_baseline_from_one_face(clips, tmp_path, cli):
    from PIL import Image

    recipe = icezoo.load_recipe(TABLE1 / "ststnet.yaml", [
        "model.image_size=32", "train.max_steps=1", *SPLIT, "model.input={type: apex}"])  # fmt: skip
    folder, folds, _ = _run(recipe, clips.subset(clips.indices_of(_per_database(clips, 2))), tmp_path / "run")
    Image.fromarray(clips.apex[0, 0]).save(tmp_path / "face.png")
    code, out, err = cli("predict", folder.model(folds[0]), "--image", tmp_path / "face.png", "--no-align", "--json")
    assert code == 0, err
    model, _ = icezoo.load_checkpoint(folder.model(folds[0]))
    face = torch.from_numpy(clips.apex[:1, :1].astype(np.float32) / 127.5 - 1)
    assert json.loads(out)["scores"] == pytest.approx(dict(zip(icezoo.data.CLASSES, model.recognise(face)[0].tolist())))


def test_bench_times_a_baselines_features_and_recogniser_and_says_an_svm_is_not_timed():
    from icezoo.bench.recipes import bench_recipe

    rows = []
    for name in ("ststnet", "lbp_top"):
        rows += bench_recipe(icezoo.load_recipe(TABLE1 / f"{name}.yaml"), device=torch.device("cpu"), batch_sizes=[4],
                             precisions=["fp32"], warmup=0, iters=1)  # fmt: skip
    assert [r.what for r in rows] == ["input features", "recogniser forward", "train step", "input features",
                                      "skipped"]  # fmt: skip
    features = [rows[0], rows[3]]  # clips/s of the input, computed (never read from the cache) on 4 clips
    assert all(r.extra["unit"] == "clips/s" and r.batch == 4 and r.median_ms > 0 for r in features)
    assert [r.extra["input"] for r in features] == ["flow_strain", "lbp_top"]
    assert rows[1].flops_per_call > 0 and rows[2].flops_per_call > 2 * rows[1].flops_per_call  # backward costs more
    assert "scikit-learn" in rows[4].extra["reason"]


@pytest.mark.slow
def test_eval_keep_models_then_icezoo_test_and_train_on_the_command_line(tmp_path, cli):
    tiny = ["--set", "model.image_size=32", "--set", "model.input.blocks=2", "--set", "eval.bootstrap=20"]
    code, out, err = cli("eval", TABLE1 / "lbp_top.yaml", "--protocol", "split", "--keep-models", "--no-progress",
                         "--out", tmp_path / "run", *tiny)  # fmt: skip
    assert code == 0, err
    assert "published, MEGC2019" in (tmp_path / "run" / "table.md").read_text()
    assert (tmp_path / "run" / "folds" / "split.skops").is_file()
    code, out, err = cli("test", tmp_path / "run")
    assert code == 0 and "identical to" in out, (out, err)  # the kept .skops models predict the run's predictions
    code, out, err = cli("train", TABLE1 / "lbp_top.yaml", "--out", tmp_path / "trained", "--no-progress", *tiny)
    assert code == 0, err
    model, recipe = icezoo.load_checkpoint(tmp_path / "trained" / "checkpoint.pt")
    assert recipe.name == "table1_lbp_top" and model.is_estimator and model.trained_on["clips"] == 442


def test_published_figures_never_share_a_column_with_ours():
    from icezoo.eval.report import markdown_report
    from icezoo.eval.tables import published_figures, table_i_comparison

    paper = icezoo.load_recipe(TABLE1 / "capsulenet.yaml").to_dict()["paper"]
    block = {"uf1": 0.5, "uar": 0.45, "n": 10}
    metrics = {"overall": block, "per_dataset": {"samm": block}, "folds": 68, "versions": [],
               "data": {"type": "megc2019", "clips": 442, "subjects": 68, "comparable_to_published": True},
               "interval_95": {"method": "bootstrap", "uf1": [0.4, 0.6], "uar": [0.35, 0.55]}}  # fmt: skip
    metrics["published"] = published_figures(paper, True)
    table = markdown_report("loso", metrics, "table1_capsulenet", paper)
    head = next(line for line in table.splitlines() if line.startswith("| Database |"))
    assert head == ("| Database | ours UF1 | ours UAR | UF1 (published, MEGC2019) | UAR (published, MEGC2019) |")
    assert "| MEGC2019 | 0.500 [0.40, 0.60] | 0.450 [0.35, 0.55] | 0.652 | 0.650 |" in table
    assert "| SMIC | - | - | 0.582 | 0.587 |" in table and "test-epoch selection" in table
    assert "reference only" not in table  # MEGC2019 data: a comparison
    assert "| LBP-TOP |" not in table  # the other published rows stay out of our Table I columns
    metrics["baseline"] = {"input": "apex", "recogniser": "capsulenet", "start": "from scratch"}
    assert "its backbone starts from scratch" in markdown_report("loso", metrics, "table1_capsulenet", paper)
    assert "autocast" not in table  # fp32 (or older metrics without the key) says nothing
    metrics["precision"] = "bf16"  # a run under bf16 says so
    assert "Trained and scored under bf16 autocast" in markdown_report("loso", metrics, "table1_capsulenet", paper)
    entries = [{"name": "table1_capsulenet", **metrics}, {"name": "other", "overall": block}]
    comparison = table_i_comparison(entries).splitlines()
    assert comparison[2].startswith("| table1_capsulenet | 0.500 [0.40, 0.60] | 0.450 [0.35, 0.55] | 0.652 | 0.650 |")
    assert comparison[3] == "| other | 0.500 | 0.450 | - | - | - |"


@pytest.mark.parametrize("schedule, factors", [
    (["train.schedule=exponential", "train.lr_gamma=0.5"], [1, 0.5, 0.25]),  # CapsuleNet's ExponentialLR, per epoch
    (["train.schedule=step", "train.lr_gamma=0.5", "train.lr_step=2"], [1, 1, 0.5]),  # ME-Recognizer's halving
    (["train.schedule=constant"], [1, 1, 1]), (["train.schedule=cosine"], [1, 0.75, 0.25])])  # fmt: skip
def test_a_recognisers_learning_rate_follows_the_recipes_schedule(monkeypatch, schedule, factors):
    from icezoo.recognition import build_baseline
    from icezoo.recognition.fit import _train_network

    seen = []

    class Recording(torch.optim.Adam):
        def step(self, closure=None):
            seen.append(self.param_groups[0]["lr"])
            return super().step(closure)

    monkeypatch.setattr(torch.optim, "Adam", Recording)
    recipe = icezoo.load_recipe(TABLE1 / "ststnet.yaml", ["train.epochs=3", "train.batch_size=8", "train.lr=0.1",
                                                          "loss.class_balance=true", *schedule])  # fmt: skip
    model = build_baseline(recipe)
    x = np.random.default_rng(0).normal(size=(8, 3, 28, 28)).astype(np.float32)
    before = {k: v.clone() for k, v in model.recogniser.state_dict().items()}
    assert _train_network(recipe, model, x, np.arange(8) % 3, torch.device("cpu")) == 3  # one step per epoch
    assert seen == pytest.approx([0.1 * f for f in factors])
    changed = [
        k for k, v in model.recogniser.state_dict().items() if k.endswith("weight") and not torch.equal(v, before[k])
    ]
    assert len(changed) == 7  # three convolutions, three batch norms, the fully connected layer


def test_the_table_i_figure_keeps_ours_with_its_interval_and_the_published_point_apart(tmp_path):
    from PIL import Image

    from icezoo.eval.ablate import figure_rows
    from icezoo.eval.tables import published_figures
    from icezoo.plots import table_i_figure

    paper = icezoo.load_recipe(TABLE1 / "ststnet.yaml").to_dict()["paper"]
    block = {"uf1": 0.5, "uar": 0.45, "n": 10}
    ours = {"name": "table1_ststnet", "overall": block, "published": published_figures(paper, False),
            "interval_95": {"uf1": [0.4, 0.6], "uar": [0.35, 0.55]}}  # fmt: skip
    rows = figure_rows([ours, {"name": "icegan_small_pooled", "overall": block}])
    assert rows[0] == {"name": "table1_ststnet", "uf1": 0.5, "uar": 0.45,
                       "spread": {"uf1": (0.4, 0.6), "uar": (0.35, 0.55)}, "published": (0.735, 0.760)}  # fmt: skip
    assert rows[1]["published"] is None and rows[1]["spread"] is None  # no paper row, no interval: none drawn
    path = table_i_figure(rows, tmp_path / "comparison.png", title="split")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 400


# Each row's recipe on 64x64 faces, with its training budget cut where a CPU needs it (CapsuleNet and ME-Recognizer
# on smaller pictures, fewer epochs; CapsuleNet at ten times its learning rate to learn in six epochs); every other
# number is the recipe's.
LEARNS = {
    "lbp_top": [],
    "ststnet": [],
    "dual_inception": [],
    "capsulenet": ["model.input={type: apex, size: [186, 190], crop: 176, scale: unit, resample: bilinear}",
                   "train.epochs=10", "train.lr=3e-4"],
    "emr_approx": ["model.input={type: flow_hsv, size: 144, crop: 128}", "train.epochs=8"],
}  # fmt: skip


@pytest.fixture(scope="module")
def faces() -> ClipSet:
    """The synthetic stand-in (442 clips, 68 subjects) at 64x64, with its sequences."""
    with pytest.MonkeyPatch.context() as m:
        m.delenv("ICEZOO_CACHE", raising=False)
        return synthetic(image_size=64)


@pytest.mark.slow
@pytest.mark.parametrize("name", LEARNS)
def test_each_baseline_learns_above_chance_on_the_split(name, faces, tmp_path):
    """The 48/20 split: trained on 48 subjects, each row recognises the 20 others well above chance (UAR 1/3)."""
    recipe = icezoo.load_recipe(TABLE1 / f"{name}.yaml", ["model.image_size=64", "eval.bootstrap=0", *LEARNS[name]])
    _, folds, metrics = _run(recipe, faces, tmp_path / "run", keep=False)
    assert len(folds) == 1 and metrics["overall"]["n"] == 155
    assert metrics["overall"]["uar"] > 0.45, metrics["overall"]
