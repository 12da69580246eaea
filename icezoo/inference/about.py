"""What a trained model's answer means: the data it was trained on, and what its class scores are.

``icezoo predict`` says both, on the console and in ``--json``, and ``icezoo export`` writes them into the model
card: a model trained on icezoo's synthetic faces has never seen a real face, and a capsule head's scores are
capsule lengths (each in [0, 1], independent of the others), not probabilities.
"""

from __future__ import annotations

from typing import Any

from ..train.model_folder import trained_on  # noqa: F401  (re-exported: what the model was trained on)

SYNTHETIC_CAUTION = (
    "caution: this model was trained on icezoo's synthetic faces only, never on a real face; "
    "its answer on a photograph is not meaningful"
)

SCORE_KINDS = {
    "capsule": (
        "capsule lengths",
        "the length of each expression capsule, each in [0, 1] and independent of the others (not probabilities); "
        "the longest is the class",
    ),
    "cnn": ("logits", "the CNN head's logits; probabilities are their softmax; the largest is the class"),
}


def data_sentence(data: dict[str, Any]) -> str:
    """One sentence naming the data: the reports' own (:func:`icezoo.eval.provenance.data_line`) where the clip
    and subject counts are known, else the same words without them (a training checkpoint)."""
    from ..eval.provenance import data_line

    if "clips" in data and "subjects" in data:
        return data_line(data)
    if data["type"] == "synthetic":
        return (
            f"Data: icezoo's built-in SYNTHETIC faces (seed {data['seed']}), not MEGC2019; "
            "not comparable to published MEGC2019 results."
        )
    where = f" manifest {data['manifest']}" if data.get("manifest") else ""
    return f"Data: dataset '{data['type']}'{where}."


def is_synthetic(data: dict[str, Any]) -> bool:
    return data.get("type") == "synthetic"


def score_kind(recipe) -> tuple[str, str]:
    """(short name, one-line meaning) of the class scores of ``recipe``'s discriminator head, or of its recogniser
    (a baseline: logits, capsule lengths, or an SVM's decision values)."""
    if recipe.model.is_baseline:
        from ..registry import registry

        name = recipe.model.recogniser.get("type", "?")
        obj = registry.get("recogniser", name).obj if name in registry.names("recogniser") else None
        if obj is not None and not isinstance(obj, type):
            return "decision values", f"recogniser '{name}''s decision values (one-vs-rest); the largest is the class"
        if getattr(obj, "outputs_probabilities", False):
            return SCORE_KINDS["capsule"]
        return "logits", f"recogniser '{name}''s logits; probabilities are their softmax; the largest is the class"
    head = recipe.model.discriminator.head.get("type", "?")
    return SCORE_KINDS.get(head, ("class scores", f"head '{head}''s class scores; the largest is the class"))
