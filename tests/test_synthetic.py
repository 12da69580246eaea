"""The synthetic MEGC2019-shaped dataset: exact shape, determinism, subtle motion, caching."""

from __future__ import annotations

import os
from collections import Counter

import numpy as np
import pytest

from icezoo.data import synthetic as syn
from icezoo.data.clips import CLASSES, DATASETS, ClipSet
from icezoo.data.synthetic import AUS, COUNTS, Face, render_face, synthetic
from icezoo.errors import IcezooError


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch):
    """Generate afresh: the suite's ICEZOO_CACHE would otherwise answer from disk."""
    monkeypatch.delenv("ICEZOO_CACHE", raising=False)


@pytest.fixture(scope="module")
def clips64() -> ClipSet:
    with pytest.MonkeyPatch.context() as m:
        m.delenv("ICEZOO_CACHE", raising=False)
        return synthetic(image_size=64)


@pytest.fixture(scope="module")
def clips32() -> ClipSet:
    with pytest.MonkeyPatch.context() as m:
        m.delenv("ICEZOO_CACHE", raising=False)
        return synthetic(image_size=32)


def _mad(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean absolute difference over the last two axes."""
    return np.abs(a.astype(np.float64) - b.astype(np.float64)).mean(axis=(-2, -1))


def test_counts_table_matches_the_composite():
    assert tuple(COUNTS) == DATASETS == ("smic", "casme2", "samm")
    assert [COUNTS[d]["subjects"] for d in DATASETS] == [16, 24, 28]
    per_class = {c: sum(COUNTS[d][c] for d in DATASETS) for c in CLASSES}
    assert per_class == {"negative": 250, "positive": 109, "surprise": 83}
    assert sum(per_class.values()) == 442


def test_exact_counts_per_dataset_class_and_subject(clips32):
    c = clips32
    assert len(c) == 442
    assert c.class_counts() == {"positive": 109, "negative": 250, "surprise": 83}
    expected = {
        "smic": {"negative": 70, "positive": 51, "surprise": 43},
        "casme2": {"negative": 88, "positive": 32, "surprise": 25},
        "samm": {"negative": 92, "positive": 26, "surprise": 15},
    }
    for d, counts in expected.items():
        assert c.class_counts(d) == {k: counts[k] for k in CLASSES}
    assert Counter(c.dataset) == {"smic": 164, "casme2": 145, "samm": 133}

    subjects = c.subjects()
    assert len(subjects) == 68
    for d, n in (("smic", 16), ("casme2", 24), ("samm", 28)):
        assert len([s for s in subjects if s.startswith(d + "/")]) == n
    for s, d in zip(c.subject, c.dataset, strict=True):
        assert s.split("/", 1)[0] == d and len(s) > len(d) + 1


def test_clip_ids_and_distribution_over_subjects(clips32):
    c = clips32
    pairs = list(zip(c.subject, c.clip, strict=True))
    assert len(set(pairs)) == len(pairs), "clip ids must be unique within a subject"
    per_subject = Counter(c.subject)
    assert min(per_subject.values()) >= 1
    assert max(per_subject.values()) >= 3 * min(per_subject.values()), "clips should be spread unevenly"
    classes = {s: set(c.label[c.indices_of([s])].tolist()) for s in c.subjects()}
    assert all(len(v) >= 2 for v in classes.values()), "every subject should show more than one class"
    # labels are not sorted by class inside a subject
    assert any(list(c.label[c.indices_of([s])]) != sorted(c.label[c.indices_of([s])]) for s in c.subjects())


def test_shapes_dtypes_and_gray_range(clips64):
    c = clips64
    assert c.onset.shape == (442, 64, 64) and c.onset.dtype == np.uint8
    assert c.apex.shape == (442, 5, 64, 64) and c.apex.dtype == np.uint8
    assert c.label.dtype == np.int64 and set(c.label.tolist()) == {0, 1, 2}
    assert c.image_size == 64
    for frames in (c.onset, c.apex):
        assert 60 < frames.mean() < 190
        assert (frames == 0).mean() < 0.01 and (frames == 255).mean() < 0.01, "frames should not saturate"
        assert frames.std() > 15, "frames should show a face, not a flat field"


def test_neighbours_argument_and_frame_order():
    c2 = synthetic(image_size=32, neighbours=2)
    c0 = synthetic(image_size=32, neighbours=0)
    c4 = synthetic(image_size=32, neighbours=4)
    assert c2.apex.shape == (442, 3, 32, 32) and c0.apex.shape == (442, 1, 32, 32)
    # frames are drawn independently of how many neighbours there are:
    # neighbours=4 holds apex, apex-1, apex+1, apex-2, apex+2 (nearest first); neighbours=2 apex, apex-1, apex+1
    np.testing.assert_array_equal(c0.onset, c4.onset)
    np.testing.assert_array_equal(c0.apex[:, 0], c4.apex[:, 0])
    np.testing.assert_array_equal(c2.apex, c4.apex[:, :3])


def test_deterministic(clips32):
    again = synthetic(image_size=32)
    np.testing.assert_array_equal(again.onset, clips32.onset)
    np.testing.assert_array_equal(again.apex, clips32.apex)
    np.testing.assert_array_equal(again.label, clips32.label)
    assert again.subject == clips32.subject and again.clip == clips32.clip and again.dataset == clips32.dataset


def test_seeds_differ(clips32):
    other = synthetic(image_size=32, seed=1)
    assert other.class_counts() == clips32.class_counts() and other.subjects() == clips32.subjects()
    assert not np.array_equal(other.label, clips32.label)
    assert _mad(other.onset, clips32.onset).mean() > 5.0


def test_apex_differs_from_onset_only_by_the_motion(clips64):
    c = clips64
    within = _mad(c.apex[:, 0], c.onset)
    assert within.min() > 0.3, "every apex should differ from its onset"
    assert within.max() < 2.5, "the motion must be subtle"
    # the motion is local: most pixels change by no more than the noise
    diff = np.abs(c.apex[:, 0].astype(np.int16) - c.onset.astype(np.int16))
    assert (diff <= 4).mean() > 0.95
    assert diff.max() > 30, "the moving features should show in |apex - onset|"

    first = {}
    for i, s in enumerate(c.subject):
        first.setdefault(s, i)
    onsets = c.onset[list(first.values())]
    between = _mad(onsets[:, None], onsets[None])[np.triu_indices(len(onsets), 1)]
    assert between.min() > 2 * within.max(), "two subjects differ more than a clip's onset and apex"
    assert between.mean() > 5 * within.mean()


def test_neighbours_show_slightly_less_motion(clips64):
    c = clips64
    apex = _mad(c.apex[:, 0], c.onset)
    for j in range(1, 5):
        near = _mad(c.apex[:, j], c.onset)
        assert (near > 0).all()
        assert near.mean() < apex.mean()
        assert _mad(c.apex[:, j], c.apex[:, 0]).mean() < apex.mean()


def test_motion_zero_leaves_only_noise(clips64):
    still = synthetic(image_size=64, motion=0.0)
    np.testing.assert_array_equal(still.onset, clips64.onset)
    np.testing.assert_array_equal(still.label, clips64.label)
    noise = _mad(still.apex[:, 0], still.onset)
    assert 0.3 < noise.mean() < 1.5
    diff = np.abs(still.apex[:, 0].astype(np.int16) - still.onset.astype(np.int16))
    assert diff.max() <= 10, "without motion apex and onset differ by sensor noise only"
    assert _mad(clips64.apex[:, 0], clips64.onset).mean() > noise.mean() + 0.1


def test_each_class_moves_its_own_part_of_the_face():
    face = Face()
    size = 128
    neutral = render_face(face, None, image_size=size)
    rows = np.arange(size)
    # face coordinates -> rows: v = y - cy, y = (row + 0.5) * 2 / size - 1
    v = (rows + 0.5) * 2.0 / size - 1.0 - face.cy
    brows = (v > face.eye_y - face.brow_gap - 0.07) & (v < face.eye_y - face.brow_gap + 0.05)
    mouth = (v > face.mouth_y - 0.06) & (v < face.mouth_y + 0.08)
    energy = {}
    for name in CLASSES:
        diff = np.abs(render_face(face, name, image_size=size) - neutral)
        assert diff.max() > 20
        energy[name] = (diff[brows].sum(), diff[mouth].sum())
    # positive lives in the lower face, surprise and negative move the brows
    assert energy["positive"][1] > 5 * energy["positive"][0]
    assert energy["surprise"][0] > energy["positive"][0] * 5
    assert energy["negative"][0] > energy["positive"][0] * 5
    # surprise raises, negative lowers the brows: the brow's mass moves up vs down
    brow_rows = np.where(brows)[0]

    def centroid(img):
        dark = np.clip(neutral.max() - img, 0, None)[brow_rows][:, 40:88]
        return (dark.sum(axis=1) * brow_rows).sum() / dark.sum()

    c0 = centroid(neutral)
    assert centroid(render_face(face, "surprise", image_size=size)) < c0 - 0.2
    assert centroid(render_face(face, "negative", image_size=size)) > c0 + 0.2


def test_render_is_anti_aliased_for_subpixel_motion():
    face = Face()
    a = render_face(face, "positive", amount=0.50, image_size=64)
    b = render_face(face, "positive", amount=0.55, image_size=64)  # a fraction of a pixel apart
    assert a.dtype == np.float32 and a.shape == (64, 64)
    assert 0.0 < np.abs(a - b).max() < 20.0
    assert np.isfinite(a).all() and a.min() >= 0 and a.max() <= 255
    au = np.zeros(len(AUS))
    np.testing.assert_array_equal(render_face(face, au, image_size=64), render_face(face, None, image_size=64))


def test_cache_round_trip_and_corrupt_file(tmp_path, monkeypatch):
    fresh = synthetic(image_size=32, seed=3, neighbours=1, cache_dir=str(tmp_path))
    files = sorted(p for p in os.listdir(tmp_path) if p.endswith(".npz"))
    assert len(files) == 1 and not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    path = tmp_path / files[0]

    def boom(*args, **kwargs):
        raise AssertionError("should have been read from the cache")

    with monkeypatch.context() as m:
        m.setattr(syn, "_generate", boom)
        cached = synthetic(image_size=32, seed=3, neighbours=1, cache_dir=str(tmp_path))
    np.testing.assert_array_equal(cached.onset, fresh.onset)
    np.testing.assert_array_equal(cached.apex, fresh.apex)
    np.testing.assert_array_equal(cached.label, fresh.label)
    assert cached.label.dtype == np.int64
    assert cached.subject == fresh.subject and cached.dataset == fresh.dataset and cached.clip == fresh.clip

    # other parameters get their own file
    synthetic(image_size=32, seed=4, neighbours=1, cache_dir=str(tmp_path))
    assert len([p for p in os.listdir(tmp_path) if p.endswith(".npz")]) == 2

    # a corrupt file is regenerated silently and rewritten
    path.write_bytes(b"PK\x03\x04 this is not a zip archive")
    again = synthetic(image_size=32, seed=3, neighbours=1, cache_dir=str(tmp_path))
    np.testing.assert_array_equal(again.apex, fresh.apex)
    with np.load(path) as z:
        np.testing.assert_array_equal(z["onset"], fresh.onset)

    # a truncated file too
    path.write_bytes(path.read_bytes()[:1000])
    again = synthetic(image_size=32, seed=3, neighbours=1, cache_dir=str(tmp_path))
    np.testing.assert_array_equal(again.onset, fresh.onset)

    # and a readable archive that is not this set (another version's key, wrong arrays)
    with open(path, "wb") as fh:
        np.savez(fh, key=np.array("something else"), onset=np.zeros((2, 32, 32), np.uint8))
    again = synthetic(image_size=32, seed=3, neighbours=1, cache_dir=str(tmp_path))
    np.testing.assert_array_equal(again.apex, fresh.apex)
    with np.load(path) as z:
        assert z["apex"].shape == (442, 2, 32, 32)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_cache_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ICEZOO_CACHE", str(tmp_path / "env"))
    first = synthetic(image_size=16, seed=2)
    assert len(os.listdir(tmp_path / "env")) == 1
    monkeypatch.setattr(syn, "_generate", lambda *a, **k: (_ for _ in ()).throw(AssertionError("not cached")))
    np.testing.assert_array_equal(synthetic(image_size=16, seed=2).apex, first.apex)


@pytest.mark.parametrize(
    "kwargs", [{"image_size": 8}, {"seed": -1}, {"neighbours": -1}, {"motion": -0.5}, {"motion": float("nan")}]
)
def test_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        synthetic(**kwargs)


def test_sequences_hold_the_onset_apex_and_neighbours_byte_for_byte(clips32):
    frames = clips32.frames
    assert len(frames) == 442 and all(f.onset == 0 for f in frames)
    assert {f.apex for f in frames} <= set(range(4, 9)) and {f.offset - f.apex for f in frames} <= set(range(4, 11))
    for i in range(0, 442, 7):  # every subject's clips render together: these span many subjects
        f = frames[i]
        sequence = f.sequence()
        assert sequence.shape == (f.offset + 1, 32, 32) and sequence.dtype == np.uint8
        np.testing.assert_array_equal(sequence[0], clips32.onset[i])
        np.testing.assert_array_equal(sequence[f.apex], clips32.apex[i, 0])
        for j, d in enumerate([-1, 1, -2, 2]):  # the default neighbours, nearest first
            np.testing.assert_array_equal(sequence[f.apex + d], clips32.apex[i, 1 + j])
        np.testing.assert_array_equal(f.frame(f.middle), sequence[f.middle])


def test_sequences_rise_to_the_apex_and_fall_back(clips64):
    near, rise, fall, apex, offset = [], [], [], [], []
    for i in range(0, 442, 3):
        f = clips64.frames[i]
        diff = f.sequence().astype(np.float64) - clips64.onset[i]
        energy = np.square(diff).mean(axis=(1, 2))  # motion energy against the onset (plus two frames' noise)
        near.append(abs(int(np.argmax(energy)) - f.apex) <= 2)
        rise.append(energy[f.apex] > energy[f.apex // 2] > energy[1])
        fall.append(energy[f.apex] > energy[(f.apex + f.offset) // 2] > energy[f.offset])
        apex.append(energy[f.apex])
        offset.append(energy[f.offset])
    assert np.mean(near) > 0.9 and np.mean(rise) > 0.9 and np.mean(fall) > 0.9
    floor = 2 * (syn.NOISE_STD**2 + 1 / 12)  # two frames' noise and rounding: the offset is the neutral face again
    assert abs(np.median(offset) / floor - 1) < 0.15 and np.median(apex) > 3 * floor


def test_sequences_are_deterministic_and_follow_the_cache(tmp_path):
    fresh = synthetic(image_size=16, seed=5, neighbours=0)
    cached = synthetic(image_size=16, seed=5, neighbours=0, cache_dir=str(tmp_path))
    again = synthetic(image_size=16, seed=5, neighbours=0, cache_dir=str(tmp_path))  # read from the cache
    for i in (0, 200, 441):
        assert (fresh.frames[i].apex, fresh.frames[i].offset) == (again.frames[i].apex, again.frames[i].offset)
        np.testing.assert_array_equal(fresh.frames[i].sequence(), cached.frames[i].sequence())
        np.testing.assert_array_equal(fresh.frames[i].sequence(), again.frames[i].sequence())
    assert synthetic(image_size=16, seed=6).frames[0].sequence().tobytes() != fresh.frames[0].sequence().tobytes()
    with pytest.raises(IcezooError, match="no frame 99"):
        fresh.frames[0].read([99])
