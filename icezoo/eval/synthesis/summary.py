"""Numbers from synthesis records (one fold's or several pooled), ``synthesis.json`` and its Markdown section."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import distribution, expression, identity, motion

SECTION = "## Synthesis metrics"


def pool(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Concatenate fold records face by face (folds skipped for want of a generator or an extra stay skipped)."""
    live = [r for r in records if "skipped" not in r]
    if not live:
        return records[0] if records else {"skipped": "no folds"}
    first = live[0]
    out: dict[str, Any] = {k: first[k] for k in ("regions", "classes", "feature_network") if k in first}
    keys = (
        "label",
        "asked",
        "d_pred",
        "clf_pred",
        "clf_real_pred",
        "feat_real",
        "feat_fake",
        "motion_syn",
        "motion_real",
    )
    for key in keys:
        out[key] = np.concatenate([np.asarray(r[key]) for r in live])
    out["subject"] = [s for r in live for s in r["subject"]]
    out["clf_subjects"] = sorted({s for r in live for s in r["clf_subjects"]})
    ids = [r["identity"] for r in live]
    skipped = [i for i in ids if "skipped" in i]
    out["identity"] = skipped[0] if skipped else {k: np.concatenate([i[k] for i in ids]) for k in ids[0]}
    return out


def _motion_table(values: np.ndarray, classes: np.ndarray, names: list[str]) -> dict[str, dict[str, float]]:
    """{class: {region: mean gray-level change}} from per-face region means [M, R] and classes [M]."""
    return {
        c: {
            r: float(values[classes == k, j].mean()) if (classes == k).any() else None
            for j, r in enumerate(motion.REGIONS)
        }
        for k, c in enumerate(names)
    }


MIN_DISTRIBUTION_FACES = 50
"""Fewest synthesised faces a fold needs for KID/FID of its own (a LOSO fold has 2-3 clips: no estimate)."""


def summarise(rec: dict[str, Any], *, seed: int = 0, per_fold: bool = False) -> dict[str, Any]:
    """The metrics of one fold's records or of pooled ones; ``per_fold``: KID/FID only from enough faces."""
    if "skipped" in rec:
        return {"skipped": rec["skipped"]}
    asked, names = rec["asked"].ravel(), rec["classes"]
    k = rec["asked"].shape[1]
    ident = rec["identity"]
    return {
        "faces": int(asked.size),
        "identity": ident if "skipped" in ident else {**identity.identity_summary(ident), "network": identity.NETWORK},
        "expression": {
            "discriminator": expression.fidelity(asked, rec["d_pred"].ravel(), k),
            "independent": {
                **expression.fidelity(asked, rec["clf_pred"].ravel(), k),
                "model": "logistic regression on x - x_on (32x32), real training clips only",
                "fitted_on_subjects": len(rec["clf_subjects"]),
                "accuracy_on_real_test_faces": float((rec["clf_real_pred"] == rec["label"]).mean()),
            },
        },
        "distribution": {
            **(
                {
                    "skipped": f"{len(rec['feat_fake'])} faces, fewer than {MIN_DISTRIBUTION_FACES}: see the pooled figure"
                }
                if per_fold and len(rec["feat_fake"]) < MIN_DISTRIBUTION_FACES
                else distribution.kid_fid(_tensor(rec["feat_real"]), _tensor(rec["feat_fake"]), seed=seed)
            ),
            "network": rec.get("feature_network", distribution.NETWORK),
            "sets": "real apex faces of the test clips against faces synthesised for each clip's own class",
        },
        "motion": {
            "regions_from": "synthetic face model" if rec["regions"] == "face model" else "68 dlib landmarks",
            "synthesised": _motion_table(rec["motion_syn"].reshape(-1, len(motion.REGIONS)), asked, names),
            "real": _motion_table(rec["motion_real"], np.asarray(rec["label"]), names),
        },
    }


def _tensor(a):
    import torch

    return torch.as_tensor(np.asarray(a), dtype=torch.float64)


def _f(x, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def markdown(pooled: dict[str, Any]) -> str:
    """The Markdown section of ``table.md`` for the pooled metrics."""
    if "skipped" in pooled:
        return f"{SECTION}\n\nskipped: {pooled['skipped']}\n"
    ident, expr, dist, mot = pooled["identity"], pooled["expression"], pooled["distribution"], pooled["motion"]
    lines = [
        SECTION,
        "",
        f"{pooled['faces']} synthesised faces (every test onset into every class), all folds pooled.",
        "",
    ]
    if "skipped" in ident:
        lines += [f"- identity: skipped: {ident['skipped']}"]
    else:
        lines += [
            f"- identity ({ident['network']}): distance to own onset {_f(ident['distance_to_onset'])}, "
            f"between subjects {_f(ident['distance_between_subjects'])} (ratio {_f(ident['ratio'])}); "
            f"nearest identity is the own subject for {_pct(ident['own_subject_match'])} "
            f"(of the {ident.get('matched_faces', '?')} faces whose subject has another onset to match)"
        ]
    lines += [
        f"- expression: the class asked for is recognised by the fold's D for {_pct(expr['discriminator']['accuracy'])}, "
        f"by the independent classifier for {_pct(expr['independent']['accuracy'])} (chance 33.3%; "
        f"it reads {_pct(expr['independent']['accuracy_on_real_test_faces'])} of the real test apex faces right)",
        f"- distribution ({dist['network']}; {dist['n_real']} real, {dist['n_fake']} synthesised): "
        f"KID {_f(dist['kid'], 4)} +- {_f(dist['kid_std'], 4)}, FID {_f(dist['fid'], 2)}",
        "",
        f"Motion, mean |x - x_on| in gray levels per region (regions from the {mot['regions_from']}):",
        "",
        "| class | " + " | ".join(f"{r} syn / real" for r in motion.REGIONS) + " |",
        "| --- |" + " ---: |" * len(motion.REGIONS),
    ]
    for c in mot["synthesised"]:
        cells = [f"{_f(mot['synthesised'][c][r], 2)} / {_f(mot['real'][c][r], 2)}" for r in motion.REGIONS]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def ablation_table(entries: list[dict[str, Any]]) -> str:
    """One row per recipe of ``icezoo ablate`` with its pooled synthesis metrics (entries: name, synthesis)."""
    head = (
        "| recipe | identity distance (ratio to between-subject) | own-subject match | asked class by D "
        "| by independent classifier | KID | FID |\n| --- |" + " ---: |" * 6
    )
    rows = []
    for e in entries:
        s = e["synthesis"]
        if "skipped" in s:
            rows.append(f"| {e['name']} | skipped: {s['skipped']} |" + " |" * 5)
            continue
        i, x, d = s["identity"], s["expression"], s["distribution"]
        ident = (
            ["-", "-"]
            if "skipped" in i
            else [f"{_f(i['distance_to_onset'])} ({_f(i['ratio'], 2)})", _pct(i["own_subject_match"])]
        )
        rows.append(
            f"| {e['name']} | {ident[0]} | {ident[1]} | {_pct(x['discriminator']['accuracy'])} "
            f"| {_pct(x['independent']['accuracy'])} | {_f(d['kid'], 4)} +- {_f(d['kid_std'], 4)} | {_f(d['fid'], 2)} |"
        )
    return "\n".join([head, *rows])
