"""Fitting and scoring one fold, apart from writing it (scikit-learn's ``_fit_and_score``).

:func:`fit_and_score` trains on the fold's training subjects, chooses its
model on its validation subjects (``eval.select``), predicts its test subjects
and, where ``eval.synthesis_metrics`` asks, measures the synthesised faces; it
returns a :class:`FoldResult` and writes nothing. :mod:`.job` persists it
through the run folder.
"""

from __future__ import annotations

from typing import Any

from ..config.schema import Recipe
from ..data import ClipSet
from ..errors import IcezooError
from ..inference.scores import predict
from ..train.trainer import Trainer
from .predictions import prediction_rows
from .protocols import Fold
from .result import FoldResult, ran_on
from .selection import Selector


def fit_and_score(
    recipe: Recipe,
    clips: ClipSet,
    fold: Fold,
    *,
    device: str | None = None,
    progress: bool = False,
    synthesis_network=None,
) -> FoldResult:
    """Train, choose, predict and (with ``synthesis_network``, the KID/FID network) measure one fold; a baseline
    (a recipe with ``model.recogniser``) is fitted by :func:`icezoo.recognition.fit.fit_and_score_baseline`."""
    if recipe.model.is_baseline:
        from ..recognition.fit import fit_and_score_baseline

        return fit_and_score_baseline(recipe, clips, fold, device=device, progress=progress)
    test = clips.subset(clips.indices_of(fold.test))
    if len(test) == 0:
        raise IcezooError(f"fold {fold.name}: no clips of its test subjects")
    val = clips.subset(clips.indices_of(fold.validation)) if fold.validation else None
    trainer = Trainer(
        recipe, None, clips=clips.subset(clips.indices_of(fold.train)), progress=progress, device=device, leave=False
    )
    selector = Selector(recipe, val, test, trainer.budget, trainer.steps_per_epoch, ema=trainer.ema)
    result = trainer.run(on_epoch=selector if recipe.eval.select != "last" else None)
    averaged = selector.restore(result.model)  # the chosen model, and its averaged generator (train.ema_decay)
    cfg, precision = recipe.eval, recipe.train.precision
    scores = predict(result.model.discriminator, test, batch_size=cfg.batch_size, precision=precision)
    info: dict[str, Any] = {"train": list(fold.train), "validation": list(fold.validation), "test": list(fold.test),
                            "ran_on": ran_on(trainer.device)}  # fmt: skip
    if val is not None:
        val_pred = predict(result.model.discriminator, val, batch_size=cfg.batch_size, precision=precision)
        info["validation_labels"], info["validation_pred"] = val.label.tolist(), val_pred.argmax(1).tolist()
    info["selection"] = selector.record() if cfg.select != "last" else {"select": "last", "chosen_step": result.step}
    info["test_labels"] = test.label.tolist()
    records = None
    if synthesis_network is not None:
        from .synthesis.run import measure

        generator = result.model.generator
        trained = {k: v.clone() for k, v in generator.state_dict().items()} if averaged and generator else None
        if trained is not None:  # faces come from the averaged generator, as synth and load_checkpoint give them
            generator.load_state_dict(averaged)
        records = measure(result.model, recipe, clips, fold, synthesis_network)
        if trained is not None:  # the kept model holds both, as a training checkpoint does
            generator.load_state_dict(trained)
    return FoldResult(prediction_rows(fold.name, test, scores), info, result.model, info["selection"]["chosen_step"],
                      averaged, records)  # fmt: skip
