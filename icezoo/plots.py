"""Pictures people would rather see than read: training curves, face grids, confusion matrices, difference maps.

Every figure is written atomically as PNG. matplotlib runs on its Agg backend
(no display needed).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .files import atomic_write


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path, dpi: int = 120) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    _pyplot().close(fig)
    return atomic_write(path, lambda h: h.write(buffer.getvalue()))


def training_curves(rows: Sequence[dict], path: str | Path, title: str = "") -> Path | None:
    """Loss terms against step, D's and G's on separate axes."""
    if not rows:
        return None
    plt = _pyplot()
    steps = [r["step"] for r in rows]
    groups = [
        ("discriminator", [k for k in rows[-1] if k.startswith("d_")]),
        ("generator", [k for k in rows[-1] if k.startswith("g_")]),
    ]
    groups = [g for g in groups if g[1]]
    fig, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups), 4), squeeze=False)
    for ax, (name, keys) in zip(axes[0], groups):
        for key in keys:
            ax.plot(steps, [r.get(key, np.nan) for r in rows], label=key)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def image_grid(rows: Sequence[Sequence[torch.Tensor]], path: str | Path, *labels_and_style, **options) -> Path:
    """:func:`grid_figure` (row and column labels, colour map, value range, title, colour bar) written to ``path``."""
    return save_figure(grid_figure(rows, *labels_and_style, **options), path)


def grid_figure(
    rows: Sequence[Sequence[torch.Tensor]],
    row_labels: Sequence[str] = (),
    col_labels: Sequence[str] = (),
    cmap: str = "gray",
    value_range: tuple[float, float] | None = (-1, 1),
    title: str = "",
    colorbar: str = "",
):
    """A grid of single-channel images ([1,S,S] or [S,S] tensors), labelled by row and column; ``colorbar`` (its
    label) adds a colour bar for the whole grid. Constrained layout keeps the title clear of the column titles."""
    plt = _pyplot()
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    size = (1.6 * n_cols + (0.8 if colorbar else 0), 1.6 * n_rows + (0.4 if title else 0))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=size, squeeze=False, layout="constrained")
    image = None
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(row):
                img = row[j].detach().float().cpu().squeeze().numpy()
                kwargs = {"vmin": value_range[0], "vmax": value_range[1]} if value_range else {}
                image = ax.imshow(img, cmap=cmap, **kwargs)
            else:
                ax.axis("off")
            if i == 0 and j < len(col_labels):
                ax.set_title(col_labels[j], fontsize=8)
            if j == 0 and i < len(row_labels):
                ax.set_ylabel(row_labels[i], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    if colorbar and image is not None:
        fig.colorbar(image, ax=axes, shrink=0.9, label=colorbar)
    return fig


def confusion_matrix_plot(matrix: np.ndarray, classes: Sequence[str], path: str | Path, title: str = "") -> Path:
    """Counts with row-normalised colour (recall per true class)."""
    plt = _pyplot()
    matrix = np.asarray(matrix)
    norm = matrix / np.clip(matrix.sum(1, keepdims=True), 1, None)
    fig, ax = plt.subplots(figsize=(3.8, 3.4))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(
                j,
                i,
                f"{matrix[i, j]}",
                ha="center",
                va="center",
                color="white" if norm[i, j] > 0.6 else "black",
                fontsize=9,
            )
    ax.set_xticks(range(len(classes)), classes, rotation=30)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(im, ax=ax, fraction=0.046, label="recall")
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def table_i_figure(rows: Sequence[dict], path: str | Path, title: str = "", spread: str = "95% CI") -> Path:
    """Each row's UF1 and UAR (filled, with its ``spread``: ``{"uf1": (low, high), "uar": ...}`` or None) and, a
    little apart, its published MEGC2019 point (hollow, labelled), never on the same mark.

    ``rows``: ``{"name", "uf1", "uar", "spread", "published": (uf1, uar) or None}``.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8.5, 0.55 * len(rows) + 1.6), sharey=True)
    y = np.arange(len(rows))[::-1]
    for ax, metric, k in zip(axes, ("UF1", "UAR"), (0, 1)):
        key = metric.lower()
        ours = np.array([r[key] for r in rows], dtype=float)
        low = np.array([(r.get("spread") or {}).get(key, (r[key], r[key]))[0] for r in rows], dtype=float)
        high = np.array([(r.get("spread") or {}).get(key, (r[key], r[key]))[1] for r in rows], dtype=float)
        ax.errorbar(ours, y, xerr=[ours - low, high - ours], fmt="o", color="C0", capsize=3,
                    label=f"icezoo ({spread})")  # fmt: skip
        pub = [(r["published"][k], yy) for r, yy in zip(rows, y) if r.get("published")]
        if pub:
            ax.scatter([p for p, _ in pub], [yy - 0.25 for _, yy in pub], marker="D", facecolors="none",
                       edgecolors="C3", label="published, MEGC2019 (its own selection)")  # fmt: skip
        ax.set_xlim(0, 1.02)
        ax.set_xlabel(metric)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, [r["name"] for r in rows])
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)
