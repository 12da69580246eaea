"""The ``svm`` recogniser: a scikit-learn SVM on handcrafted features, kept with skops (never pickle).

:func:`save_estimator` writes a fitted estimator with ``skops.io`` (atomically), and :func:`load_estimator`
reads one back trusting exactly the types icezoo's own estimators need (:func:`trusted_types`): a file holding
any other type is refused in one line, before anything in it is built. A kept fold model is data, never code.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ...errors import IcezooError
from ...files import atomic_write

Kernel = Literal["linear", "rbf", "poly", "sigmoid"]


def svm(
    in_shape: Sequence[int],
    num_classes: int,
    kernel: Kernel = "linear",
    C: float = 1.0,
    scale: bool = True,
    class_weight: Literal["balanced"] | None = None,
):
    """A support vector machine on feature vectors (LBP-TOP histograms): ``Pipeline(StandardScaler, SVC)``.

    The MEGC2019 baseline's exact settings are not public: a linear kernel with C = 1.0 on standardised features
    is a common configuration, not the baseline's own. Samples of any ``in_shape`` are read flattened
    (``[N, prod(in_shape)]``); :func:`estimator_scores` gives the class scores ``[N, num_classes]`` (one-vs-rest
    decision values). Keep a fitted one with :func:`save_estimator`.

    Args:
        in_shape: shape of one sample's features ((11328,) for LBP-TOP); set by icezoo.
        num_classes: number of classes (3); set by icezoo.
        kernel: the SVM's kernel (linear: a common configuration; the baseline's is not public).
        C: the SVM's regularisation (1.0: scikit-learn's default; the baseline's is not public).
        scale: standardise each feature on the training set before the SVM (on: a common configuration).
        class_weight: ``balanced`` weights classes inversely to their frequency (None: equal weights).
    """
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if not all(isinstance(s, int) and s > 0 for s in in_shape) or not in_shape:
        raise IcezooError(f"recogniser 'svm' expects in_shape of positive sizes (features,); got {tuple(in_shape)}")
    steps = [("scale", StandardScaler())] if scale else []
    classifier = SVC(kernel=kernel, C=C, class_weight=class_weight, decision_function_shape="ovr")
    return Pipeline([*steps, ("svm", classifier)])


def estimator_scores(estimator: Any, features: np.ndarray) -> np.ndarray:
    """Class scores [N, Nc] of a fitted estimator on ``features`` [N, ...] (flattened): its decision values."""
    scores = np.asarray(estimator.decision_function(np.asarray(features).reshape(len(features), -1)))
    return np.stack([-scores, scores], axis=1) if scores.ndim == 1 else scores  # two classes: one value each


@functools.cache
def trusted_types() -> tuple[str, ...]:
    """The types beyond skops's defaults that icezoo's own estimators hold: those skops reports for a fitted
    ``svm`` of every kernel, with and without the scaler (computed with ``skops.io.get_untrusted_types``)."""
    import skops.io as sio

    x = np.random.default_rng(0).normal(size=(12, 4))
    y = np.arange(12) % 3
    found: set[str] = set()
    for kernel in Kernel.__args__:
        for scale in (True, False):
            fitted = svm((4,), 3, kernel=kernel, scale=scale, class_weight="balanced").fit(x, y)
            found.update(sio.get_untrusted_types(data=sio.dumps(fitted)))
    return tuple(sorted(found))


def save_estimator(path: str | Path, estimator: Any) -> Path:
    """Write ``estimator`` to ``path`` with skops, atomically; one that :func:`load_estimator` would refuse is refused."""
    import skops.io as sio

    data = sio.dumps(estimator)
    _check_trusted(path, sio.get_untrusted_types(data=data), "cannot keep an estimator holding")
    try:
        return atomic_write(path, lambda h: h.write(data))
    except OSError as err:
        raise IcezooError(f"{path}: cannot write the estimator ({err.strerror or type(err).__name__})") from None


def load_estimator(path: str | Path) -> Any:
    """Read an estimator written by :func:`save_estimator`, trusting only :func:`trusted_types`."""
    import skops.io as sio

    path = Path(path)
    try:
        data = path.read_bytes()
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as err:  # missing, truncated, not a skops file
        reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise IcezooError(f"{path}: not a readable skops estimator ({reason})") from None
    _check_trusted(path, untrusted, "refusing to load it: it holds")
    try:
        return sio.loads(data, trusted=list(trusted_types()))
    except Exception as err:
        reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise IcezooError(f"{path}: cannot load the skops estimator ({reason})") from None


def _check_trusted(path: str | Path, untrusted: Sequence[str], what: str) -> None:
    bad = [t for t in untrusted if t not in trusted_types()]
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise IcezooError(f"{path}: {what} type {bad[0]}{more}, which icezoo does not trust")


svm.computes_with = ("scikit-learn",)  # its version joins the run's (icezoo.eval.identity.recipe_libraries)
