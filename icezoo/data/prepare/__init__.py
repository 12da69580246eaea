"""``icezoo prepare``: a database's own release -> the megc2019 manifest plus 128x128 grayscale face crops.

One call prepares one database into ``OUT/manifest.csv`` (rows of the other
databases already there are kept; this database's rows are replaced) and
``OUT/<dataset>/<subject>/<clip>/frame_{N:06d}.png``, N the release's frame
number. Only the frames the manifest needs are written: every frame from the
onset to the offset (the sequence LBP-TOP and Dual-Inception read) and the apex
neighbours (clamped to the clip's frames), as :mod:`.megc2019` reads them. The
offset is the coding sheet's (OffsetFrame, Offset Frame; clamped to the clip's
last frame), or the clip's last frame where there is none (SMIC-HS, an
unusable cell).

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
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ...errors import IcezooError
from ...files import atomic_write, atomic_write_text, check_out
from ..clips import neighbour_offsets
from ..megc2019 import FRAME_NAME, WRITTEN_COLUMNS, ManifestRow, frame_files, open_image, read_manifest
from .faces import ALIGN_INSTALL, CROP_SIZE, CentreCrop, FaceCropper, LandmarkCrop, crop_face, find_apex, square_box
from .sources import CODING, LABEL_MAPS, SMIC_ROOTS, SourceClip, first_dir, read_coding, read_smic

__all__ = [
    "ALIGN_INSTALL", "CODING", "CROP_SIZE", "LABEL_MAPS", "SMIC_ROOTS", "CentreCrop", "FaceCropper", "LandmarkCrop",
    "PrepareReport", "SourceClip", "crop_face", "find_apex", "prepare", "read_coding", "read_smic", "square_box",
    "write_manifest",
]  # fmt: skip


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

    offset = last if source.offset is None else min(source.offset, last)
    apex = source.apex
    if apex is None:
        apex = find_apex({n: crop(n, "clip") for n in frames if onset <= n <= offset}, onset)
    keep = {onset: crop(onset, "onset"), apex: crop(apex, "apex")}
    keep.update({n: crop(n, "clip") for n in frames if onset <= n <= offset})
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
    return ManifestRow(dataset, source.subject, source.clip, source.label, onset, apex, relative, offset)


def write_manifest(path: Path, rows: list[ManifestRow]) -> None:
    """Write the manifest CSV atomically."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=WRITTEN_COLUMNS, lineterminator="\n")
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
    check_out(out)
    manifest = out / "manifest.csv"  # read before any crop is written: a corrupt one fails with nothing new
    kept = [r for r in read_manifest(manifest) if r.dataset != dataset] if manifest.exists() else []
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
        sources, dropped = read_coding(dataset, sheet, first_dir(root, layout.frame_roots))
    sources = sources[:limit]
    if not sources:
        raise IcezooError(f"--root {root}: no {dataset} clips of the composite's classes found")

    offsets = neighbour_offsets(neighbours)
    rows = [_prepare_clip(s, dataset, cropper, out, offsets)
            for s in tqdm(sources, desc=f"prepare {dataset}", unit="clip", disable=None if progress else True)]  # fmt: skip
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
