"""The megc2019 dataset: reading a manifest of face crops, apex neighbours, and one clear error per malformed manifest.

Each frame written here is a flat image whose gray level is its frame number,
so the test can tell exactly which frame landed where.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from icezoo.data.clips import CLASSES, neighbour_offsets
from icezoo.data.megc2019 import MANIFEST_COLUMNS, megc2019
from icezoo.errors import IcezooError
from icezoo.registry import registry


def write_frames(folder: Path, numbers, name: str = "frame_{:06d}.png", size: int = 128) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in numbers:
        Image.fromarray(np.full((size, size), n, dtype=np.uint8)).save(folder / name.format(n))


def write_manifest(path: Path, rows: list[dict], columns=MANIFEST_COLUMNS) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def row(dataset, subject, clip, label, onset, apex, folder) -> dict:
    return dict(
        dataset=dataset,
        subject=subject,
        clip=clip,
        label=label,
        onset_frame=onset,
        apex_frame=apex,
        frame_folder=folder,
    )


@pytest.fixture
def manifest(tmp_path) -> Path:
    """Three clips in three naming rules: prepare's, CASME II's reg_img{N} and SAMM's {subject}_{N:05d}."""
    write_frames(tmp_path / "casme2/sub01/EP02_01f", [10, 20, 21, 22, 23, 24])
    write_frames(tmp_path / "raw/sub02/EP03_02", range(30, 41), name="reg_img{}.bmp")
    write_frames(tmp_path / "samm/006/006_1_2", range(50, 56), name="006_{:05d}.png")
    return write_manifest(tmp_path / "manifest.csv", [
        row("casme2", "sub01", "EP02_01f", "positive", 10, 22, "casme2/sub01/EP02_01f"),
        row("casme2", "sub02", "EP03_02", "negative", 30, 35, "raw/sub02/EP03_02"),
        row("samm", "006", "006_1_2", "surprise", 50, 55, "samm/006/006_1_2"),
    ])  # fmt: skip


def test_neighbour_offsets_surround_the_apex():
    assert neighbour_offsets(0) == []
    assert neighbour_offsets(4) == [-1, 1, -2, 2]  # nearest first
    assert neighbour_offsets(3) == [-1, 1, -2]


def test_reads_clips_labels_subjects_and_apex_neighbours(manifest):
    clips = megc2019(str(manifest))
    assert len(clips) == 3 and clips.image_size == 128
    assert clips.apex.shape == (3, 5, 128, 128) and clips.onset.dtype == np.uint8
    assert [CLASSES[i] for i in clips.label] == ["positive", "negative", "surprise"]
    assert clips.subject == ["casme2/sub01", "casme2/sub02", "samm/006"]
    assert clips.dataset == ["casme2", "casme2", "samm"] and clips.clip == ["EP02_01f", "EP03_02", "006_1_2"]
    assert [int(clips.onset[i, 0, 0]) for i in range(3)] == [10, 30, 50]
    # apex first, then apex-1, apex+1, apex-2, apex+2 (nearest first), clamped to the folder's first and last frame
    assert clips.apex[:, :, 0, 0].tolist() == [[22, 21, 23, 20, 24], [35, 34, 36, 33, 37], [55, 54, 55, 53, 55]]


def test_resizes_crops_and_filters_datasets(manifest):
    clips = megc2019(str(manifest), image_size=32, neighbours=2, datasets=["samm"])
    assert clips.onset.shape == (1, 32, 32) and clips.apex.shape == (1, 3, 32, 32)
    assert clips.dataset == ["samm"] and clips.apex[0, :, 5, 5].tolist() == [55, 54, 55]
    with pytest.raises(IcezooError, match="datasets: unknown dataset 'casme'"):
        megc2019(str(manifest), datasets=["casme"])
    with pytest.raises(IcezooError, match="no clips of smic"):
        megc2019(str(manifest), datasets=["smic"])


def test_registered_and_missing_manifest_fails_at_validation(manifest, tmp_path):
    clips = registry.build("dataset", {"type": "megc2019", "manifest": str(manifest), "neighbours": 0}, image_size=64)
    assert clips.apex.shape == (3, 1, 64, 64)
    with pytest.raises(IcezooError, match="file not found"):
        registry.validate("dataset", {"type": "megc2019", "manifest": str(tmp_path / "nope.csv")}, "data")


def test_sequences_without_offset_column_end_at_the_folders_last_frame(manifest):
    """A manifest written before offset_frame existed still loads; each clip's sequence runs to its last frame."""
    clips = megc2019(str(manifest), image_size=32)
    frames = clips.frames
    assert [(f.onset, f.apex, f.offset) for f in frames] == [(10, 22, 24), (30, 35, 40), (50, 55, 55)]
    sequence = frames[1].sequence()
    assert sequence.shape == (11, 32, 32) and sequence.dtype == np.uint8
    assert sequence[:, 0, 0].tolist() == list(range(30, 41))
    assert frames[1].middle == 35 and frames[2].middle == 52 and int(frames[2].frame(52)[3, 3]) == 52
    assert clips.subset([2, 1]).frames == [frames[2], frames[1]]
    # a folder holding only some frames (prepared before sequences were saved): one line, when the sequence is read
    with pytest.raises(IcezooError) as info:
        frames[0].sequence()
    text = str(info.value)
    assert (
        "\n" not in text and text.startswith(f"{manifest}:2: frames: 9 frames (11, ...) not found") and "rerun" in text
    )


def test_offset_column_ends_the_sequence(manifest):
    _rewrite(manifest, lambda rows: [r.update(offset_frame=o) for r, o in zip(rows, ["", "38", "55"])])
    frames = megc2019(str(manifest), image_size=16).frames
    assert [f.offset for f in frames] == [24, 38, 55]  # an empty cell: the folder's last frame
    assert frames[1].sequence()[:, 0, 0].tolist() == list(range(30, 39))


def _with_offsets(*offsets: str):
    return lambda m: _rewrite(m, lambda rows: [r.update(offset_frame=o) for r, o in zip(rows, offsets)])


def _rewrite(manifest: Path, edit) -> None:
    with manifest.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    edit(rows)
    write_manifest(manifest, rows, columns=list(rows[0]))


# (how to break the manifest, line, column, what the message says)
BROKEN = {
    "missing column": (lambda m: _rewrite(m, lambda rows: [r.pop("label") for r in rows]), 1, "label", "missing column"),
    "unknown label": (lambda m: _rewrite(m, lambda rows: rows[1].update(label="happiness")), 3, "label", "unknown label 'happiness'"),
    "unknown dataset": (lambda m: _rewrite(m, lambda rows: rows[2].update(dataset="casme")), 4, "dataset", "unknown dataset 'casme'"),
    "duplicate clip": (lambda m: _rewrite(m, lambda rows: rows[2].update(rows[0])), 4, "clip", "duplicate clip casme2/sub01/EP02_01f (first on line 2)"),
    "onset not an integer": (lambda m: _rewrite(m, lambda rows: rows[0].update(onset_frame="10.5")), 2, "onset_frame", "expected a frame number"),
    "empty subject": (lambda m: _rewrite(m, lambda rows: rows[0].update(subject="")), 2, "subject", "empty"),
    "missing frame folder": (lambda m: _rewrite(m, lambda rows: rows[1].update(frame_folder="raw/sub09/EP03_02")), 3, "frame_folder", "folder not found"),
    "missing apex frame": (lambda m: (m.parent / "casme2/sub01/EP02_01f/frame_000022.png").unlink(), 2, "apex_frame", "frame 22 not found"),
    "missing neighbour frame": (lambda m: (m.parent / "casme2/sub01/EP02_01f/frame_000021.png").unlink(), 2, "apex_frame", "apex neighbour -1, frame 21 not found"),
    "offset before the apex": (_with_offsets("", "33", ""), 3, "offset_frame", "33 comes before the apex_frame 35"),
    "offset before the onset": (_with_offsets("9", "", ""), 2, "offset_frame", "9 comes before the onset_frame 10"),
    "offset not an integer": (_with_offsets("", "", "x"), 4, "offset_frame", "expected a frame number"),
    "corrupt image": (lambda m: (m.parent / "samm/006/006_1_2/006_00050.png").write_bytes(b"\x89PNG not really"), 4, "onset_frame", "cannot decode image"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BROKEN))
def test_malformed_manifest_is_one_line_naming_file_line_and_column(manifest, case):
    breakage, line, column, message = BROKEN[case]
    breakage(manifest)
    with pytest.raises(IcezooError) as info:
        megc2019(str(manifest))
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"{manifest}:{line}: {column}"), text
    assert message in text
