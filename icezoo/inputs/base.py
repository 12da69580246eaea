"""What every input does: the frames it reads, the per-clip cache, the progress bar, the output array."""

from __future__ import annotations

import hashlib
import json
import weakref
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from tqdm import tqdm

from ..data.clips import ClipFrames, ClipSet
from ..errors import IcezooError
from . import cache


def frames_digest(frames: Sequence[np.ndarray]) -> str:
    """A digest of frames' content (dtype, shape and bytes)."""
    h = hashlib.sha256()
    for frame in frames:
        h.update(f"{frame.dtype}{frame.shape}".encode())
        h.update(np.ascontiguousarray(frame).tobytes())
    return h.hexdigest()


_read_digests: weakref.WeakKeyDictionary[ClipFrames, dict[int | None, str]] = weakref.WeakKeyDictionary()


def sequence_digest(clip: ClipFrames, number: int | None = None) -> str:
    """The digest of a clip's whole sequence (``number`` None) or of one frame, read once per process.

    The folds of a LOSO are subsets sharing their clips' :class:`ClipFrames`, so
    their features are found without reading (or rendering) the frames again.
    """
    known = _read_digests.setdefault(clip, {})
    if number not in known:
        known[number] = frames_digest([clip.sequence() if number is None else clip.frame(number)])
    return known[number]


def clip_key(name: str, version: int, params: dict[str, Any], digests: Sequence[str]) -> str:
    """The cache key of one clip's features: the input's name, code version and parameters, and the frames' digests."""
    h = hashlib.sha256(json.dumps({"input": name, "version": version, **params}, sort_keys=True).encode())
    for digest in digests:
        h.update(digest.encode())
    return h.hexdigest()[:32]


def centre_crop(x, size: tuple[int, int]):
    """The centre ``size`` (h, w) window of ``x`` [..., H, W] (an array or a tensor; offsets rounded as
    torchvision's ``CenterCrop``)."""
    height, width = x.shape[-2:]
    top, left = int(round((height - size[0]) / 2.0)), int(round((width - size[1]) / 2.0))
    return x[..., top : top + size[0], left : left + size[1]]


class Input:
    """An input: ``frames`` picks what it reads of a clip, ``compute`` turns that into the clip's features.

    Subclasses set :attr:`name` (their registry name), :attr:`version` (bump it
    when the output changes for the same frames and parameters: it is part of
    the cache key) and :attr:`reads`, and keep their recipe parameters in
    ``self.params``.
    """

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1
    reads: tuple[str, ...] = ()
    """The frames of a clip it reads: "onset", "apex", "middle" or "sequence" (onset..offset)."""
    cached: ClassVar[bool] = True
    """Whether features are kept per clip (False where computing is as cheap as reading a file)."""

    spatial: ClassVar[bool] = True
    """Whether the features are maps [C, H, W] that a training view may move (mirror, shift, crop)."""
    value_range: tuple[float, float] | None = None
    """An image's black and white (rotation and brightness/contrast jitter apply); None: not an image (a flow)."""
    mirror_negates: ClassVar[tuple[int, ...]] = ()
    """Channels whose sign a left-right mirror flips (a flow's horizontal component)."""
    fill: float = 0.0
    """What a rotated view brings in at its corners (a black face, zero motion)."""
    crop: int | None = None
    """Side of the square the recogniser reads, cut from the stored features: the centre one (:meth:`centre`), and
    in training a random one (:class:`icezoo.recognition.augment.TrainingViews`); None: all of them."""

    params: dict[str, Any]

    def shape(self, image_size: int) -> tuple[int, ...]:
        """The shape of one clip's features for faces of ``image_size``: what the recogniser reads."""
        raise NotImplementedError

    def stored_shape(self, image_size: int) -> tuple[int, ...]:
        """The shape computed and kept per clip, from which training views are cut (:meth:`shape` unless the
        input crops: CapsuleNet's 224x224 crops of a 234x240 face)."""
        return self.shape(image_size)

    def centre(self, features: np.ndarray) -> np.ndarray:
        """The view the recogniser reads outside training, of stored features ``[N, *stored_shape]``: the centre
        :attr:`crop`."""
        if self.crop is None:
            return features
        return np.ascontiguousarray(centre_crop(features, (self.crop, self.crop)))

    def frames(self, clips: ClipSet, i: int) -> list[np.ndarray]:
        """The frames of clip ``i`` the features are computed from (uint8, ``[S, S]`` or ``[T, S, S]``)."""
        raise NotImplementedError

    def digests(self, clips: ClipSet, i: int) -> list[str]:
        """Digests of what :meth:`frames` reads, part of the cache key (override to avoid reading: see
        :func:`sequence_digest`); a clip the input cannot use is refused here, before the cache is asked."""
        return [frames_digest(self.frames(clips, i))]

    def compute(self, frames: list[np.ndarray]) -> np.ndarray:
        """One clip's features from its :meth:`frames`, float32 of :meth:`shape`."""
        raise NotImplementedError

    def __call__(self, clips: ClipSet, progress: bool | None = None, *, stored: bool = False) -> np.ndarray:
        """Every clip's features, ``float32 [N, *shape]`` (``stored``: ``[N, *stored_shape]``, what training
        views are cut from); computed ones come from the cache.

        ``progress``: None shows a bar on a terminal (tqdm's rule), False never.
        """
        shape = self.stored_shape(clips.image_size)
        out = np.empty((len(clips), *shape), dtype=np.float32)
        bar = tqdm(range(len(clips)), desc=f"{self.name} features", unit="clip",
                   disable=None if progress is None else not progress, leave=False)  # fmt: skip
        for i in bar:
            if not self.cached:
                out[i] = self._checked(self.compute(self.frames(clips, i)), shape, clips, i)
                continue
            key = clip_key(self.name, self.version, self.params, self.digests(clips, i))
            value = cache.load(self.name, key, shape)
            if value is None:
                value = self._checked(self.compute(self.frames(clips, i)), shape, clips, i)
                cache.save(self.name, key, value)
            out[i] = value
        return out if stored else self.centre(out)

    def _checked(self, value: np.ndarray, shape: tuple[int, ...], clips: ClipSet, i: int) -> np.ndarray:
        value = np.asarray(value, dtype=np.float32)
        if value.shape != shape:  # a subclass's bug, said plainly rather than broadcast into the output
            raise IcezooError(
                f"input '{self.name}': clip {_name(clips, i)} gave {list(value.shape)}, not {list(shape)}"
            )
        return value

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


def _name(clips: ClipSet, i: int) -> str:
    return f"{clips.subject[i]}/{clips.clip[i]}"


def check_two_frames(clips: ClipSet, i: int, target: str, what: str) -> None:
    """Refuse, in one line naming the clip, a flow from the onset to itself (or with no sequence for ``middle``)."""
    if target == "apex":
        sequence = None if clips.frames is None else clips.frames[i]
        if sequence is not None and sequence.apex == sequence.onset:
            raise IcezooError(
                f"input '{what}': clip {_name(clips, i)}: onset and apex are the same frame ({sequence.onset}); "
                "a flow needs two frames"
            )
        return
    sequence = clips.clip_frames(i)
    if sequence.middle == sequence.onset:
        raise IcezooError(
            f"input '{what}': clip {_name(clips, i)}: frames {sequence.onset}..{sequence.offset} have no middle frame "
            "after the onset; a flow needs two frames"
        )


__all__ = ["Input", "centre_crop", "check_two_frames", "clip_key", "frames_digest", "sequence_digest"]
