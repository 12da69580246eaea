"""``icezoo prepare``: a database's own release -> the megc2019 manifest plus 128x128 grayscale face crops.

One call prepares one database into ``OUT/manifest.csv`` (rows of the other
databases already there are kept; this database's rows are replaced) and
``OUT/<dataset>/<subject>/<clip>/frame_{N:06d}.png``, N the release's frame
number. Only the frames the manifest needs are written: onset, apex and the
apex neighbours (clamped to the clip's frames), as :mod:`.megc2019` reads them.

Release layouts (the spreadsheets are read by header name, so extra or moved
columns do not matter). Sources: the databases' documented file names and
public code that reads these releases (CASME II loaders selecting Subject,
Filename, OnsetFrame, ApexFrame, OffsetFrame, Estimated Emotion; SAMM loaders
skipping the 13 title rows of the v2 sheet or reading its rows 15 on, emotion
in column K).

CASME II
    ``CASME2-coding-20140508.xlsx``, header in row 1: Subject (1 -> folder
    ``sub01``), Filename (``EP02_01f``, the clip folder), OnsetFrame, ApexFrame,
    OffsetFrame, Estimated Emotion. Frames ``CASME2_RAW_selected/sub01/EP02_01f/img46.jpg``.
SAMM
    ``SAMM_Micro_FACS_Codes_v2.xlsx``, title rows above the table (the header
    row is found by its Subject and Filename cells): Subject (6 -> folder
    ``006``), Filename (``006_1_2``), Onset Frame, Apex Frame, Offset Frame,
    Estimated Emotion. Frames ``SAMM/006/006_1_2/006_05562.jpg``.
SMIC-HS
    No spreadsheet: ``SMIC/HS/s1/micro/positive/s1_po_01/*.bmp``, the label is
    the folder. The onset is the clip's first frame and the apex is found from
    the frames (:func:`find_apex`). The same rule covers a CASME II or SAMM row
    whose apex cell is not a frame between onset and offset (CASME II has "/").

Cropping is behind :class:`FaceCropper`: :class:`LandmarkCrop` (face detector
and 68 landmarks from the optional ``face_recognition`` package) or
:class:`CentreCrop` (``--no-align``). The crop box comes from the onset frame
and is applied to every frame of the clip, so the motion stays in the crop.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import io
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image, ImageFilter
from tqdm import tqdm

from ..errors import IcezooError
from ..files import atomic_write, atomic_write_text
from .clips import CLASSES, neighbour_offsets
from .megc2019 import FRAME_NAME, MANIFEST_COLUMNS, RESAMPLE, ManifestRow, frame_files, open_image, read_manifest

CROP_SIZE = 128
"""Side of the face crops ``prepare`` writes (the paper's 128x128)."""

LABEL_MAPS: dict[str, dict[str, str]] = {
    "casme2": {"happiness": "positive", "disgust": "negative", "repression": "negative", "surprise": "surprise"},
    "samm": {
        "happiness": "positive",
        "anger": "negative", "contempt": "negative", "disgust": "negative", "fear": "negative", "sadness": "negative",
        "surprise": "surprise",
    },
    "smic": {"positive": "positive", "negative": "negative", "surprise": "surprise"},
}  # fmt: skip
"""Each database's emotion (lower case) -> composite class. Emotions not listed
(CASME II fear, sadness, others; SAMM other) are not in the composite: their clips are dropped."""
assert all(set(m.values()) <= set(CLASSES) for m in LABEL_MAPS.values())


@dataclasses.dataclass(frozen=True)
class CodingLayout:
    """How a database with a coding spreadsheet is laid out."""

    file_name: str  # the spreadsheet's name in the release
    frame_roots: tuple[str, ...]  # folders under --root holding the subject folders, first found wins (else --root)
    subject_folder: str  # subject number -> folder name
    columns: dict[str, str]  # what prepare reads -> the header naming it


CODING: dict[str, CodingLayout] = {
    "casme2": CodingLayout(
        file_name="CASME2-coding-20140508.xlsx",
        frame_roots=("CASME2_RAW_selected", "CASME2_RAW", "Cropped"),
        subject_folder="sub{:02d}",
        columns={"subject": "Subject", "clip": "Filename", "onset": "OnsetFrame", "apex": "ApexFrame",
                 "offset": "OffsetFrame", "emotion": "Estimated Emotion"},
    ),
    "samm": CodingLayout(
        file_name="SAMM_Micro_FACS_Codes_v2.xlsx",
        frame_roots=("SAMM",),
        subject_folder="{:03d}",
        columns={"subject": "Subject", "clip": "Filename", "onset": "Onset Frame", "apex": "Apex Frame",
                 "offset": "Offset Frame", "emotion": "Estimated Emotion"},
    ),
}  # fmt: skip
SMIC_ROOTS = ("SMIC/HS", "HS")
"""Folders under --root holding SMIC-HS's subject folders (s1, s2, ...), else --root itself."""

HEADER_SEARCH_ROWS = 30
"""The header row of a coding spreadsheet is looked for in this many rows from the top."""

APEX_BLUR_RADIUS = 2.0
"""Gaussian blur (pixels at 128x128) applied before frame differences, so sensor noise does not pick the apex."""

ALIGN_INSTALL = "pip install dlib-bin 'setuptools<81' && pip install --no-deps face_recognition==1.3.0 face_recognition_models==0.3.0"
"""The offline install of the landmarks extra (face_recognition_models still imports pkg_resources)."""

Box = tuple[int, int, int, int]  # left, top, right, bottom


# ---------------------------------------------------------------- cropping


def square_box(size: tuple[int, int], centre: tuple[float, float], side: float) -> Box:
    """A square of ``side`` around ``centre``, shrunk and shifted to lie inside an image of ``size`` (w, h)."""
    width, height = size
    side = max(1, min(int(round(side)), width, height))
    left = min(max(int(round(centre[0] - side / 2)), 0), width - side)
    top = min(max(int(round(centre[1] - side / 2)), 0), height - side)
    return left, top, left + side, top + side


def crop_face(image: Image.Image, box: Box, size: int = CROP_SIZE) -> np.ndarray:
    """The box of ``image`` as ``[size, size]`` uint8 grayscale."""
    return np.asarray(image.convert("L").crop(box).resize((size, size), RESAMPLE), dtype=np.uint8)


class FaceCropper(Protocol):
    """Chooses the crop box of a clip from its onset frame."""

    def box(self, image: Image.Image, where: str) -> Box: ...


class CentreCrop:
    """The largest centred square (``--no-align``: frames that are already face crops, or no landmarks extra)."""

    def box(self, image: Image.Image, where: str) -> Box:
        width, height = image.size
        return square_box(image.size, (width / 2, height / 2), min(width, height))


class LandmarkCrop:
    """The square around the 68 landmarks of the most confident face (dlib's HOG detector and shape predictor).

    Needs the optional ``face_recognition`` package (see :data:`ALIGN_INSTALL`).
    A frame with no face falls back to :class:`CentreCrop`; ``missed`` lists them.
    """

    def __init__(self) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pkg_resources' deprecation notice
                import face_recognition_models  # noqa: F401  (first: face_recognition exits the process without it)
                from face_recognition import api
        except ImportError as err:
            raise IcezooError(
                f"face alignment needs the landmarks extra ({err}): {ALIGN_INSTALL}; or pass --no-align"
            ) from None
        self._detect = api.face_detector.run
        self._predict = api.pose_predictor_68_point
        self.missed: list[str] = []

    def landmarks(self, image: Image.Image) -> np.ndarray | None:
        """The 68 landmarks ``[68, 2]`` (x, y) of the most confident face, or None when no face is found."""
        rgb = np.asarray(image.convert("RGB"))
        faces, scores, _ = self._detect(rgb, 1, 0.0)  # upsample once: faces down to ~40 px
        if not faces:
            return None
        shape = self._predict(rgb, faces[int(np.argmax(scores))])
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)

    def box(self, image: Image.Image, where: str) -> Box:
        points = self.landmarks(image)
        if points is None:
            self.missed.append(where)
            return CentreCrop().box(image, where)
        (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
        return square_box(image.size, ((x0 + x1) / 2, (y0 + y1) / 2), max(x1 - x0, y1 - y0))


# ------------------------------------------------------------------- apex


def find_apex(crops: Mapping[int, np.ndarray], onset: int) -> int:
    """The frame whose face differs most from the onset's: largest mean absolute difference after a Gaussian blur.

    ``crops`` maps frame numbers to aligned grayscale crops (the onset among
    them). The blur (:data:`APEX_BLUR_RADIUS`) keeps sensor noise and JPEG
    artefacts from outweighing the facial motion; on a tie the earlier frame wins.
    """
    blurred = {
        n: np.asarray(Image.fromarray(c).filter(ImageFilter.GaussianBlur(APEX_BLUR_RADIUS)), dtype=np.float32)
        for n, c in crops.items()
    }
    reference = blurred[onset]
    return max(sorted(blurred), key=lambda n: (float(np.abs(blurred[n] - reference).mean()), -n))


# ---------------------------------------------------------------- sources


@dataclasses.dataclass(frozen=True)
class SourceClip:
    """One clip of a release, before cropping."""

    subject: str  # as in the manifest: "sub01", "006", "s01"
    clip: str
    label: str  # a composite class
    folder: Path  # the release's frames of this clip
    onset: int | None  # None: the folder's first frame
    apex: int | None  # None: found from the frames (find_apex)
    offset: int | None  # last frame the apex search looks at; None: the folder's last
    where: str  # "file: row N" or the folder, for errors


def _first_dir(root: Path, names: tuple[str, ...]) -> Path:
    return next((root / n for n in names if (root / n).is_dir()), root)


def _cell_number(value: Any) -> int | None:
    """A spreadsheet cell as a frame or subject number, or None ("/", empty, negative, text)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and value >= 0 else None
    text = str(value if value is not None else "").strip()
    return int(text) if text.isdigit() else None


def _normalise(header: Any) -> str:
    return " ".join(str(header).split()).lower() if header is not None else ""


def _read_sheet(path: Path) -> list[tuple[int, tuple[Any, ...]]]:
    """The first worksheet's rows, numbered as in the spreadsheet (1-based)."""
    from openpyxl import load_workbook

    try:  # not read_only: that mode trusts the sheet's stored dimensions, which some writers get wrong
        book = load_workbook(path, data_only=True)
    except Exception as err:  # zipfile.BadZipFile, KeyError, InvalidFileException...
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise IcezooError(f"{path}: not a readable .xlsx spreadsheet ({reason[:200]})") from None
    return list(enumerate(book.worksheets[0].iter_rows(min_row=1, values_only=True), start=1))


def read_coding(dataset: str, path: Path, frames_root: Path) -> tuple[list[SourceClip], collections.Counter[str]]:
    """The composite's clips of a CASME II or SAMM coding spreadsheet, and the dropped emotions with their counts."""
    layout = CODING[dataset]
    wanted = {role: _normalise(header) for role, header in layout.columns.items()}
    rows = _read_sheet(path)
    header_at = next((i for i, (_, cells) in enumerate(rows[:HEADER_SEARCH_ROWS])
                      if {wanted["subject"], wanted["clip"]} <= {_normalise(c) for c in cells}), None)  # fmt: skip
    if header_at is None:
        raise IcezooError(
            f"{path}: no header row with the columns {layout.columns['subject']} and {layout.columns['clip']} in the first {HEADER_SEARCH_ROWS} rows"
        )
    header_row, headers = rows[header_at]
    index = {_normalise(h): i for i, h in reversed(list(enumerate(headers))) if h is not None}
    missing = [layout.columns[role] for role, name in wanted.items() if name not in index]
    if missing:
        raise IcezooError(
            f"{path}: row {header_row}: missing column{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)}"
        )
    column = {role: index[name] for role, name in wanted.items()}

    clips, dropped, first_row = [], collections.Counter(), {}
    for number, cells in rows[header_at + 1 :]:
        cell = {role: cells[i] if i < len(cells) else None for role, i in column.items()}
        if cell["subject"] is None and cell["clip"] is None:
            continue  # blank or note rows below the table
        where = f"{path}: row {number}"
        emotion = str(cell["emotion"] or "").strip().lower()
        if emotion not in LABEL_MAPS[dataset]:
            dropped[emotion or "(empty)"] += 1
            continue
        subject_number = _cell_number(cell["subject"])
        if subject_number is None:
            raise IcezooError(
                f"{where}: {layout.columns['subject']}: expected a subject number, got {cell['subject']!r}"
            )
        clip = str(cell["clip"] or "").strip()
        if not clip:
            raise IcezooError(f"{where}: {layout.columns['clip']}: empty")
        onset = _cell_number(cell["onset"])
        if onset is None:
            raise IcezooError(f"{where}: {layout.columns['onset']}: expected a frame number, got {cell['onset']!r}")
        offset = _cell_number(cell["offset"])
        offset = offset if offset is not None and offset >= onset else None
        apex = _cell_number(cell["apex"])
        apex = apex if apex is not None and apex >= onset and (offset is None or apex <= offset) else None
        subject = layout.subject_folder.format(subject_number)
        if (subject, clip) in first_row:
            raise IcezooError(f"{where}: duplicate clip {subject}/{clip} (first on row {first_row[subject, clip]})")
        first_row[subject, clip] = number
        clips.append(
            SourceClip(
                subject, clip, LABEL_MAPS[dataset][emotion], frames_root / subject / clip, onset, apex, offset, where
            )
        )
    return clips, dropped


def read_smic(root: Path) -> tuple[list[SourceClip], collections.Counter[str]]:
    """SMIC-HS's micro-expression clips (``s1/micro/<label>/<clip>``), and the dropped label folders with their clip counts."""
    base = _first_dir(root, SMIC_ROOTS)
    subjects = sorted(
        (p for p in base.iterdir() if p.is_dir() and re.fullmatch(r"s\d+", p.name)), key=lambda p: int(p.name[1:])
    )
    if not subjects:
        raise IcezooError(
            f"{base}: no SMIC-HS subject folders (s1, s2, ...) found; --root is the SMIC release or its HS folder"
        )
    clips, dropped = [], collections.Counter()
    for subject_dir in subjects:
        micro = subject_dir / "micro"
        if not micro.is_dir():
            continue  # subjects without micro-expressions
        for emotion_dir in sorted(p for p in micro.iterdir() if p.is_dir()):
            clip_dirs = sorted(p for p in emotion_dir.iterdir() if p.is_dir())
            label = LABEL_MAPS["smic"].get(emotion_dir.name.lower())
            if label is None:
                dropped[emotion_dir.name] += len(clip_dirs)
                continue
            subject = f"s{int(subject_dir.name[1:]):02d}"
            clips += [SourceClip(subject, d.name, label, d, None, None, None, str(d)) for d in clip_dirs]
    return clips, dropped


# ---------------------------------------------------------------- prepare


@dataclasses.dataclass
class PrepareReport:
    """What one ``prepare`` call did."""

    dataset: str
    manifest: Path
    rows: list[ManifestRow]  # this database's clips, as written
    total: collections.Counter[str]  # clips per database in the manifest now
    dropped: collections.Counter[str]  # emotions outside the composite -> clips dropped
    apex_from_frames: list[str]  # annotated clips whose apex cell was unusable (found from the frames instead)
    no_face: list[str]  # clips centre-cropped because no face was found in the onset frame


def _prepare_clip(source: SourceClip, dataset: str, cropper: FaceCropper, out: Path, offsets: list[int]) -> ManifestRow:
    """Crop one clip's needed frames into ``out/dataset/subject/clip`` and return its manifest row."""
    frames = frame_files(source.folder, f"{source.where}: clip folder")
    first, last = min(frames), max(frames)

    def source_frame(number: int, what: str) -> Image.Image:
        if number not in frames:
            raise IcezooError(
                f"{source.where}: {what} frame {number} not found in {source.folder} (frames {first}..{last})"
            )
        return open_image(frames[number], source.where)

    onset = first if source.onset is None else source.onset
    onset_image = source_frame(onset, "onset")
    box = cropper.box(onset_image, source.where)
    crops = {onset: crop_face(onset_image, box)}

    def crop(number: int, what: str) -> np.ndarray:
        if number not in crops:
            crops[number] = crop_face(source_frame(number, what), box)
        return crops[number]

    apex = source.apex
    if apex is None:
        end = last if source.offset is None else source.offset
        apex = find_apex({n: crop(n, "clip") for n in frames if onset <= n <= end}, onset)
    keep = {onset: crop(onset, "onset"), apex: crop(apex, "apex")}
    for d in offsets:
        number = min(max(apex + d, first), last)
        keep[number] = crop(number, f"apex neighbour ({d:+d})")

    relative = f"{dataset}/{source.subject}/{source.clip}"
    folder = out / relative
    for number, face in keep.items():
        atomic_write(
            folder / FRAME_NAME.format(number),
            lambda h, face=face: Image.fromarray(face).save(h, format="PNG"),
            fsync=False,
        )
    written = {FRAME_NAME.format(n) for n in keep}
    for stale in folder.glob("frame_*.png"):  # from an earlier run with another apex or --neighbours
        if stale.name not in written:
            stale.unlink()
    return ManifestRow(dataset, source.subject, source.clip, source.label, onset, apex, relative)


def write_manifest(path: Path, rows: list[ManifestRow]) -> None:
    """Write the manifest CSV atomically."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(r.as_csv() for r in rows)
    atomic_write_text(path, text.getvalue())


def prepare(
    dataset: str,
    root: str | Path,
    out: str | Path,
    coding: str | Path | None = None,
    align: bool = True,
    limit: int | None = None,
    neighbours: int = 4,
    progress: bool = True,
) -> PrepareReport:
    """Turn one database's release under ``root`` into face crops and manifest rows under ``out``.

    ``coding`` overrides where the coding spreadsheet is (CASME II, SAMM);
    ``align=False`` centre-crops instead of using landmarks; ``limit`` keeps
    the first N clips (a quick try); ``neighbours`` apex neighbours are saved.
    """
    if dataset not in LABEL_MAPS:
        raise IcezooError(f"--dataset {dataset}: unknown (expected one of {', '.join(LABEL_MAPS)})")
    root, out = Path(root).expanduser(), Path(out).expanduser()
    if not root.is_dir():
        raise IcezooError(f"--root {root}: folder not found")
    if limit is not None and limit < 1:
        raise IcezooError(f"--limit {limit}: must be at least 1")
    if neighbours < 0:
        raise IcezooError(f"--neighbours {neighbours}: must be non-negative")
    cropper: FaceCropper = LandmarkCrop() if align else CentreCrop()

    if dataset == "smic":
        if coding is not None:
            raise IcezooError(f"--coding {coding}: SMIC-HS has no coding spreadsheet (labels come from its folders)")
        sources, dropped = read_smic(root)
    else:
        layout = CODING[dataset]
        sheet = Path(coding).expanduser() if coding is not None else root / layout.file_name
        if not sheet.is_file():
            raise IcezooError(
                f"{sheet}: coding spreadsheet not found" + ("" if coding is not None else "; pass --coding FILE")
            )
        sources, dropped = read_coding(dataset, sheet, _first_dir(root, layout.frame_roots))
    sources = sources[:limit]
    if not sources:
        raise IcezooError(f"--root {root}: no {dataset} clips of the composite's classes found")

    offsets = neighbour_offsets(neighbours)
    rows = [_prepare_clip(s, dataset, cropper, out, offsets)
            for s in tqdm(sources, desc=f"prepare {dataset}", unit="clip", disable=None if progress else True)]  # fmt: skip
    manifest = out / "manifest.csv"
    kept = [r for r in read_manifest(manifest) if r.dataset != dataset] if manifest.exists() else []
    write_manifest(manifest, kept + rows)
    return PrepareReport(
        dataset=dataset,
        manifest=manifest,
        rows=rows,
        total=collections.Counter(r.dataset for r in kept + rows),
        dropped=dropped,
        apex_from_frames=[s.where for s in sources if s.apex is None and dataset != "smic"],
        no_face=cropper.missed if isinstance(cropper, LandmarkCrop) else [],
    )
