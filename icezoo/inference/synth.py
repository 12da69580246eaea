"""``icezoo synth CHECKPOINT --onset IMAGE``: faces from a trained generator, and Fig. 5's difference maps.

Writes into ``--out``: ``recipe.yaml`` (the checkpoint's recipe), ``synth_<label>_<i>.png`` (each synthesised face),
``grid.png`` (onset, then N faces per class) and ``difference.png`` (the
|x_syn - x_on| heat maps of Fig. 5, where the micro-movements show).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from pathlib import Path

import torch

from ..data import CLASSES
from ..errors import IcezooError


def load_generator(checkpoint: str | Path, device: str = "cpu", allow_plugins: Iterable[str] = ()):
    """The trained GAN and recipe of a checkpoint, refused when the model has no generator: nothing to synthesise."""
    from ..train.checkpoint import load_trained_model

    model, recipe = load_trained_model(checkpoint, device, allow_plugins=allow_plugins)
    if model.generator is None:
        raise IcezooError(f"{checkpoint}: this model has no generator (model A); nothing to synthesise")
    return model, recipe


GRID_COLUMNS = 16
"""Faces per class shown in grid.png and difference.png (every face is written as its own PNG)."""

BATCH = 64
"""Faces synthesised per forward pass: what G holds at once is bounded whatever ``--n`` asks."""


def check_size(n: int, classes: int, image_size: int) -> None:
    """Refuse, in one line, ``n`` faces per class that would not fit in this machine's memory (faces and their
    difference maps are held until written)."""
    need = 2 * n * classes * image_size**2 * 4
    have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if need > have // 2:
        raise IcezooError(
            f"--n {n}: {classes} x {n} faces of {image_size}x{image_size} need about {need / 2**30:,.1f} GiB in memory "
            f"and as many PNG files; this machine has {have / 2**30:,.0f} GiB: ask for fewer"
        )


@torch.no_grad()
def synthesize(model, onset: torch.Tensor, labels: list[int], n: int, seed: int) -> dict[int, torch.Tensor]:
    """``n`` faces per class index from one onset face: {label: [n, 1, S, S]}, :data:`BATCH` at a time (the noise
    is drawn whole first, so the faces do not depend on the batching)."""
    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(seed)
    out = {}
    for label in labels:
        z = torch.randn(n, model.noise_dim, generator=g)
        parts = []
        for start in range(0, n, BATCH):
            k = min(BATCH, n - start)
            x_on = onset.to(device).expand(k, -1, -1, -1)
            c = torch.full((k,), label, device=device)
            parts.append(model.synthesize(x_on, c, z[start : start + k].to(device)).cpu())
        out[label] = torch.cat(parts)
    return out


def write_synth(
    checkpoint: str | Path,
    onset_image: str | Path,
    out: str | Path,
    label: str = "all",
    n: int = 4,
    seed: int = 0,
    device: str = "cpu",
    align: bool | None = None,
    allow_plugins: Iterable[str] = (),
) -> int:
    """Synthesise ``n`` faces per class (or of ``label``) from the onset image into ``out``; return the face count.

    ``align``: crop the photograph's face by its landmarks (None: when the landmarks extra is installed), as
    ``prepare`` and ``predict`` do (:func:`icezoo.data.prepare.faces.read_face`)."""
    from ..data.prepare.faces import read_face
    from ..files import atomic_write, atomic_write_text, check_out
    from ..plots import image_grid

    if n < 1:
        raise IcezooError("--n must be at least 1")
    check_out(out)
    model, recipe = load_generator(checkpoint, device, allow_plugins)  # the loader checks --device
    labels = list(range(len(CLASSES))) if label == "all" else [CLASSES.index(label)]
    check_size(n, len(labels), model.image_size)
    onset, _ = read_face(onset_image, model.image_size, align, "--onset")
    faces = synthesize(model, onset, labels, n, seed)
    out = Path(out)
    from PIL import Image

    from ..config.loader import recipe_to_yaml

    recipe.source = str(checkpoint)
    atomic_write_text(out / "recipe.yaml", recipe_to_yaml(recipe))  # what made these faces

    for label, batch in faces.items():
        for i, face in enumerate(batch):
            pixels = ((face[0].clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
            buffer = io.BytesIO()
            Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
            atomic_write(out / f"synth_{CLASSES[label]}_{i}.png", lambda h, b=buffer: h.write(b.getvalue()))
    shown = min(n, GRID_COLUMNS)
    rows = [[onset[0], *faces[k][:shown]] for k in labels]
    names = [CLASSES[k] for k in labels]
    image_grid(
        rows,
        out / "grid.png",
        names,
        ["onset", *(f"x_syn {i}" for i in range(shown))],
        title=f"{recipe.name}: synthesised faces",
    )
    diffs = [[(f - onset[0]).abs() for f in faces[k][:shown]] for k in labels]
    vmax = max(float(d.max()) for row in diffs for d in row) or 1.0
    image_grid(
        diffs,
        out / "difference.png",
        names,
        [f"|x_syn {i} - x_on|" for i in range(shown)],
        cmap="inferno",
        value_range=(0, vmax),
        title="difference maps (Fig. 5)",
        colorbar="|x_syn - x_on| (faces in [-1, 1])",
    )
    return len(labels) * n
