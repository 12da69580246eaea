"""The MEGC2019 composite read from a manifest of face crops (the real-data path).

The licensed databases are not shipped: ``icezoo prepare`` (:mod:`icezoo.data.prepare`)
turns each release into 128x128 grayscale face crops plus one manifest CSV
with the columns :data:`MANIFEST_COLUMNS` and ``offset_frame``, one row per clip::

    dataset,subject,clip,label,onset_frame,apex_frame,offset_frame,frame_folder
    casme2,sub01,EP02_01f,positive,46,59,86,casme2/sub01/EP02_01f

``offset_frame`` is optional (a manifest written before it existed, or an
empty cell): the clip then ends at the last frame of its folder.

``frame_folder`` is relative to the manifest's folder. Frame files are any
image whose name ends with its frame number (the last run of digits in the
file stem: ``img46.jpg``, ``reg_img46.jpg``, ``006_05562.jpg``); ``prepare``
writes ``frame_{N:06d}.png`` (:data:`FRAME_NAME`). A hand-written manifest may
point at other crops as long as they follow that rule.

The apex neighbours are the frames ``apex + d`` for the offsets of
:func:`~icezoo.data.clips.neighbour_offsets` (-1, +1, -2, +2 for four), clamped to the first and
last frame of the folder, so an apex at the end of a clip repeats itself.

The sequence from onset to offset (``ClipSet.frames``) is read only when asked
for, frame by frame; a frame missing from the folder is then one error (a
folder prepared before ``prepare`` saved whole sequences holds only the onset,
the apex and its neighbours).
"""

from __future__ import annotations

import csv
import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import numpy as np
from PIL import Image

from ..errors import IcezooError
from ..typecheck import ExistingFile
from .clips import CLASSES, DATASETS, ClipFrames, ClipSet, neighbour_offsets

MANIFEST_COLUMNS: tuple[str, ...] = ("dataset", "subject", "clip", "label", "onset_frame", "apex_frame", "frame_folder")
"""The manifest's required columns (extra columns are ignored)."""

OFFSET_COLUMN = "offset_frame"
"""The optional column of the clip's last frame; missing or empty: the last frame of the clip's folder."""

WRITTEN_COLUMNS: tuple[str, ...] = (*MANIFEST_COLUMNS[:6], OFFSET_COLUMN, MANIFEST_COLUMNS[6])
"""The columns ``prepare`` writes, in order."""

FRAME_NAME = "frame_{:06d}.png"
"""The file name ``prepare`` gives frame N of a clip."""

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})

RESAMPLE = Image.Resampling.LANCZOS
"""Resampling filter for every resize of a face crop."""

_FRAME_NUMBER = re.compile(r"(\d+)\D*$")
_INTEGER = re.compile(r"^\d+$")


def frame_files(folder: Path, where: str) -> dict[int, Path]:
    """The image files of a clip folder by frame number (the last number in each file name).

    ``where`` prefixes the errors (a missing folder, two files with one number).
    """
    if not folder.is_dir():
        raise IcezooError(f"{where}: folder not found: {folder}")
    frames: dict[int, Path] = {}
    for path in sorted(folder.iterdir()):
        match = _FRAME_NUMBER.search(path.stem)
        if path.suffix.lower() not in IMAGE_SUFFIXES or match is None or not path.is_file():
            continue
        number = int(match.group(1))
        if number in frames:
            raise IcezooError(f"{where}: {frames[number].name} and {path.name} in {folder} are both frame {number}")
        frames[number] = path
    if not frames:
        raise IcezooError(f"{where}: no image files with a frame number in {folder}")
    return frames


def open_image(path: Path, where: str) -> Image.Image:
    """Open and decode an image file; a corrupt or unreadable one is a one-line error naming it."""
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except Image.DecompressionBombError as err:  # Pillow's limit on declared pixels, before decoding
        raise IcezooError(f"{where}: image {path} is too large to decode ({str(err).split('.')[0]})") from None
    except (OSError, ValueError, SyntaxError) as err:  # PIL's decoders raise all three
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise IcezooError(f"{where}: cannot decode image {path} ({reason[:200]})") from None


def read_gray(path: Path, image_size: int, where: str) -> np.ndarray:
    """A frame as ``[S, S]`` uint8 grayscale, resized to ``image_size`` when its size differs."""
    image = open_image(path, where).convert("L")
    if image.size != (image_size, image_size):
        image = image.resize((image_size, image_size), RESAMPLE)
    return np.asarray(image, dtype=np.uint8)


@dataclasses.dataclass(frozen=True)
class ManifestRow:
    """One clip of a manifest; ``line`` is its line in the file (0 for a row not read from one)."""

    dataset: str
    subject: str
    clip: str
    label: str
    onset_frame: int
    apex_frame: int
    frame_folder: str  # relative to the manifest's folder, "/"-separated
    offset_frame: int | None = None  # None: the last frame of the folder
    line: int = dataclasses.field(default=0, compare=False)

    def as_csv(self) -> dict[str, str]:
        return {
            column: "" if getattr(self, column) is None else str(getattr(self, column)) for column in WRITTEN_COLUMNS
        }


def read_manifest(path: str | Path) -> list[ManifestRow]:
    """Read and check a manifest's rows (columns, labels, datasets, frame numbers, duplicates); images are not opened."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise IcezooError(
                    f"{path}:1: {', '.join(missing)}: missing column{'s' if len(missing) > 1 else ''} (a manifest has {','.join(MANIFEST_COLUMNS)})"
                )
            rows, first_seen = [], {}
            for record in reader:
                row = _parse_row(record, f"{path}:{reader.line_num}", reader.line_num)
                key = (row.dataset, row.subject, row.clip)
                if key in first_seen:
                    raise IcezooError(
                        f"{path}:{row.line}: clip: duplicate clip {'/'.join(key)} (first on line {first_seen[key]})"
                    )
                first_seen[key] = row.line
                rows.append(row)
    except OSError as err:
        raise IcezooError(f"{path}: cannot read the manifest ({err.strerror or err})") from None
    except (UnicodeDecodeError, csv.Error) as err:
        raise IcezooError(f"{path}: not a readable CSV manifest ({err})") from None
    return rows


def _parse_row(record: dict[str, str | None], where: str, line: int) -> ManifestRow:
    values = {column: (record.get(column) or "").strip() for column in MANIFEST_COLUMNS}
    for column, value in values.items():
        if not value:
            raise IcezooError(f"{where}: {column}: empty")
    if values["dataset"] not in DATASETS:
        raise IcezooError(
            f"{where}: dataset: unknown dataset '{values['dataset']}' (expected one of {', '.join(DATASETS)})"
        )
    if values["label"] not in CLASSES:
        raise IcezooError(f"{where}: label: unknown label '{values['label']}' (expected one of {', '.join(CLASSES)})")
    offset = (record.get(OFFSET_COLUMN) or "").strip()
    for column, value in (("onset_frame", values["onset_frame"]), ("apex_frame", values["apex_frame"]),
                          (OFFSET_COLUMN, offset or "0")):  # fmt: skip
        if not _INTEGER.match(value):
            raise IcezooError(f"{where}: {column}: expected a frame number (a non-negative integer), got '{value}'")
    onset, apex = int(values["onset_frame"]), int(values["apex_frame"])
    if offset and int(offset) < max(onset, apex):
        before = "onset_frame" if int(offset) < onset else "apex_frame"
        raise IcezooError(f"{where}: {OFFSET_COLUMN}: {offset} comes before the {before} {values[before]}")
    return ManifestRow(
        dataset=values["dataset"], subject=values["subject"], clip=values["clip"], label=values["label"],
        onset_frame=onset, apex_frame=apex, frame_folder=values["frame_folder"],
        offset_frame=int(offset) if offset else None, line=line,
    )  # fmt: skip


class FolderFrames:
    """Reads frames of one clip folder by number (a :data:`~icezoo.data.clips.FrameReader`), resized to ``image_size``.

    A number the folder does not have is one error naming the folder; ``hint`` says what to do about it.
    """

    def __init__(self, files: dict[int, Path], folder: Path, image_size: int, where: str, hint: str = "") -> None:
        self.files, self.folder, self.image_size, self.where, self.hint = files, folder, image_size, where, hint

    def __call__(self, numbers: Sequence[int]) -> np.ndarray:
        missing = [n for n in numbers if n not in self.files]
        if missing:
            first, last = min(self.files), max(self.files)
            what = f"frame {missing[0]}" if len(missing) == 1 else f"{len(missing)} frames ({missing[0]}, ...)"
            raise IcezooError(f"{self.where}: {what} not found in {self.folder} (frames {first}..{last}){self.hint}")
        out = np.empty((len(numbers), self.image_size, self.image_size), dtype=np.uint8)
        for j, n in enumerate(numbers):
            out[j] = read_gray(self.files[n], self.image_size, self.where)
        return out


SEQUENCE_HINT = "; icezoo prepare saves every frame from onset to offset since the manifest has offset_frame, rerun it"


def _load_clip(
    row: ManifestRow, root: Path, offsets: list[int], image_size: int, where: str
) -> tuple[np.ndarray, np.ndarray, ClipFrames]:
    """(onset [S, S], apex and its neighbours [K, S, S], the sequence's reader) of one manifest row."""
    frames = frame_files(root / row.frame_folder, f"{where}: frame_folder")
    first, last = min(frames), max(frames)
    offset = last if row.offset_frame is None else row.offset_frame
    if offset < row.onset_frame:
        raise IcezooError(
            f"{where}: onset_frame: {row.onset_frame} comes after the folder's last frame {last} (no offset_frame)"
        )
    reader = FolderFrames(frames, root / row.frame_folder, image_size, f"{where}: frames", SEQUENCE_HINT)
    sequence = ClipFrames(row.onset_frame, row.apex_frame, offset, reader)

    def frame(number: int, column: str, what: str = "frame", hint: str = "") -> np.ndarray:
        if number not in frames:
            raise IcezooError(
                f"{where}: {column}: {what} {number} not found in {root / row.frame_folder} (frames {first}..{last}){hint}"
            )
        return read_gray(frames[number], image_size, f"{where}: {column}")

    hint = f"; prepare saves the frames for its --neighbours, rerun it with --neighbours {len(offsets)}"
    onset = frame(row.onset_frame, "onset_frame")
    apex = [frame(row.apex_frame, "apex_frame")]
    apex += [
        frame(min(max(row.apex_frame + d, first), last), "apex_frame", f"apex neighbour {d:+d}, frame", hint)
        for d in offsets
    ]
    return onset, np.stack(apex), sequence


def megc2019(
    manifest: Annotated[str, ExistingFile()],
    image_size: int = 128,
    neighbours: int = 4,
    datasets: list[str] | None = None,
) -> ClipSet:
    """The MEGC2019 composite (SMIC-HS, CASME II, SAMM) from a manifest of 128x128 face crops.

    ``manifest`` is the CSV written by ``icezoo prepare`` (or by hand: columns
    dataset, subject, clip, label, onset_frame, apex_frame, frame_folder, the
    folder relative to the manifest, and optionally offset_frame). Each clip
    gives its onset frame, its apex frame and ``neighbours`` frames around the
    apex (clamped to the clip's frames), and its sequence from onset to offset
    (the last frame of the folder without offset_frame), read only when asked
    for; crops of another size are resized to ``image_size``. ``datasets``
    keeps only those sources (e.g. ``[casme2, samm]``). Subject ids become
    ``dataset/subject`` so they are unique across the composite. Every problem
    is one error naming the manifest, the line and the column.

    Args:
        manifest: path of the manifest CSV; frame folders are read relative to it.
        image_size: side S the face crops are resized to (128, the paper's crops); set by icezoo.
        neighbours: frames around the apex kept as further real expressive faces (4, as in the paper).
        datasets: sources to keep, some of smic, casme2 and samm (None: the whole composite).
    """
    path = Path(manifest).expanduser()
    if image_size < 1:
        raise IcezooError(f"megc2019: image_size must be positive, got {image_size}")
    if neighbours < 0:
        raise IcezooError(f"megc2019: neighbours must be non-negative, got {neighbours}")
    unknown = [d for d in datasets or () if d not in DATASETS]
    if unknown:
        raise IcezooError(
            f"megc2019: datasets: unknown dataset '{unknown[0]}' (expected some of {', '.join(DATASETS)})"
        )
    rows = [r for r in read_manifest(path) if datasets is None or r.dataset in datasets]
    if not rows:
        of = f" of {', '.join(datasets)}" if datasets is not None else ""
        raise IcezooError(f"{path}: the manifest has no clips{of}")
    offsets = neighbour_offsets(neighbours)
    onset = np.empty((len(rows), image_size, image_size), dtype=np.uint8)
    apex = np.empty((len(rows), 1 + len(offsets), image_size, image_size), dtype=np.uint8)
    sequences = []
    for i, row in enumerate(rows):
        onset[i], apex[i], sequence = _load_clip(row, path.parent, offsets, image_size, f"{path}:{row.line}")
        sequences.append(sequence)
    return ClipSet(
        onset=onset,
        apex=apex,
        label=np.array([CLASSES.index(r.label) for r in rows], dtype=np.int64),
        subject=[f"{r.dataset}/{r.subject}" for r in rows],
        dataset=[r.dataset for r in rows],
        clip=[r.clip for r in rows],
        frames=sequences,
    )


__all__ = [
    "FRAME_NAME",
    "MANIFEST_COLUMNS",
    "OFFSET_COLUMN",
    "WRITTEN_COLUMNS",
    "FolderFrames",
    "ManifestRow",
    "frame_files",
    "megc2019",
    "neighbour_offsets",
    "open_image",
    "read_gray",
    "read_manifest",
]
