"""Table I's recognisers: sizes against the papers, gradients, shape checks, skops persistence, the STSTNet release."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.preprocessing import StandardScaler

import icezoo
from icezoo.convert import STSTNET_RELEASE_CLASSES, convert_ststnet, load_ststnet_checkpoint
from icezoo.data.clips import CLASSES
from icezoo.errors import IcezooError
from icezoo.losses import MarginLoss
from icezoo.nn.recognisers import CAPSULENET_MARGIN, load_estimator, save_estimator
from icezoo.nn.recognisers.svm import estimator_scores, trusted_types
from icezoo.registry import registry

from .conftest import RECIPES


def build(name: str, in_shape: tuple[int, ...], **params):
    return registry.build("recogniser", {"type": name, **params}, in_shape=in_shape, num_classes=3)


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def conv(cin: int, cout: int, k: int) -> int:
    """Parameters of a k x k convolution with bias."""
    return cout * (cin * k * k + 1)


def inception(cin: int, w: int) -> int:
    """1x1; 1x1 -> 3x3; 1x1 -> 5x5; pool -> 1x1, every convolution with a bias."""
    return 4 * conv(cin, w, 1) + conv(w, w, 3) + conv(w, w, 5)


@pytest.fixture(scope="module")
def capsulenet():
    torch.manual_seed(0)
    return build("capsulenet", (3, 224, 224)).eval()


# -- sizes and outputs --------------------------------------------------------------------------------------
def test_ststnet_counts_1683_parameters_and_gives_class_scores():
    net = build("ststnet", (3, 28, 28))
    assert count(net) == 1683  # the figure, as PyTorch counts it (Table V of the paper says 1,670)
    assert net.fc.in_features == 5 * 5 * 16
    assert net(torch.randn(4, 3, 28, 28)).shape == (4, 3)


def test_ststnet_sizes_its_fc_from_the_input():
    assert build("ststnet", (1, 28, 28)).eval()(torch.randn(2, 1, 28, 28)).shape == (2, 3)
    net = build("ststnet", (1, 64, 64))
    assert net.fc.in_features == 16 * 11 * 11 and net(torch.randn(2, 1, 64, 64)).shape == (2, 3)


def test_dual_inception_has_about_6_45_m_parameters():
    net = build("dual_inception", (2, 28, 28))
    stream = inception(1, 6) + inception(24, 16)
    expected = 2 * stream + (2 * 7 * 7 * 64 * 1024 + 1024) + (1024 * 3 + 3)
    assert count(net) == expected == 6_449_867 and round(expected / 1e6, 2) == 6.45
    assert net(torch.randn(3, 2, 28, 28)).shape == (3, 3)
    three_channel = build("dual_inception", (6, 28, 28))  # the authors' Keras code reads each flow as RGB
    assert count(three_channel) == expected + 2 * 4 * 6 * 2


def test_capsulenet_has_about_13_8_m_parameters_and_lengths_in_unit_interval(capsulenet):
    resnet18_to_layer3 = 9408 + 128 + 147_968 + 525_568 + 2_099_712  # stem, bn1, layer1..3 of torchvision's count
    expected = resnet18_to_layer3 + 2 * conv(256, 256, 9) + 3 * 32 * 6 * 6 * 16 * 8
    assert count(capsulenet) == expected == 13_842_496 and round(expected / 1e6, 1) == 13.8
    assert capsulenet.exp_caps.weight.shape == (3, 1152, 16, 8)
    with torch.no_grad():
        lengths = capsulenet(torch.rand(2, 3, 224, 224))
        gray = capsulenet(torch.rand(1, 1, 224, 224).expand(1, 1, -1, -1))
    assert lengths.shape == (2, 3) and gray.shape == (1, 3)
    assert ((lengths >= 0) & (lengths <= 1)).all()
    assert capsulenet.pretrained is False and capsulenet.backbone_weights is None


def test_capsulenet_reads_a_local_backbone_file_and_says_so(tmp_path):
    import timm

    reference = timm.create_model("resnet18", pretrained=False)
    torch.save(reference.state_dict(), tmp_path / "resnet18.pth")
    net = build("capsulenet", (1, 136, 136), backbone_weights=str(tmp_path / "resnet18.pth"))
    assert net.pretrained is True and "ImageNet weights" in repr(net)
    torch.testing.assert_close(net.backbone[0].weight, reference.conv1.weight)
    torch.testing.assert_close(net.backbone[5][1].conv2.weight, reference.layer3[1].conv2.weight)


def test_the_margin_loss_with_capsulenets_margins_is_the_authors_me_loss():
    """icezoo's registered ``margin`` loss, given the margins of me_recognition's losses.py, is their ``me_loss``."""
    lengths, labels = torch.rand(6, 3), torch.tensor([0, 1, 2, 2, 1, 0])
    y = F.one_hot(labels, 3).float()
    theirs = (y * (0.99 - lengths).clamp(min=0) ** 2 + 0.5 * (1 - y) * (lengths - 0.01).clamp(min=0) ** 2).sum(1)
    torch.testing.assert_close(MarginLoss(**CAPSULENET_MARGIN)(lengths, labels), theirs.mean())


# -- gradients ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, in_shape, loss",
    [
        ("ststnet", (3, 28, 28), F.cross_entropy),
        ("dual_inception", (2, 28, 28), F.cross_entropy),
        ("capsulenet", (3, 136, 136), MarginLoss(**CAPSULENET_MARGIN)),
    ],
)
def test_gradients_reach_every_parameter(name, in_shape, loss):
    torch.manual_seed(0)
    net = build(name, in_shape).train()
    labels = torch.tensor([0, 1, 2, 0])
    loss(net(torch.rand(4, *in_shape)), labels).backward()
    dead = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead, dead


# -- shapes that do not fit ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, in_shape, expected",
    [
        ("ststnet", (11328,), "(C, H, W)"),
        ("ststnet", (3, 1, 28), "H, W >= 2"),
        ("dual_inception", (1, 28, 28), "(2k, H, W)"),
        ("dual_inception", (2, 3, 28), "H, W >= 4"),
        ("capsulenet", (3, 64, 64), "H, W >= 129"),
        ("capsulenet", (2, 224, 224), "C 1 or 3"),
        ("svm", (0,), "(features,)"),
    ],
)
def test_a_misfit_input_is_one_line_naming_both_shapes(name, in_shape, expected):
    with pytest.raises(IcezooError) as err:
        build(name, in_shape)
    message = str(err.value)
    assert "\n" not in message and f"'{name}'" in message and expected in message and str(in_shape) in message


def test_a_users_own_recogniser_plugs_in_like_a_block():
    class Mine(torch.nn.Module):
        """A linear recogniser on flattened inputs.

        Args:
            in_shape: shape of one sample; set by icezoo.
            num_classes: number of classes; set by icezoo.
        """

        def __init__(self, in_shape, num_classes: int):
            super().__init__()
            self.fc = torch.nn.Linear(int(np.prod(in_shape)), num_classes)

        def forward(self, x):
            return self.fc(x.flatten(1))

    registry.register("recogniser", "test_mine", Mine)
    try:
        assert build("test_mine", (2, 5, 5))(torch.randn(4, 2, 5, 5)).shape == (4, 3)
        with pytest.raises(IcezooError, match="in_shape"):  # set by icezoo, not by a recipe
            registry.validate("recogniser", {"type": "test_mine", "in_shape": [1]})
    finally:
        registry._entries["recogniser"].pop("test_mine")


# -- the svm and skops --------------------------------------------------------------------------------------
def _features(n: int = 60, d: int = 20):
    rng = np.random.default_rng(0)
    y = np.arange(n) % 3
    return rng.normal(size=(n, d)) + y[:, None], y


def test_a_kept_svm_round_trips_through_skops(tmp_path):
    x, y = _features()
    est = build("svm", (20,), C=0.5).fit(x, y)
    path = save_estimator(tmp_path / "fold" / "svm.skops", est)
    assert path.is_file() and not list(path.parent.glob(".*.tmp"))
    assert path.read_bytes()[:2] == b"PK"  # a skops zip, not a pickle
    back = load_estimator(path)
    np.testing.assert_array_equal(back.predict(x), est.predict(x))
    np.testing.assert_array_equal(estimator_scores(back, x), estimator_scores(est, x))
    assert estimator_scores(est, x).shape == (60, 3) and (est.predict(x) == y).mean() > 0.6


class Untrusted(StandardScaler):
    """A scaler from outside icezoo's trusted types (defined here, in the tests)."""


def test_a_file_with_an_untrusted_type_is_refused_in_one_line(tmp_path):
    import skops.io as sio
    from sklearn.pipeline import Pipeline

    x, y = _features()
    est = Pipeline([("scale", Untrusted()), ("svm", build("svm", (20,), scale=False).steps[-1][1])]).fit(x, y)
    kind = f"{__name__}.Untrusted"
    assert kind not in trusted_types()
    with pytest.raises(IcezooError, match="Untrusted") as err:
        save_estimator(tmp_path / "kept.skops", est)
    assert not (tmp_path / "kept.skops").exists() and "\n" not in str(err.value)
    sio.dump(est, tmp_path / "foreign.skops")
    with pytest.raises(IcezooError) as err:
        load_estimator(tmp_path / "foreign.skops")
    assert "foreign.skops" in str(err.value) and kind in str(err.value) and "\n" not in str(err.value)
    (tmp_path / "broken.skops").write_bytes(b"not a zip")
    with pytest.raises(IcezooError, match="broken.skops: not a readable skops estimator"):
        load_estimator(tmp_path / "broken.skops")


# -- the authors' STSTNet weights ---------------------------------------------------------------------------
def release_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict with the key names and shapes of christy1206/STSTNet's ``Net`` (random values)."""
    g = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for i, f in enumerate((3, 5, 8), start=1):
        state[f"conv{i}.weight"] = torch.randn(f, 3, 3, 3, generator=g) * 0.02
        state[f"conv{i}.bias"] = torch.randn(f, generator=g)
        state[f"bn{i}.weight"] = torch.rand(f, generator=g) + 0.5
        state[f"bn{i}.bias"] = torch.randn(f, generator=g)
        state[f"bn{i}.running_mean"] = torch.rand(f, generator=g) * 50
        state[f"bn{i}.running_var"] = torch.rand(f, generator=g) * 100 + 1
        state[f"bn{i}.num_batches_tracked"] = torch.tensor(800)
    state["fc.weight"] = torch.randn(3, 400, generator=g) * 0.1
    state["fc.bias"] = torch.randn(3, generator=g)
    return state


def their_forward(s: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Their ``Net.forward`` in eval mode, written out: conv (padding 2) -> ReLU -> BN -> max-pool 3/3 (padding 1)."""
    branches = []
    for i in (1, 2, 3):
        y = F.relu(F.conv2d(x, s[f"conv{i}.weight"], s[f"conv{i}.bias"], padding=2))
        y = F.batch_norm(y, s[f"bn{i}.running_mean"], s[f"bn{i}.running_var"], s[f"bn{i}.weight"], s[f"bn{i}.bias"])
        branches.append(F.max_pool2d(y, 3, 3, 1))
    y = F.avg_pool2d(torch.cat(branches, 1), 2)
    return F.linear(y.flatten(1), s["fc.weight"], s["fc.bias"])


def test_the_converted_release_gives_their_scores_in_icezoos_class_order(tmp_path, cli):
    state = release_state()
    torch.save(state, tmp_path / "sub01.pth")
    code, out, err = cli("convert-release", "--ststnet", tmp_path / "sub01.pth", "--out", tmp_path / "ststnet.pt")
    assert code == 0 and "ststnet" in out, err
    net = load_ststnet_checkpoint(tmp_path / "ststnet.pt")
    x = torch.rand(5, 3, 28, 28) * 255  # u, v, strain as 0-255 image values
    theirs = their_forward(state, x)
    order = [STSTNET_RELEASE_CLASSES.index(c) for c in CLASSES]
    assert order != [0, 1, 2]  # the two orders differ: the permutation matters
    with torch.no_grad():
        torch.testing.assert_close(net(x), theirs[:, order], rtol=1e-5, atol=1e-4)
    assert [CLASSES[i] for i in net(x).argmax(1)] == [STSTNET_RELEASE_CLASSES[i] for i in theirs.argmax(1)]


@pytest.mark.parametrize(
    "change, named",
    [
        (lambda s: s.pop("bn2.running_var"), "missing key 'bn2.running_var'"),
        (lambda s: s.update({"conv4.weight": torch.zeros(1)}), "unexpected key 'conv4.weight'"),
        (lambda s: s.update({"fc.weight": torch.zeros(3, 256)}), "'fc.weight' has shape (3, 256), expected (3, 400)"),
    ],
)
def test_a_release_state_dict_that_does_not_fit_is_one_line(change, named):
    state = release_state()
    change(state)
    with pytest.raises(IcezooError) as err:
        convert_ststnet(state, "sub01.pth")
    assert str(err.value).startswith("sub01.pth: ") and named in str(err.value) and "\n" not in str(err.value)


def test_convert_release_refuses_mixed_arguments(tmp_path, cli):
    code, _, err = cli("convert-release", "G.pth", "--ststnet", "s.pth", "--out", tmp_path / "x.pt")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--ststnet" in err
    code, _, err = cli("convert-release", "G.pth", "--out", tmp_path / "x.pt")
    assert code == 2 and "GEN.pth and DISC.pth" in err


# ------------------------------------------------------------------ ME-Recognizer, approximated


def test_emr_approx_has_the_originals_size_and_a_head_per_half_face_in_training():
    from icezoo.nn.recognisers import EMRApprox

    net = EMRApprox((3, 224, 224), 3)
    assert sum(p.numel() for p in net.parameters()) == 11_242_953
    x = torch.rand(2, 3, 224, 224)
    main, top, bottom = net.train()(x)
    assert main.shape == top.shape == bottom.shape == (2, 3)
    assert net.eval()(x).shape == (2, 3)
    assert net.backbone(x).shape == (2, 512, 7, 7)
    # the upper head reads feature rows 0..2 only, the lower head rows 3..6 only (dropout off to compare)
    plain = EMRApprox((3, 224, 224), 3, dropout=0.0).train()
    maps = torch.rand(2, 512, 7, 7)
    lower_changed = maps.clone()
    lower_changed[:, :, 3:] += 1
    outputs = []
    for m in (maps, lower_changed):
        hook = plain.backbone.register_forward_hook(lambda module, args, out, m=m: m)
        outputs.append(plain(x))
        hook.remove()
    (main0, top0, bottom0), (main1, top1, bottom1) = outputs
    torch.testing.assert_close(top0, top1)
    assert not torch.allclose(bottom0, bottom1) and not torch.allclose(main0, main1)
    with pytest.raises(IcezooError, match=r"expects in_shape \(C, H, W\) with H >= \d+.*got \(3, 64, 64\)"):
        EMRApprox((3, 64, 64), 3)


def test_emr_approx_trains_its_resnet_at_its_own_unscheduled_rate_and_adds_the_halves_losses():
    from icezoo.losses import CrossEntropy
    from icezoo.nn.recognisers import EMRApprox
    from icezoo.recognition.fit import _scale_lr, adam_for, training_loss

    net = EMRApprox((3, 128, 128), 3)
    recipe = icezoo.load_recipe(RECIPES / "table1" / "emr_approx.yaml")
    optimizer = adam_for(net, recipe.train)
    backbone, heads = optimizer.param_groups
    assert (backbone["lr"], heads["lr"]) == (1e-5, 1e-3) and len(backbone["params"]) + len(heads["params"]) == len(
        list(net.parameters()))  # fmt: skip
    _scale_lr(optimizer, 0.5)
    assert (backbone["lr"], heads["lr"]) == (1e-5, 5e-4)
    labels = torch.tensor([0, 2])
    outputs = net.train()(torch.rand(2, 3, 128, 128))
    loss_fn = CrossEntropy()
    expected = sum(torch.nn.functional.cross_entropy(o, labels) for o in outputs)
    torch.testing.assert_close(training_loss(outputs, labels, loss_fn), expected)
    training_loss(outputs, labels, loss_fn).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
