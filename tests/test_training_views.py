"""A recogniser's training views (CapsuleNet's augmentation): the same pictures as torchvision's pipeline, seeded,
the centre crop at test, and one clear line for what an input cannot take."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

import icezoo
from icezoo.config.schema import TrainConfig
from icezoo.data.synthetic import synthetic
from icezoo.errors import IcezooError, RecipeError
from icezoo.eval.protocols import protocol_folds
from icezoo.inputs import Apex, FlowStrain, LBPTop
from icezoo.inputs.base import centre_crop
from icezoo.recognition.augment import TrainingViews
from icezoo.recognition.fit import fit_and_score_baseline

from .conftest import RECIPES
from .helpers import fresh_feature_cache  # noqa: F401  (autouse: each test its own feature cache)

NEAREST = InterpolationMode.NEAREST  # torchvision's RandomRotation default, both originals


def views(stored=(1, 40, 44), out=(1, 32, 32), value_range=(0.0, 1.0), **train) -> TrainingViews:
    return TrainingViews(TrainConfig(**train), stored=stored, out=out, value_range=value_range)


@pytest.mark.parametrize("degrees", [8.0, -8.0, 30.0])
def test_rotation_mirror_and_crop_are_torchvisions_rotate_flip_then_crop(degrees):
    """CapsuleNet's RandomRotation, RandomHorizontalFlip and RandomCrop, each sample with given parameters."""
    x = torch.rand(2, 1, 40, 44, generator=torch.Generator().manual_seed(0))
    left, top = torch.tensor([3.0, 12.0]), torch.tensor([2.0, 8.0])
    ours = views().resample(x, torch.tensor([degrees, -degrees]), torch.tensor([False, True]), left, top)
    plain = TF.rotate(x[0], degrees, interpolation=NEAREST)[:, 2:34, 3:35]
    mirrored = TF.horizontal_flip(TF.rotate(x[1], -degrees, interpolation=NEAREST))[:, 8:40, 12:44]
    torch.testing.assert_close(ours[0], plain, atol=1e-5, rtol=0)
    torch.testing.assert_close(ours[1], mirrored, atol=1e-5, rtol=0)


def test_a_crop_at_a_whole_offset_is_that_window_and_the_corners_a_rotation_uncovers_are_black():
    x = torch.rand(1, 1, 40, 44) * 2 - 1  # a signed face: black is -1
    v = TrainingViews(TrainConfig(), stored=(1, 40, 44), out=(1, 32, 32), value_range=(-1.0, 1.0), fill=-1.0)
    window = v.resample(x, torch.zeros(1), torch.zeros(1, dtype=torch.bool), torch.tensor([7.0]), torch.tensor([5.0]))
    torch.testing.assert_close(window, x[..., 5:37, 7:39], atol=2e-5, rtol=0)  # float32 grid coordinates
    turned = v.resample(
        x, torch.tensor([45.0]), torch.zeros(1, dtype=torch.bool), torch.tensor([6.0]), torch.tensor([4.0])
    )
    assert turned[0, 0, 0, 0] == pytest.approx(-1.0)  # outside the rotated face


def test_a_mirrored_flow_changes_the_sign_of_u_only():
    x = torch.randn(4, 3, 28, 28)  # u, v, strain
    v = TrainingViews(TrainConfig(augment_flip=True), stored=(3, 28, 28), out=(3, 28, 28), mirror_negates=(0,))
    out = v(x, step=0)
    mirrored = [bool((out[i, 1] - x[i, 1].flip(-1)).abs().max() < 1e-5) for i in range(4)]
    assert 0 < sum(mirrored) < 4  # half, by chance: the seed gives both kinds in four samples
    for i, m in enumerate(mirrored):
        expected = torch.stack([-x[i, 0].flip(-1), x[i, 1].flip(-1), x[i, 2].flip(-1)]) if m else x[i]
        torch.testing.assert_close(out[i], expected, atol=5e-5, rtol=0)  # float32 grid coordinates


def test_jitter_is_torchvisions_brightness_and_contrast_in_the_faces_range():
    face = torch.rand(1, 1, 16, 16)
    v = views(stored=(1, 16, 16), out=(1, 16, 16), value_range=(-1.0, 1.0), augment_jitter=(0.2, 0.2))
    signed = face * 2 - 1
    # factors 1.2 (brightness) and 0.8 (contrast), brightness first (order < 0.5)
    out = v._jitter(signed, torch.tensor([0.0]), torch.tensor([[1.0, 0.0]], dtype=torch.float64))
    expected = TF.adjust_contrast(TF.adjust_brightness(face, 1.2), 0.8) * 2 - 1
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    other = v._jitter(signed, torch.tensor([1.0]), torch.tensor([[1.0, 0.0]], dtype=torch.float64))
    torch.testing.assert_close(other, TF.adjust_brightness(TF.adjust_contrast(face, 0.8), 1.2) * 2 - 1, atol=1e-5,
                               rtol=0)  # fmt: skip


def test_views_are_drawn_from_the_seed_and_the_step():
    x = torch.rand(8, 1, 40, 44)
    v = views(augment_rotation=8.0, augment_flip=True, augment_jitter=(0.2, 0.2))
    assert v(x, 3).shape == (8, 1, 32, 32)
    torch.testing.assert_close(v(x, 3), v(x, 3), atol=0, rtol=0)
    assert not torch.equal(v(x, 3), v(x, 4))
    assert not torch.equal(v(x, 3), views(augment_rotation=8.0, augment_flip=True, augment_jitter=(0.2, 0.2),
                                          seed=1)(x, 3))  # fmt: skip


def test_capsulenets_face_is_a_234x240_unit_face_whose_centre_224_crop_the_recogniser_reads():
    clips = synthetic(image_size=32).subset(range(3))
    apex = Apex(size=(234, 240), crop=224, scale="unit")
    assert apex.stored_shape(32) == (1, 234, 240) and apex.shape(32) == (1, 224, 224)
    stored, read = apex(clips, progress=False, stored=True), apex(clips, progress=False)
    assert stored.shape == (3, 1, 234, 240) and stored.min() >= 0 and stored.max() <= 1
    np.testing.assert_array_equal(read, stored[..., 5:229, 8:232])  # torchvision's CenterCrop offsets
    np.testing.assert_array_equal(centre_crop(stored, (224, 224)), read)
    with pytest.raises(IcezooError, match="crop must lie in 1..234"):
        Apex(size=(234, 240), crop=235)
    with pytest.raises(IcezooError, match="larger than the 32x32 face"):
        Apex(crop=64).shape(32)


def test_the_capsulenet_recipe_asks_for_its_originals_views():
    recipe = icezoo.load_recipe(RECIPES / "table1" / "capsulenet.yaml")
    train = recipe.train
    assert (train.augment_rotation, train.augment_flip, tuple(train.augment_jitter)) == (8, True, (0.2, 0.2))
    assert recipe.model.input == {"type": "apex", "size": [234, 240], "crop": 224, "scale": "unit",
                                  "resample": "bilinear"}  # fmt: skip
    assert recipe.loss.class_balance  # its training set was resampled to equal counts per class
    model = icezoo.build_model(recipe)
    assert model.in_shape == (1, 224, 224)
    assert TrainingViews.of(train, model.input, 128, model.in_shape).stored == (1, 234, 240)


def test_views_an_input_cannot_take_are_one_line_naming_the_key():
    for key, value, input_, says in [
        ("augment_flip", True, LBPTop(), "input 'lbp_top' is not an image"),
        ("augment_rotation", 8.0, FlowStrain(), "input 'flow_strain' is a flow field (a rotation"),
        ("augment_jitter", (0.2, 0.2), FlowStrain(), "input 'flow_strain' is a flow field (no colours)"),
    ]:
        with pytest.raises(IcezooError) as err:
            TrainingViews.of(TrainConfig(**{key: value}), input_, 32, input_.shape(32))
        assert str(err.value).startswith(f"train.{key}: {says}") and "\n" not in str(err.value)
    assert TrainingViews.of(TrainConfig(augment_flip=True), FlowStrain(), 32, (3, 28, 28)).mirror_negates == (0,)
    assert TrainingViews.of(TrainConfig(), Apex(), 32, (1, 32, 32)) is None  # nothing to do


def test_a_recipe_asking_what_its_input_or_model_cannot_take_is_refused_before_training(cli):
    code, _, err = cli("build", RECIPES / "table1" / "ststnet.yaml", "--set", "train.augment_rotation=8")
    assert code == 2 and "train.augment_rotation: input 'flow_strain' is a flow field" in err
    code, _, err = cli("build", RECIPES / "table1" / "lbp_top.yaml", "--set", "model.input={type: apex}",
                       "--set", "train.augment_flip=true")  # fmt: skip
    assert code == 2 and "train.augment_flip: recogniser 'svm' is fitted once on the features" in err
    with pytest.raises(RecipeError, match="train.augment_jitter: is for recognisers on a picture"):
        icezoo.load_recipe(RECIPES / "icegan.yaml", ["train.augment_jitter=[0.2, 0.2]"])
    with pytest.raises(RecipeError, match="train.augment_rotation: must be at most 180"):
        icezoo.load_recipe(RECIPES / "table1" / "capsulenet.yaml", ["train.augment_rotation=200"])


def test_a_recogniser_trains_on_random_crops_and_is_scored_on_the_centre_crop(monkeypatch):
    """A fold of STSTNet on 28x28 crops of 32x32 apex faces with every view: what the network saw in training
    varies from step to step; the test features are the centre crops."""
    clips = synthetic(image_size=32)
    recipe = icezoo.load_recipe(RECIPES / "table1" / "ststnet.yaml", [
        "model.image_size=32", "model.input={type: apex, size: 32, crop: 28}", "train.augment_rotation=8",
        "train.augment_flip=true", "train.augment_jitter=[0.2, 0.2]", "train.max_steps=3", "train.batch_size=8",
        "eval.test_subjects=20", "eval.bootstrap=0"])  # fmt: skip
    seen = []
    real_forward = type(icezoo.build_model(recipe).recogniser).forward

    def watching(self, x):
        seen.append((self.training, x.detach().clone()))
        return real_forward(self, x)

    monkeypatch.setattr(type(icezoo.build_model(recipe).recogniser), "forward", watching)
    fold = protocol_folds(recipe, "split", clips)[0]
    result = fit_and_score_baseline(recipe, clips, fold)
    trained = [x for training, x in seen if training]
    scored = torch.cat([x for training, x in seen if not training])
    assert len(trained) == 3 and all(x.shape[1:] == (1, 28, 28) for x in trained)
    test = clips.subset(clips.indices_of(fold.test))
    centre = torch.from_numpy(np.asarray(recipe_faces(test)[..., 2:30, 2:30]))
    torch.testing.assert_close(scored, centre, atol=0, rtol=0)
    assert len(result.rows) == len(test)
    train = clips.subset(clips.indices_of(fold.train))
    centres = torch.from_numpy(np.asarray(recipe_faces(train)[..., 2:30, 2:30])).flatten(1)
    for sample in torch.cat(trained).flatten(1):  # no view is a training face's plain centre crop
        assert (centres - sample).abs().amax(1).min() > 1e-3


def recipe_faces(clips) -> np.ndarray:
    return Apex()(clips, progress=False)


def test_an_estimator_on_a_cropping_input_fits_and_scores_the_centre_crops():
    clips = synthetic(image_size=32)
    recipe = icezoo.load_recipe(RECIPES / "table1" / "lbp_top.yaml", [
        "model.image_size=32", "model.input={type: apex, crop: 28}", "eval.test_subjects=20", "eval.bootstrap=0"])  # fmt: skip
    fold = protocol_folds(recipe, "split", clips)[0]
    result = fit_and_score_baseline(recipe, clips, fold)
    assert result.model.recogniser.n_features_in_ == 28 * 28
    assert len(result.rows) == len(clips.subset(clips.indices_of(fold.test)))


def test_grad_clip_clips_each_top_level_part_on_its_own(monkeypatch):
    """ME-Recognizer clipped its ResNet, each head and each classifier to norm 1 separately."""
    from icezoo.recognition import build_baseline
    from icezoo.recognition.fit import _train_network

    norms = []

    class Recording(torch.optim.Adam):
        def step(self, closure=None):
            parts = self.param_groups[0]["params"]
            norms.append(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in parts if p.grad is not None])))
            return super().step(closure)

    recipe = icezoo.load_recipe(RECIPES / "table1" / "ststnet.yaml", [
        "train.epochs=1", "train.batch_size=8", "train.grad_clip=1e-3"])  # fmt: skip
    model = build_baseline(recipe)
    seen = []
    real = torch.nn.utils.clip_grad_norm_

    def watching(parameters, max_norm, **kwargs):
        parameters = list(parameters)
        seen.append(len(parameters))
        total = real(parameters, max_norm, **kwargs)
        after = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in parameters]))
        assert after <= max_norm * 1.01
        return total

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", watching)
    monkeypatch.setattr(torch.optim, "Adam", Recording)
    x = np.random.default_rng(0).normal(size=(8, 3, 28, 28)).astype(np.float32) * 100
    _train_network(recipe, model, x, np.arange(8) % 3, torch.device("cpu"))
    parts = [n for n in (len(list(part.parameters())) for part in model.recogniser.children()) if n]
    assert seen == parts and len(parts) > 1  # one clip per top-level module with parameters
    assert norms[0] <= 1e-3 * len(parts) ** 0.5 * 1.01


def test_a_face_resized_bilinear_is_pils_bilinear():
    from PIL import Image

    clips = synthetic(image_size=32).subset(range(2))
    bilinear = Apex(size=(20, 24), resample="bilinear", scale="unit")(clips, progress=False)
    expected = np.asarray(Image.fromarray(clips.apex[0, 0]).resize((24, 20), Image.BILINEAR), np.float32) / 255
    np.testing.assert_allclose(bilinear[0, 0], expected, atol=1e-6)
    assert not np.allclose(Apex(size=(20, 24), scale="unit")(clips, progress=False), bilinear)  # Lanczos by default
    with pytest.raises(IcezooError, match="resample must be one of"):
        Apex(resample="cubic")
