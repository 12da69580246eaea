"""Expression fidelity: does a recogniser that never saw the test subject read the class G was asked for?

Two recognisers: the fold's own discriminator (its class scores, read as eval reads them:
:func:`icezoo.inference.scores.class_scores`), and an
independent one, a logistic regression on the motion image x - x_on (32x32,
standardised) fitted on the fold's real training clips only (their apex and
the frames around it against their onset). It records the subjects it was fitted on, so a
test can check that the fold's test subject is not among them.
"""

from __future__ import annotations

import numpy as np
import torch

from ...data import ClipSet
from ...data.clips import to_unit_range

SIDE = 32


def motion_image(faces: torch.Tensor, onset: torch.Tensor) -> np.ndarray:
    """(faces - onset) [N, 1, S, S] -> [N, SIDE * SIDE] (area-averaged to SIDE x SIDE)."""
    diff = faces.float() - onset.float()
    if diff.shape[-1] != SIDE:
        diff = torch.nn.functional.adaptive_avg_pool2d(diff, SIDE)
    return diff.flatten(1).numpy().astype(np.float64)


class MotionClassifier:
    """Logistic regression on motion images, fitted on real clips of training subjects only."""

    def __init__(self, seed: int = 0):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000, random_state=seed))
        self.subjects: list[str] = []

    def fit(self, clips: ClipSet) -> MotionClassifier:
        """Fit on every real expressive frame (apex and neighbours) of ``clips`` against its onset."""
        onset = to_unit_range(clips.onset)
        x, y = [], []
        for k in range(clips.apex.shape[1]):
            x.append(motion_image(to_unit_range(clips.apex[:, k]), onset))
            y.append(clips.label)
        self.model.fit(np.concatenate(x), np.concatenate(y))
        self.subjects = clips.subjects()
        return self

    def predict(self, faces: torch.Tensor, onset: torch.Tensor) -> np.ndarray:
        return self.model.predict(motion_image(faces, onset)).astype(np.int64)


def fidelity(asked: np.ndarray, predicted: np.ndarray, classes: int = 3) -> dict:
    """Accuracy and confusion matrix (rows: class asked for, columns: class recognised)."""
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (asked, predicted), 1)
    return {"accuracy": float((asked == predicted).mean()) if len(asked) else None, "confusion": confusion.tolist()}
