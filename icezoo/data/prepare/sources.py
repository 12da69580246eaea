"""The databases' own releases read into clips: CASME II and SAMM coding spreadsheets, SMIC-HS folders.

The label mapping to the composite's three classes (:data:`LABEL_MAPS`) and
each release's layout (:data:`CODING`) are data here; see the package
docstring for the layouts.
"""

from __future__ import annotations

import collections
import dataclasses
import re
from pathlib import Path
from typing import Any

from ...errors import IcezooError
from ..clips import CLASSES

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


@dataclasses.dataclass(frozen=True)
class SourceClip:
    """One clip of a release, before cropping."""

    subject: str  # as in the manifest: "sub01", "006", "s01"
    clip: str
    label: str  # a composite class
    folder: Path  # the release's frames of this clip
    onset: int | None  # None: the folder's first frame
    apex: int | None  # None: found from the frames (find_apex)
    offset: int | None  # the clip's last frame (the manifest's offset_frame); None: the folder's last
    where: str  # "file: row N" or the folder, for errors


def first_dir(root: Path, names: tuple[str, ...]) -> Path:
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
    base = first_dir(root, SMIC_ROOTS)
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
