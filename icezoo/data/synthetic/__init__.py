"""A procedural stand-in for the MEGC2019 composite: synthetic faces with micro-expressions.

The licensed micro-expression databases cannot be shipped, so icezoo's default
dataset is drawn here: 68 subjects in three "datasets" (SMIC 16, CASME II 24,
SAMM 28), 442 clips, the composite's exact class balance (:data:`COUNTS`).

Face model
    Each subject has its own face (:class:`Face`, drawn by :func:`random_face`):
    head ellipse, skin and background brightness, lighting direction, a fixed
    low-frequency skin texture, hair line, eyes (spacing, size, iris), brows
    (height, thickness, arch, tilt), nose, mouth (width, lip thickness, resting
    curvature) and cheeks. Everything is an implicit, anti-aliased shape
    (soft ellipses, soft-edged bands, gaussian strokes) evaluated on the pixel
    grid, so sub-pixel motion changes the image.

Clips
    Each clip has its own small head translation (up to 2 px at 128x128),
    lighting change, expression intensity (0.6 to 1.0), per-action-unit
    jitter, left/right asymmetry and a slight jitter of the motion's direction
    (:class:`ClipPose`). The onset frame is the subject's neutral face in that
    pose and light; the apex frame moves the face by the class's action units;
    the neighbours are the same face at 0.85 to 0.95 of the apex intensity.
    The whole sequence (:mod:`.sequences`), rendered only when read, rises
    from the neutral onset (frame 0) through the neighbours to the apex and
    falls back to a neutral offset, 9 to 19 frames in all.
    Every frame gets its own faint sensor noise, so ``|apex - onset|`` shows the
    motion and little else.

Class motions (micro-expression scale, a few pixels at 128x128)
    positive: lip corners pulled up and out, cheeks raised, nasolabial folds
    deepened, lower lids raised (AU6 + AU12). surprise: brows raised with
    forehead lines (AU1 + AU2), upper lids raised (AU5), lips parted (AU25/26).
    negative: brows lowered and drawn together with glabellar lines (AU4), lip
    corners depressed (AU15), a slight nose wrinkle (AU9).

The identity variation (brow height, resting mouth curvature, eye size...)
is of the same order as the motion, so recognising the class from an apex
frame of an unseen subject is possible but not trivial. Same arguments give
byte-identical arrays: every subject and clip draws from its own generator
derived from ``(seed, dataset, subject, clip)``.

Layout: :mod:`.faces` (the face model and the action units), :mod:`.canvas`
(pixel grid, anti-aliased primitives), :mod:`.painters` (one painter per facial
feature), :mod:`.render` (painters composed into frames), :mod:`.assembly`
(subjects and clips drawn into a :class:`~icezoo.data.clips.ClipSet`) and
:mod:`.cache` (the on-disk cache) and :mod:`.sequences` (the clips' sequences, on demand).
"""

from __future__ import annotations

import numpy as np

from ..clips import CLASSES, ClipSet
from .assembly import COUNTS, NEIGHBOUR_STEP, NOISE_STD
from .assembly import generate as _generate
from .cache import FORMAT_VERSION, cache_folder, cached
from .faces import AUS, CLASS_AUS, MOVE, ClipPose, Face, expression, random_face
from .render import render_face, render_faces
from .sequences import SyntheticSequences, intensities, with_sequences


def synthetic(
    image_size: int = 128, seed: int = 0, neighbours: int = 4, motion: float = 1.0, cache_dir: str | None = None
) -> ClipSet:
    """Synthetic MEGC2019-shaped faces: 68 subjects, 442 clips, the composite's class balance (the default dataset).

    Every subject has its own procedurally drawn face; each clip's onset frame is
    that face at rest and its apex frame (followed by ``neighbours`` frames at
    slightly lower intensity) shows a subtle, class-specific motion: positive
    raises the lip corners and cheeks, surprise raises the brows and lids and
    parts the lips, negative lowers and knits the brows and depresses the lip
    corners. ``motion`` scales every displacement (0 gives expressionless
    apexes). Each clip's whole sequence, onset (frame 0) -> apex -> offset,
    is rendered when it is read (``ClipSet.frames``). Arrays are
    byte-identical for equal arguments. With ``cache_dir`` (or the
    ``ICEZOO_CACHE`` environment variable) the onset and apex frames are kept
    as an ``.npz`` there and regenerated when missing or unreadable.

    Args:
        image_size: the side of the square gray frames in pixels (at least 16).
        seed: the random seed all faces and clips are drawn from.
        neighbours: how many frames after the apex each clip also holds, at slightly lower intensity.
        motion: the scale of every expression's displacement (1 is the micro-expression scale, 0 none).
        cache_dir: the folder the generated set is kept in; None uses ``ICEZOO_CACHE``, or no cache when unset.
    """
    image_size, seed, neighbours, motion = int(image_size), int(seed), int(neighbours), float(motion)
    if image_size < 16:
        raise ValueError(f"image_size must be at least 16, got {image_size}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    if neighbours < 0:
        raise ValueError(f"neighbours must be non-negative, got {neighbours}")
    if not np.isfinite(motion) or motion < 0:
        raise ValueError(f"motion must be a finite number >= 0, got {motion}")
    folder = cache_folder(cache_dir)
    # _generate is looked up in this module at each call, so tests can stand in for it
    if folder is None:
        clips = _generate(image_size, seed, neighbours, motion)
    else:
        params = {"image_size": image_size, "seed": seed, "neighbours": neighbours, "motion": motion}
        n = sum(counts[c] for counts in COUNTS.values() for c in CLASSES)
        shape = (n, 1 + neighbours, image_size)
        clips = cached(folder, params, shape, lambda: _generate(image_size, seed, neighbours, motion))
    return with_sequences(clips, image_size, seed, motion)


__all__ = [
    "AUS",
    "CLASS_AUS",
    "COUNTS",
    "FORMAT_VERSION",
    "MOVE",
    "NEIGHBOUR_STEP",
    "NOISE_STD",
    "ClipPose",
    "Face",
    "expression",
    "random_face",
    "render_face",
    "render_faces",
    "SyntheticSequences",
    "intensities",
    "synthetic",
    "with_sequences",
]
