"""Assemble a GAN (ICE-GAN or an ablation) from a recipe's model section, or a baseline of Table I (a recipe with
``model.recogniser``: :mod:`icezoo.recognition`)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .config.schema import ModelConfig, Recipe
from .nn.discriminator import Discriminator, feature_shape
from .nn.layers import one_hot
from .registry import registry
from .typecheck import ValidationError, located


class GAN(nn.Module):
    """A generator (None for model A) and a discriminator, with the sizes they were built for."""

    def __init__(
        self,
        generator: nn.Module | None,
        discriminator: Discriminator,
        *,
        image_size: int,
        in_channels: int,
        noise_dim: int,
        num_classes: int,
    ):
        super().__init__()
        self.generator, self.discriminator = generator, discriminator
        self.image_size, self.in_channels, self.noise_dim, self.num_classes = (
            image_size,
            in_channels,
            noise_dim,
            num_classes,
        )

    @property
    def uses_onset(self) -> bool:
        """Whether the generator reads the onset face (False for model B and model A)."""
        return self.generator is not None and getattr(self.generator, "uses_onset", True)

    def synthesize(
        self, x_on: Tensor | None, labels: Tensor, z: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """x_syn for class indices ``labels``; noise z ~ N(0, I) unless given."""
        if self.generator is None:
            raise RuntimeError("this model has no generator (model A)")
        b = labels.shape[0]
        if z is None:
            z = torch.randn(b, self.noise_dim, device=labels.device, generator=generator)
        c = one_hot(labels, self.num_classes, z.dtype)
        return self.generator(x_on if self.uses_onset else None, z, c)

    @torch.no_grad()
    def recognise(self, faces: Tensor) -> Tensor:
        """Class scores ``[B, Nc]`` (capsule lengths or logits) of faces ``[B, 1, S, S]`` in [-1, 1], D in eval mode.
        ``scores.argmax(1)`` indexes :data:`icezoo.data.CLASSES`; the example of :mod:`icezoo.api` runs it.
        """
        was = self.discriminator.training
        self.discriminator.eval()
        try:
            return self.discriminator(faces).cls.float()
        finally:
            self.discriminator.train(was)


def _build(kind: str, spec: Any, path: str, **builder_args: Any) -> Any:
    try:
        with located(path):
            return registry.build(kind, spec, **builder_args)
    except (ValueError, TypeError) as err:
        name = spec.get("type") if isinstance(spec, dict) else spec
        raise ValidationError(path, f"cannot build {kind} '{name}': {err}") from err


def build_model(config: Recipe | ModelConfig):
    """Build the model a recipe describes (on the current default device): a :class:`GAN`, or for a recipe
    with ``model.recogniser`` a :class:`icezoo.recognition.Baseline`."""
    m = config.model if isinstance(config, Recipe) else config
    if m.is_baseline:
        from .recognition import build_baseline

        return build_baseline(m)
    generator = None
    if m.generator is not None:
        generator = _build(
            "generator", m.generator, "model.generator",
            image_size=m.image_size, in_channels=m.in_channels, noise_dim=m.noise_dim, num_classes=m.num_classes,
        )  # fmt: skip
    trunk_path, head_path = "model.discriminator.trunk", "model.discriminator.head"
    trunk = _build("trunk", m.discriminator.trunk, trunk_path, in_channels=m.in_channels, image_size=m.image_size)
    try:
        channels, height, width = feature_shape(trunk, m.in_channels, m.image_size)
    except RuntimeError as err:
        raise ValidationError(
            trunk_path, f"the trunk fails on a {m.in_channels}x{m.image_size}x{m.image_size} image: {err}"
        ) from err
    declared = getattr(trunk, "out_channels", None)
    if declared != channels:
        raise ValidationError(trunk_path, f"the trunk must expose out_channels (= {channels}), it says {declared!r}")
    if height != width:
        raise ValidationError(trunk_path, f"the trunk's features must be square, got {height}x{width}")
    head = _build(
        "head",
        m.discriminator.head,
        head_path,
        in_channels=channels,
        feature_size=height,
        num_classes=m.num_classes,
        image_size=m.image_size,
    )
    return GAN(
        generator,
        Discriminator(trunk, head),
        image_size=m.image_size,
        in_channels=m.in_channels,
        noise_dim=m.noise_dim,
        num_classes=m.num_classes,
    )


def check_buildable(config: Recipe | ModelConfig) -> GAN:
    """Build the model on the ``meta`` device (no memory, no compute) to surface constructor errors."""
    with torch.device("meta"):
        return build_model(config)


def check_recipe(recipe: Recipe) -> None:
    """Build the model on the ``meta`` device and check the loss section against its head.

    Surfaces constructor errors (six reasoning specs for six encoder levels,
    a head that cannot fit the trunk's features) and the memory training would need
    (:mod:`icezoo.memory`) before anything real is built.
    """
    from .memory import check_memory
    from .train.objective import check_objective

    if recipe.model.is_baseline:
        from .recognition import check_baseline

        check_baseline(recipe)
        return
    model = check_buildable(recipe)
    m = recipe.model
    check_memory(model, recipe.train.batch_size, m.image_size, m.in_channels, m.noise_dim)
    check_objective(recipe.loss, model.discriminator.head, recipe.model.in_channels)
