"""``icezoo prepare`` on small fake releases laid out like the real CASME II, SAMM and SMIC-HS.

The faces are icezoo's synthetic ones (a neutral onset, the class's motion
rising to the apex and falling back), in frames wider than tall so the crop
matters; the landmark test uses a real photograph shipped by scikit-image.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from icezoo.cli import main
from icezoo.data.clips import CLASSES
from icezoo.data.megc2019 import megc2019
from icezoo.data.prepare import LABEL_MAPS, CentreCrop, crop_face, find_apex, prepare
from icezoo.data.synthetic import random_face, render_face
from icezoo.errors import IcezooError

FRAME_H, FRAME_W = 144, 176

CASME2_HEADER = ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units", "Estimated Emotion"]
# (subject, clip, onset, apex, offset, emotion); fear, sadness and others are not in the composite
CASME2_ROWS = [
    (1, "EP02_01f", 46, 49, 52, "happiness"),
    (1, "EP03_02", 10, 12, 14, "disgust"),
    (2, "EP01_11f", 5, 8, 9, "surprise"),
    (2, "EP04_02", 30, 31, 33, "repression"),
    (2, "EP05_01", 1, 3, 6, "fear"),
    (4, "EP06_01", 1, 3, 6, "sadness"),
    (4, "EP07_01", 1, 3, 6, "others"),
    (5, "EP08_01", 20, "/", 26, "happiness"),  # the release has "/" where the apex is unknown
]
SAMM_HEADER = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration", "Type",
               "Action Units", "Notes", "Estimated Emotion"]  # fmt: skip
SAMM_EMOTIONS = ["Happiness", "Anger", "Contempt", "Disgust", "Fear", "Sadness", "Surprise", "Other"]
SAMM_CLASS = {"Happiness": "positive", "Surprise": "surprise"}  # every other kept emotion is negative


def face_frames(seed: int, label: str, amounts) -> list[np.ndarray]:
    """A clip: one synthetic face at the given expression amounts, centred in a FRAME_W x FRAME_H frame."""
    face = random_face(np.random.default_rng(seed))
    frames = []
    for amount in amounts:
        frame = np.full((FRAME_H, FRAME_W), 70, dtype=np.uint8)
        frame[:, 16 : 16 + FRAME_H] = np.clip(np.rint(render_face(face, label, amount, image_size=FRAME_H)), 0, 255)
        frames.append(frame)
    return frames


def ramp(numbers, apex: int):
    """Expression amount of each frame: 0 at the first, 1 at the apex, falling after it."""
    numbers = list(numbers)
    return [max(0.0, 1.0 - abs(n - apex) / max(apex - numbers[0], 1)) for n in numbers]


def write_clip(folder: Path, numbers, name: str, seed: int, label: str, apex: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n, frame in zip(numbers, face_frames(seed, label, ramp(numbers, apex))):
        Image.fromarray(frame).save(folder / name.format(n))


def write_xlsx(path: Path, cells: dict[int, list]) -> Path:
    """A one-sheet workbook: row number -> the values of that row from column A."""
    from openpyxl import Workbook

    book = Workbook()
    for r, values in cells.items():
        for c, value in enumerate(values, start=1):
            book.active.cell(row=r, column=c, value=value)
    book.save(path)
    return path


@pytest.fixture
def casme2_root(tmp_path) -> Path:
    """CASME II: the coding sheet (header in row 1) and CASME2_RAW_selected/subNN/<Filename>/img{N}.jpg."""
    root = tmp_path / "CASME2"
    rows = {1: CASME2_HEADER}
    for i, (subject, clip, onset, apex, offset, emotion) in enumerate(CASME2_ROWS):
        rows[i + 2] = [subject, clip, onset, apex, offset, "12", emotion]
        if emotion in LABEL_MAPS["casme2"]:  # dropped clips have no frames: prepare must not look for them
            peak = apex if isinstance(apex, int) else offset - 2
            label = LABEL_MAPS["casme2"][emotion]
            write_clip(
                root / f"CASME2_RAW_selected/sub{subject:02d}/{clip}",
                range(onset, offset + 1),
                "img{}.jpg",
                i,
                label,
                peak,
            )
    write_xlsx(root / "CASME2-coding-20140508.xlsx", rows)
    return root


@pytest.fixture
def samm_root(tmp_path) -> Path:
    """SAMM: the v2 sheet with 13 title rows above the header, and SAMM/006/006_1_2/006_05562.jpg."""
    root = tmp_path / "SAMM_release"
    rows = {1: ["SAMM Micro-Movement Database"], 3: ["FACS codes and estimated emotions"], 14: SAMM_HEADER}
    for i, emotion in enumerate(SAMM_EMOTIONS):
        subject = 6 + i % 2
        clip, onset = f"{subject:03d}_{i + 1}_2", 5562 + 10 * i
        # the sheet holds Subject as text ("006") in some rows and as a number in others
        rows[15 + i] = [
            f"{subject:03d}" if i % 2 == 0 else subject,
            clip,
            "1",
            onset,
            onset + 2,
            onset + 4,
            5,
            "Micro - 1/2",
            "12",
            "",
            emotion,
        ]
        label = SAMM_CLASS.get(emotion, "negative")
        write_clip(
            root / f"SAMM/{subject:03d}/{clip}",
            range(onset, onset + 5),
            f"{subject:03d}_{{:05d}}.jpg",
            20 + i,
            label,
            onset + 2,
        )
    write_xlsx(root / "SAMM_Micro_FACS_Codes_v2.xlsx", rows)
    return root


SMIC_CLIPS = [("s1", "negative", "s1_ne_02", 5), ("s1", "positive", "s1_po_01", 8), ("s3", "surprise", "s3_sur_01", 11)]


@pytest.fixture
def smic_root(tmp_path) -> Path:
    """SMIC-HS: SMIC/HS/s1/micro/<label>/<clip>/image{N:06d}.bmp, 14 frames, the apex at a known frame."""
    root = tmp_path / "SMIC_release"
    for k, (subject, label, clip, apex_index) in enumerate(SMIC_CLIPS):
        numbers = range(586240, 586254)
        write_clip(
            root / f"SMIC/HS/{subject}/micro/{label}/{clip}",
            numbers,
            "image{:06d}.bmp",
            40 + k,
            label,
            numbers[apex_index],
        )
    return root


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_label_maps_are_the_composite_mapping():
    assert LABEL_MAPS == {
        "casme2": {"happiness": "positive", "disgust": "negative", "repression": "negative", "surprise": "surprise"},
        "samm": {"happiness": "positive", "anger": "negative", "contempt": "negative", "disgust": "negative",
                 "fear": "negative", "sadness": "negative", "surprise": "surprise"},
        "smic": {"positive": "positive", "negative": "negative", "surprise": "surprise"},
    }  # fmt: skip
    for dropped in ("fear", "sadness", "others"):
        assert dropped not in LABEL_MAPS["casme2"]
    assert "other" not in LABEL_MAPS["samm"]


def test_casme2_manifest_crops_and_megc2019_read_back(casme2_root, tmp_path):
    out = tmp_path / "prepared"
    report = prepare("casme2", casme2_root, out, align=False, progress=False)
    assert report.dropped == {"fear": 1, "sadness": 1, "others": 1}
    assert report.apex_from_frames == [f"{casme2_root / 'CASME2-coding-20140508.xlsx'}: row 9"]
    rows = read_csv(out / "manifest.csv")
    assert [(r["subject"], r["clip"], r["label"], r["onset_frame"], r["apex_frame"]) for r in rows] == [
        ("sub01", "EP02_01f", "positive", "46", "49"),
        ("sub01", "EP03_02", "negative", "10", "12"),
        ("sub02", "EP01_11f", "surprise", "5", "8"),
        ("sub02", "EP04_02", "negative", "30", "31"),
        ("sub05", "EP08_01", "positive", "20", "24"),  # apex from frame differences: the face peaks at 24
    ]
    assert {r["dataset"] for r in rows} == {"casme2"}
    assert rows[0]["frame_folder"] == "casme2/sub01/EP02_01f"

    # only the frames the manifest needs, clamped to the clip: EP01_11f has frames 5..9 and its apex is 8
    written = sorted(p.name for p in (out / "casme2/sub02/EP01_11f").iterdir())
    assert written == [f"frame_{n:06d}.png" for n in (5, 6, 7, 8, 9)]
    with Image.open(out / "casme2/sub01/EP02_01f/frame_000049.png") as crop:
        assert crop.size == (128, 128) and crop.mode == "L"

    clips = megc2019(str(out / "manifest.csv"))
    assert len(clips) == 5 and clips.apex.shape == (5, 5, 128, 128)
    assert [CLASSES[i] for i in clips.label] == ["positive", "negative", "surprise", "negative", "positive"]
    assert clips.subjects() == ["casme2/sub01", "casme2/sub02", "casme2/sub05"]
    saved = lambda n: np.asarray(Image.open(out / f"casme2/sub02/EP01_11f/frame_{n:06d}.png"))  # noqa: E731
    assert np.array_equal(clips.onset[2], saved(5))
    for j, n in enumerate([8, 7, 9, 6, 9]):  # apex, apex-1, apex+1, apex-2, apex+2 clamped to the last frame 9
        assert np.array_equal(clips.apex[2, j], saved(n))


def test_samm_header_rows_subjects_and_every_emotion(samm_root, tmp_path):
    out = tmp_path / "prepared"
    report = prepare("samm", samm_root, out, align=False, progress=False)
    assert report.dropped == {"other": 1}
    rows = read_csv(out / "manifest.csv")
    kept = [e for e in SAMM_EMOTIONS if e.lower() in LABEL_MAPS["samm"]]
    assert [r["label"] for r in rows] == [LABEL_MAPS["samm"][e.lower()] for e in kept]
    assert [r["subject"] for r in rows] == ["006", "007"] * 3 + ["006"]
    assert (rows[0]["clip"], rows[0]["onset_frame"], rows[0]["apex_frame"]) == ("006_1_2", "5562", "5564")
    assert (out / "samm/006/006_1_2/frame_005564.png").is_file()


def test_smic_labels_from_folders_and_apex_from_frame_differences(smic_root, tmp_path):
    out = tmp_path / "prepared"
    prepare("smic", smic_root, out, align=False, progress=False)
    rows = read_csv(out / "manifest.csv")
    assert [(r["subject"], r["clip"], r["label"]) for r in rows] == [
        (f"s{int(s[1:]):02d}", c, lab) for s, lab, c, _ in SMIC_CLIPS
    ]
    assert [int(r["onset_frame"]) for r in rows] == [586240] * 3  # the first frame
    assert [int(r["apex_frame"]) for r in rows] == [586240 + i for *_, i in SMIC_CLIPS]


def test_find_apex_is_not_fooled_by_noise():
    rng = np.random.default_rng(0)
    onset = np.full((128, 128), 120.0)
    crops = {n: onset + rng.normal(0, 6, onset.shape) for n in range(10)}  # strong per-pixel noise on every frame
    crops[6] = crops[6].copy()
    crops[6][40:70, 30:100] += 10  # a small, smooth change: the motion
    crops = {n: np.clip(c, 0, 255).astype(np.uint8) for n, c in crops.items()}
    assert find_apex(crops, onset=0) == 6


def test_manifest_merges_databases_and_replaces_a_rerun(casme2_root, smic_root, tmp_path):
    out = tmp_path / "prepared"
    prepare("casme2", casme2_root, out, align=False, progress=False)
    report = prepare("smic", smic_root, out, align=False, progress=False)
    assert report.total == {"casme2": 5, "smic": 3}
    report = prepare("casme2", casme2_root, out, align=False, limit=2, progress=False)
    assert report.total == {"casme2": 2, "smic": 3}
    clips = megc2019(str(out / "manifest.csv"), datasets=["smic"])
    assert clips.subjects() == ["smic/s01", "smic/s03"]


def test_cli_prepare_end_to_end(casme2_root, tmp_path, capsys):
    out = tmp_path / "prepared"
    code = main(["prepare", "--dataset", "casme2", "--root", str(casme2_root), "--out", str(out), "--no-align"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "casme2: 5 clips (positive 2, negative 2, surprise 1); dropped 3 clips" in captured.out
    assert "apex found from frame differences" in captured.err
    assert len(read_csv(out / "manifest.csv")) == 5

    code = main(["prepare", "--dataset", "samm", "--root", str(tmp_path / "nowhere"), "--out", str(out), "--no-align"])
    assert code == 2 and "--root" in capsys.readouterr().err


def _drop_column(root: Path, header: str) -> None:
    from openpyxl import load_workbook

    path = root / "CASME2-coding-20140508.xlsx"
    book = load_workbook(path)
    book.active.cell(row=1, column=CASME2_HEADER.index(header) + 1, value="Emotion?")
    book.save(path)


def test_release_errors_name_the_file_and_row(casme2_root, smic_root, tmp_path):
    sheet = casme2_root / "CASME2-coding-20140508.xlsx"
    raw = casme2_root / "CASME2_RAW_selected"
    out = tmp_path / "prepared"

    def error(dataset="casme2", root=casme2_root, **kwargs) -> str:
        with pytest.raises(IcezooError) as info:
            prepare(dataset, root, out, align=False, progress=False, **kwargs)
        assert "\n" not in str(info.value)
        return str(info.value)

    assert error(root=tmp_path / "missing") == f"--root {tmp_path / 'missing'}: folder not found"
    assert error(coding=tmp_path / "other.xlsx") == f"{tmp_path / 'other.xlsx'}: coding spreadsheet not found"
    assert "SMIC-HS has no coding spreadsheet" in error("smic", smic_root, coding=sheet)

    (raw / "sub01/EP03_02/img12.jpg").unlink()
    assert error().startswith(f"{sheet}: row 3: apex frame 12 not found in {raw / 'sub01/EP03_02'}")
    (raw / "sub02/EP01_11f/img5.jpg").write_bytes(b"not a jpeg")
    (raw / "sub01/EP03_02").rename(tmp_path / "moved")
    assert error() == f"{sheet}: row 3: clip folder: folder not found: {raw / 'sub01/EP03_02'}"
    (tmp_path / "moved").rename(raw / "sub01/EP03_02")
    write_clip(raw / "sub01/EP03_02", [12], "img{}.jpg", 1, "negative", 12)
    assert error().startswith(f"{sheet}: row 4: cannot decode image {raw / 'sub02/EP01_11f/img5.jpg'}")

    _drop_column(casme2_root, "Estimated Emotion")
    assert error() == f"{sheet}: row 1: missing column 'Estimated Emotion'"
    write_xlsx(sheet, {1: ["notes"], 2: ["Subject", "Clip"]})
    assert "no header row with the columns Subject and Filename" in error()


def test_alignment_without_the_extra_says_how_to_install(casme2_root, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "face_recognition_models", None)  # import fails as if not installed
    with pytest.raises(IcezooError, match=r"pip install dlib-bin .*--no-deps face_recognition==1\.3\.0.*--no-align"):
        prepare("casme2", casme2_root, tmp_path / "out", align=True, progress=False)


def test_landmark_crop_on_a_real_photograph(tmp_path):
    pytest.importorskip("face_recognition_models", reason="the landmarks extra (face_recognition) is not installed")
    pytest.importorskip("face_recognition", reason="the landmarks extra (face_recognition) is not installed")
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image (test extra) ships the photograph")
    from icezoo.data.prepare import LandmarkCrop

    photo = Image.fromarray(skimage_data.astronaut())  # 512x512, one face about 90 px wide near the top centre
    cropper = LandmarkCrop()
    points = cropper.landmarks(photo)
    assert points.shape == (68, 2)
    assert 150 < points[:, 0].min() < points[:, 0].max() < 290 and 70 < points[:, 1].min() < points[:, 1].max() < 200
    left, top, right, bottom = cropper.box(photo, "astronaut")
    assert right - left == bottom - top and left <= points[:, 0].min() and right >= points[:, 0].max()
    face = crop_face(photo, (left, top, right, bottom))
    assert face.shape == (128, 128) and face.dtype == np.uint8
    assert cropper.missed == []
    # an image with no face falls back to the centre crop, and is reported
    blank = Image.new("L", (200, 160), 128)
    assert cropper.box(blank, "blank") == CentreCrop().box(blank, "blank") == (20, 0, 180, 160)
    assert cropper.missed == ["blank"]

    # prepare with alignment: the box from the onset frame's landmarks crops every frame of the clip
    clip = tmp_path / "SMIC/HS/s2/micro/surprise/s2_sur_01"
    clip.mkdir(parents=True)
    frames = [photo.convert("L").rotate(0.0 if n == 0 else 1.0 * n) for n in range(3)]
    for n, frame in enumerate(frames):
        frame.save(clip / f"image{n:06d}.bmp")
    report = prepare("smic", tmp_path, tmp_path / "out", align=True, progress=False)
    assert report.no_face == []
    saved = np.asarray(Image.open(tmp_path / "out/smic/s02/s2_sur_01/frame_000000.png"))
    assert np.array_equal(saved, crop_face(frames[0], (left, top, right, bottom)))


def test_manifest_offsets_and_whole_sequences(casme2_root, smic_root, tmp_path):
    out = tmp_path / "prepared"
    prepare("casme2", casme2_root, out, align=False, progress=False)
    prepare("smic", smic_root, out, align=False, progress=False)
    rows = read_csv(out / "manifest.csv")
    assert list(rows[0]) == ["dataset", "subject", "clip", "label", "onset_frame", "apex_frame", "offset_frame",
                             "frame_folder"]  # fmt: skip
    # CASME II's OffsetFrame; SMIC-HS has none: its clips end at their last frame
    assert [int(r["offset_frame"]) for r in rows] == [52, 14, 9, 33, 26] + [586253] * 3
    written = sorted(p.name for p in (out / "casme2/sub01/EP02_01f").iterdir())
    assert written == [f"frame_{n:06d}.png" for n in range(46, 53)]  # every frame from onset to offset
    clips = megc2019(str(out / "manifest.csv"))
    first = clips.frames[0]
    assert (first.onset, first.apex, first.offset, first.middle) == (46, 49, 52, 49)
    sequence = first.sequence()
    assert sequence.shape == (7, 128, 128)
    np.testing.assert_array_equal(sequence[0], clips.onset[0])
    np.testing.assert_array_equal(sequence[3], clips.apex[0, 0])
    assert len(clips.frames[-1].sequence()) == 14
