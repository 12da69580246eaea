"""A baseline: the recipe's ``input`` and the ``recogniser`` built for the shape it yields; its fold-model state."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..config.schema import ModelConfig, Recipe
from ..errors import IcezooError
from ..registry import registry
from ..typecheck import ValidationError, located


class Baseline(nn.Module):
    """An input (kind ``input``) and a recogniser (kind ``recogniser``) that reads one clip's features.

    ``recogniser`` is an ``nn.Module`` (its state is the fold model's weights) or a scikit-learn estimator
    (:attr:`is_estimator`; kept with skops). It has no generator: ``generator`` is None, as in ICE-GAN's model A.
    """

    generator = None

    def __init__(self, input, recogniser: Any, *, in_shape: tuple[int, ...], image_size: int, num_classes: int):
        super().__init__()
        self.input, self.recogniser = input, recogniser
        self.in_shape, self.image_size, self.num_classes = tuple(in_shape), image_size, num_classes

    @property
    def is_estimator(self) -> bool:
        """Whether the recogniser is a scikit-learn estimator rather than a network."""
        return not isinstance(self.recogniser, nn.Module)

    @property
    def outputs_probabilities(self) -> bool:
        """Whether the scores are probabilities (capsule lengths: the margin loss) rather than logits."""
        return bool(getattr(self.recogniser, "outputs_probabilities", False))

    @property
    def reads(self) -> tuple[str, ...]:
        """The frames of a clip its input reads ("onset", "apex", "middle", "sequence")."""
        return tuple(self.input.reads)

    def features(self, clips, progress: bool | None = None, *, stored: bool = False) -> np.ndarray:
        """Every clip's input features ``float32 [N, *in_shape]`` (computed once per clip, then cached);
        ``stored``: what training views are cut from (the input's ``stored_shape``: larger where it crops)."""
        return self.input(clips, progress=progress, stored=stored)

    @torch.no_grad()
    def scores(self, features: np.ndarray | torch.Tensor, batch_size: int = 64, precision: str = "fp32") -> np.ndarray:
        """Class scores ``[N, Nc]`` (float32) of features ``[N, *in_shape]``: decision values of an estimator,
        logits or capsule lengths of a network (run in eval mode, ``batch_size`` at a time on its device, under
        ``precision``'s autocast)."""
        if self.is_estimator:
            from ..nn.recognisers.svm import estimator_scores

            return estimator_scores(self.recogniser, np.asarray(features)).astype(np.float32)
        x = torch.as_tensor(np.asarray(features, dtype=np.float32))
        return self.recognise(x, batch_size, precision).numpy()

    @torch.no_grad()
    def recognise(self, x: torch.Tensor, batch_size: int = 64, precision: str = "fp32") -> torch.Tensor:
        """Class scores ``[B, Nc]`` (float32, on the CPU) of input features ``x`` ``[B, *in_shape]``, in eval mode;
        ``scores.argmax(1)`` indexes :data:`icezoo.data.CLASSES` (as :meth:`icezoo.models.GAN.recognise`)."""
        if self.is_estimator:
            return torch.from_numpy(self.scores(x.cpu().numpy()))
        if tuple(x.shape[1:]) != self.in_shape:
            raise IcezooError(f"recogniser reads {list(self.in_shape)} per sample, got {list(x.shape[1:])}")
        from ..devices import autocast

        device = next(self.recogniser.parameters()).device
        was = self.recogniser.training
        self.recogniser.eval()
        try:
            with autocast(device, precision):
                out = [self.recogniser(x[s : s + batch_size].to(device)).float().cpu()
                       for s in range(0, len(x), batch_size)]  # fmt: skip
        finally:
            self.recogniser.train(was)
        return torch.cat(out) if out else torch.zeros((0, self.num_classes))


def build_baseline(config: Recipe | ModelConfig) -> Baseline:
    """The baseline a recipe's ``model`` section names (on the current default device).

    The recogniser is built for the shape the input yields at the data's ``image_size``; one that cannot read
    it is one line naming the input's shape and the one the recogniser expects.
    """
    m = config.model if isinstance(config, Recipe) else config
    if not m.is_baseline:
        raise IcezooError("not a baseline recipe: its model section names no recogniser")
    with located("model.input"):
        try:
            input_ = registry.build("input", m.input)
        except (ValueError, TypeError) as err:
            raise ValidationError("model.input", f"cannot build input '{m.input.get('type')}': {err}") from err
    in_shape = tuple(input_.shape(m.image_size))
    name = m.recogniser.get("type")
    try:
        with located("model.recogniser"):
            recogniser = registry.build("recogniser", m.recogniser, in_shape=in_shape, num_classes=m.num_classes)
    except (ValueError, TypeError) as err:
        raise ValidationError("model.recogniser", f"cannot build recogniser '{name}': {err}") from err
    except IcezooError as err:
        if "in_shape" not in str(err):
            raise
        raise ValidationError(
            "model.recogniser", f"input '{input_.name}' yields {in_shape} per clip, but {err}"
        ) from None
    return Baseline(input_, recogniser, in_shape=in_shape, image_size=m.image_size, num_classes=m.num_classes)


def check_baseline(recipe: Recipe) -> Baseline:
    """Build the baseline on the ``meta`` device and run a forward pass there (no memory, no compute): a
    recogniser whose input does not fit, or a loss that does not fit its scores, is one line before any training."""
    with torch.device("meta"):
        model = build_baseline(recipe)
        if not model.is_estimator:
            try:
                out = model.recogniser.eval()(torch.zeros(2, *model.in_shape))  # eval: the prediction alone
            except RuntimeError as err:
                raise ValidationError(
                    "model.recogniser",
                    f"recogniser '{recipe.model.recogniser.get('type')}' fails on input '{model.input.name}' "
                    f"{model.in_shape}: {str(err).splitlines()[0]}",
                ) from None
            if tuple(out.shape) != (2, recipe.model.num_classes):
                raise ValidationError("model.recogniser", f"gives scores {list(out.shape[1:])}, not [num_classes]")
    from .augment import TrainingViews

    if model.is_estimator:  # fitted once on the features: no views, no steps
        for key in ("augment_rotation", "augment_shift", "augment_flip", "augment_jitter", "grad_clip"):
            if getattr(recipe.train, key):
                raise ValidationError(
                    f"train.{key}",
                    f"recogniser '{recipe.model.recogniser.get('type')}' is fitted once on the features, without "
                    "training views or gradient steps",
                )
    try:  # the training views the recipe asks of this input (the augment keys name themselves)
        TrainingViews.of(recipe.train, model.input, model.image_size, model.in_shape)
    except IcezooError as err:
        key, _, message = str(err).partition(": ")
        raise ValidationError(key, message) from None
    loss = recipe.loss.classification.get("type")
    if (
        not model.is_estimator
        and (loss == "margin") != model.outputs_probabilities
        and loss in ("margin", "cross_entropy")
    ):
        gives = (
            "capsule lengths (use {type: margin})"
            if model.outputs_probabilities
            else "logits (use {type: cross_entropy})"
        )
        raise ValidationError(
            "loss.classification", f"recogniser '{recipe.model.recogniser.get('type')}' gives {gives}, not for {loss}"
        )
    return model


# -- fold models: a network's state dict, or an estimator's skops file beside the checkpoint -------------------------
def baseline_state(model: Baseline, path: str | Path) -> dict[str, Any]:
    """What a checkpoint at ``path`` holds of ``model``: ``recogniser``, the network's state dict; or, for an
    estimator, ``estimator``: the name and SHA-256 of ``PATH.skops`` written beside it (skops, never pickle)."""
    if not model.is_estimator:
        return {"recogniser": model.recogniser.state_dict(), "estimator": None}
    from ..nn.recognisers.svm import save_estimator

    skops = Path(path).with_suffix(".skops")
    save_estimator(skops, model.recogniser)
    return {"recogniser": None, "estimator": {"file": skops.name, "sha256": _digest(skops)}}


def load_baseline(recipe: Recipe, state: dict[str, Any], path: str | Path, load_module_state) -> Baseline:
    """The baseline of a checkpoint ``path`` (its ``state``, read with ``weights_only``) and its stored ``recipe``;
    ``load_module_state`` is the checkpoint reader's own (:func:`icezoo.train.checkpoint.load_module_state`).

    An estimator is read from the skops file the checkpoint names, beside it, only if its SHA-256 is the one
    recorded, trusting only the types icezoo's own estimators hold (:func:`icezoo.nn.recognisers.load_estimator`).
    """
    model = build_baseline(recipe)
    if not model.is_estimator:
        if not isinstance(state.get("recogniser"), dict):
            raise IcezooError(f"{path}: the checkpoint holds no recogniser weights")
        load_module_state(model.recogniser, state["recogniser"], "recogniser", path)
        return model.eval()
    from ..nn.recognisers.svm import load_estimator

    ref = state.get("estimator")
    if not isinstance(ref, dict) or not isinstance(ref.get("file"), str) or Path(ref["file"]).name != ref["file"]:
        raise IcezooError(f"{path}: the checkpoint names no estimator file")
    skops = Path(path).parent / ref["file"]
    if not skops.is_file():
        raise IcezooError(f"{skops}: the estimator of {path} is missing")
    if _digest(skops) != ref.get("sha256"):
        raise IcezooError(f"{skops}: not the estimator {path} was saved with (its SHA-256 differs)")
    model.recogniser = load_estimator(skops)
    return model


def _digest(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


__all__ = ["Baseline", "baseline_state", "build_baseline", "check_baseline", "load_baseline"]
