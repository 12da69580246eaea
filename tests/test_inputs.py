"""The ``input`` components: apex faces, TV-L1 flow and strain, LBP-TOP, and the per-clip feature cache."""

from __future__ import annotations

import sys
from fractions import Fraction

import numpy as np
import pytest

from icezoo.data.clips import ClipFrames, ClipSet, to_unit_range
from icezoo.data.synthetic import random_face, render_face, synthetic
from icezoo.errors import IcezooError
from icezoo.inputs import (
    Apex,
    Flow,
    FlowHSV,
    FlowStrain,
    LBPTop,
    cache,
    farneback_hsv,
    lbp_codes,
    lbp_top,
    optical_strain,  # fmt: skip
    tvl1_flow,
)
from icezoo.inputs import flow as flow_module
from icezoo.inputs.lbp_top import neighbours, temporal_interpolation, uniform_codes
from icezoo.registry import registry

from .helpers import fresh_feature_cache  # noqa: F401  (autouse: each test its own feature cache)


@pytest.fixture(scope="module")
def clips() -> ClipSet:
    """Twelve synthetic clips at 32x32, with their sequences."""
    with pytest.MonkeyPatch.context() as m:
        m.delenv("ICEZOO_CACHE", raising=False)
        return synthetic(image_size=32).subset(range(0, 120, 10))


def solver_params() -> dict:
    return {k: v for k, v in Flow().params.items() if k not in ("target", "size")}


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------ strain, flow


def test_strain_of_a_linear_flow_field_is_exact():
    y, x = np.mgrid[0:20, 0:24].astype(np.float64)
    a, b, c, d = 0.03, -0.02, 0.05, 0.01  # u = a x + b y, v = c x + d y: ux = a, uy = b, vx = c, vy = d
    strain = optical_strain(a * x + b * y + 1.0, c * x + d * y - 2.0)
    expected = np.sqrt(a**2 + d**2 + 0.5 * (b + c) ** 2)
    np.testing.assert_allclose(strain, expected, rtol=1e-6)
    # a pure translation has none; swapping the roles of x and y changes it (the formula is not symmetric in them)
    assert np.abs(optical_strain(np.full((8, 8), 0.7), np.full((8, 8), -0.2))).max() == 0
    assert not np.allclose(optical_strain(a * y + b * x, c * y + d * x), expected)


@pytest.mark.parametrize("dx, dy", [(0.5, 0.0), (0.3, -0.4)])
def test_tvl1_recovers_a_subpixel_translation_of_a_face(dx, dy):
    pytest.importorskip("cv2", reason="the baselines extra (opencv-contrib-python-headless) is not installed")
    ndimage = pytest.importorskip("scipy.ndimage")
    face = render_face(random_face(np.random.default_rng(3)), image_size=64).astype(np.float64)
    first = np.clip(np.rint(face), 0, 255).astype(np.uint8)
    second = np.clip(np.rint(ndimage.shift(face, (dy, dx), order=3, mode="nearest")), 0, 255).astype(np.uint8)
    u, v = tvl1_flow(first, second, **solver_params())
    inside = (slice(16, 48), slice(16, 48))
    assert abs(float(u[inside].mean()) - dx) < 0.1 and abs(float(v[inside].mean()) - dy) < 0.1
    still_u, still_v = tvl1_flow(first, first, **solver_params())
    assert np.abs(still_u).max() < 1e-3 and np.abs(still_v).max() < 1e-3


def test_a_farneback_picture_of_a_grey_face_is_its_normalised_magnitude_brightest_where_it_moves_most():
    """ME-Recognizer's HSV picture: a grey face has no saturation, so the three channels are the value, the flow's
    magnitude min-max normalised; the half of the face that moves is bright, the still half dark."""
    pytest.importorskip("cv2", reason="the baselines extra (opencv-contrib-python-headless) is not installed")
    ndimage = pytest.importorskip("scipy.ndimage")
    face = render_face(random_face(np.random.default_rng(5)), image_size=64).astype(np.float64)
    moved = face.copy()
    moved[:, 32:] = ndimage.shift(face, (0, 2.0), order=3, mode="nearest")[:, 32:]  # the right half moves 2 px
    onset, apex = (np.clip(np.rint(f), 0, 255).astype(np.uint8) for f in (face, moved))
    params = {k: v for k, v in FlowHSV().params.items() if k != "size"}
    picture = farneback_hsv(onset, apex, **params)
    assert picture.shape == (64, 64, 3) and picture.dtype == np.uint8
    assert (picture[..., 0] == picture[..., 1]).all() and (picture[..., 1] == picture[..., 2]).all()
    assert picture.max() >= 254 and picture[:, 40:56].mean() > 4 * picture[:, 4:24].mean()


def test_the_flow_hsv_input_is_a_256_picture_read_as_its_centre_224(clips):
    pytest.importorskip("cv2", reason="the baselines extra (opencv-contrib-python-headless) is not installed")
    hsv = FlowHSV()
    assert hsv.stored_shape(32) == (3, 256, 256) and hsv.shape(32) == (3, 224, 224)
    stored, read = hsv(clips, progress=False, stored=True), hsv(clips, progress=False)
    assert stored.shape == (len(clips), 3, 256, 256) and stored.min() >= -1 and stored.max() <= 1
    np.testing.assert_array_equal(read, stored[..., 16:240, 16:240])
    with pytest.raises(IcezooError, match="crop must lie in 1..256"):
        FlowHSV(crop=300)


def test_flow_defaults_are_opencvs():
    cv2 = pytest.importorskip("cv2", reason="the baselines extra (opencv-contrib-python-headless) is not installed")
    solver = cv2.optflow.DualTVL1OpticalFlow_create()
    getters = {"tau": "Tau", "lambda_": "Lambda", "theta": "Theta", "nscales": "ScalesNumber", "warps": "WarpingsNumber",
               "epsilon": "Epsilon", "inner_iterations": "InnerIterations", "outer_iterations": "OuterIterations",
               "scale_step": "ScaleStep", "gamma": "Gamma", "median_filtering": "MedianFiltering"}  # fmt: skip
    assert set(getters) == set(solver_params())
    for key, name in getters.items():
        assert solver_params()[key] == pytest.approx(getattr(solver, f"get{name}")()), key
    assert Flow().params["size"] == 28 and Flow().params["target"] == "apex"


def test_flow_inputs_shapes_and_channels(clips):
    pytest.importorskip("cv2", reason="the baselines extra (opencv-contrib-python-headless) is not installed")
    flow, both = Flow(), FlowStrain()
    assert flow.shape(32) == (2, 28, 28) and both.shape(128) == (3, 28, 28)
    x, y = flow(clips, progress=False), both(clips, progress=False)
    assert x.shape == (len(clips), 2, 28, 28) and y.shape == (len(clips), 3, 28, 28) and y.dtype == np.float32
    np.testing.assert_array_equal(y[:, :2], x)  # u and v first, then the strain
    assert (y[:, 2] >= 0).all() and y[:, 2].max() > 0
    middle = Flow(target="middle", size=16)(clips, progress=False)
    assert middle.shape == (len(clips), 2, 16, 16) and not np.array_equal(middle, Flow(size=16)(clips, progress=False))


def test_a_second_fold_computes_no_flow(clips, monkeypatch):
    pytest.importorskip("cv2", reason="the baselines extra (opencv-contrib-python-headless) is not installed")
    calls = []
    real = flow_module.tvl1_flow
    monkeypatch.setattr(flow_module, "tvl1_flow", lambda *a, **k: calls.append(1) or real(*a, **k))
    inp = FlowStrain(size=8)
    first = inp(clips, progress=False)
    assert len(calls) == len(clips)
    fold = clips.subset([3, 1, 7])  # another fold: a subset of the same clips
    np.testing.assert_array_equal(inp(fold, progress=False), first[[3, 1, 7]])
    cache.forget()  # another process: the disk answers
    np.testing.assert_array_equal(FlowStrain(size=8)(clips, progress=False), first)
    assert len(calls) == len(clips)
    FlowStrain(size=8, lambda_=0.3)(fold, progress=False)  # another parameter is another feature
    assert len(calls) == len(clips) + 3


def test_a_corrupt_cache_file_is_one_line_naming_it(clips, tmp_path):
    pytest.importorskip("cv2", reason="the baselines extra (opencv-contrib-python-headless) is not installed")
    Flow(size=8)(clips, progress=False)
    files = sorted((tmp_path / "cache" / "features" / "flow").glob("*.npy"))
    assert len(files) == len(clips) and not list((tmp_path / "cache").rglob("*.tmp"))
    files[0].write_bytes(b"\x93NUMPY garbage")
    cache.forget()
    with pytest.raises(IcezooError) as err:
        Flow(size=8)(clips, progress=False)
    assert str(files[0]) in one_line(err) and "corrupt" in str(err.value)
    np.save(files[0], np.zeros((3, 8, 8), np.float32))  # readable, but not this input's shape
    with pytest.raises(IcezooError, match="expected float32 \\[2, 8, 8\\]"):
        Flow(size=8)(clips, progress=False)


def test_a_one_frame_clip_is_refused_by_the_flow_inputs(clips):
    same = ClipFrames(5, 5, 9, lambda numbers: np.zeros((len(numbers), 32, 32), np.uint8))
    one = ClipSet(clips.onset[:1], clips.apex[:1], clips.label[:1], ["casme2/sub01"], ["casme2"], ["EP01"], [same])
    with pytest.raises(IcezooError) as err:
        Flow()(one, progress=False)
    assert "casme2/sub01/EP01" in one_line(err) and "same frame (5)" in str(err.value)
    short = ClipFrames(5, 6, 6, same.read)  # onset..offset 5..6: the middle frame is the onset
    with pytest.raises(IcezooError, match="no middle frame"):
        FlowStrain(target="middle")(ClipSet(**{**one.__dict__, "frames": [short]}), progress=False)
    with pytest.raises(IcezooError) as err:
        Flow(target="middle")(ClipSet(**{**one.__dict__, "frames": None}), progress=False)
    assert "no sequence" in one_line(err)


def test_without_opencv_the_flow_inputs_say_how_to_install(clips, monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    with pytest.raises(IcezooError) as err:
        Flow()(clips, progress=False)
    assert 'pip install -e ".[baselines]"' in one_line(err)


# ------------------------------------------------------------------ LBP-TOP


def test_lbp_top_of_a_constant_clip_is_one_bin_per_histogram():
    features = lbp_top(temporal_interpolation(np.full((7, 40, 40), 90, np.uint8), 10))
    assert features.shape == (11_328,) and features.dtype == np.float32
    histograms = features.reshape(3, 64, 59)
    np.testing.assert_array_equal(histograms.sum(-1), 1.0)  # each block's histogram sums to 1
    assert (histograms.max(-1) == 1.0).all() and (histograms.argmax(-1) == 57).all()  # all neighbours >= centre


def test_lbp_xy_codes_match_scikit_image_nri_uniform():
    skimage = pytest.importorskip("skimage.feature", reason="scikit-image is not installed")
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (120, 100)).astype(np.uint8)
    reference = skimage.local_binary_pattern(noise, 8, 3, "nri_uniform")[3:-3, 3:-3]
    np.testing.assert_array_equal(lbp_codes(noise, 8, 3, 3), reference)
    assert len(np.unique(reference)) == 59
    # a face has flat patches and symmetric ones: the codes differ only where a neighbour equals its centre
    # exactly (scikit-image samples in floating point, which can put such a tie either side)
    face = np.clip(np.rint(render_face(random_face(np.random.default_rng(1)), "surprise", image_size=48)), 0, 255)
    face = face.astype(np.uint8)
    reference = skimage.local_binary_pattern(face, 8, 3, "nri_uniform")[3:-3, 3:-3]
    mine = lbp_codes(face, 8, 3, 3)
    differ = np.argwhere(mine != reference)
    assert len(differ) < 0.01 * mine.size
    for r, c in differ + 3:
        assert any(_exact_sample(face, r, c, dr, dc) == face[r, c] for dr, dc in neighbours(8, 3, 3))


def _exact_sample(image: np.ndarray, r: int, c: int, dr: float, dc: float) -> Fraction:
    r0, c0 = int(np.floor(dr)), int(np.floor(dc))
    wr, wc = Fraction(str(dr)) - r0, Fraction(str(dc)) - c0
    at = lambda i, j: int(image[r + i, c + j]) if 0 <= r + i < image.shape[0] and 0 <= c + j < image.shape[1] else 0  # noqa: E731
    top = (1 - wc) * at(r0, c0) + (wc * at(r0, c0 + 1) if wc else 0)
    bottom = (1 - wc) * at(r0 + 1, c0) + (wc * at(r0 + 1, c0 + 1) if wc else 0) if wr else 0
    return (1 - wr) * top + wr * bottom


def test_uniform_codes_are_59_and_every_rotation_of_a_run_is_its_own_code():
    table = uniform_codes(8)
    assert table.min() == 0 and table.max() == 58 and len(np.unique(table)) == 59
    assert table[0] == 0 and table[255] == 57 and table[0b01010000] == 58
    runs = [table[((0b111 << s) | (0b111 >> (8 - s))) & 255] for s in range(8)]  # a run of three, rotated
    assert len(set(runs)) == 8


def test_temporal_interpolation_keeps_the_ends_and_is_linear():
    sequence = np.stack([np.full((4, 4), v, np.uint8) for v in (0, 90, 180)])
    out = temporal_interpolation(sequence, 5) / 4  # int64 scaled by frames - 1
    np.testing.assert_array_equal(out[:, 0, 0], [0, 45, 90, 135, 180])


def test_lbp_top_input_reads_each_sequence(clips):
    inp = registry.build("input", {"type": "lbp_top"})
    assert inp.shape(32) == (11_328,)
    x = inp(clips, progress=False)
    assert x.shape == (len(clips), 11_328) and x.dtype == np.float32
    np.testing.assert_allclose(x.reshape(len(clips), 3 * 64, 59).sum(-1), 1.0, rtol=1e-6)
    volume = temporal_interpolation(clips.frames[4].sequence(), 10)
    np.testing.assert_array_equal(x[4], lbp_top(volume))
    assert LBPTop(blocks=2, points=4).shape(32) == (3 * 4 * 15,)
    tiny = ClipFrames(0, 3, 6, lambda numbers: np.zeros((len(numbers), 12, 12), np.uint8))
    small = ClipSet(np.zeros((1, 12, 12), np.uint8), np.zeros((1, 1, 12, 12), np.uint8), clips.label[:1], ["s/1"],
                    ["smic"], ["c"], [tiny])  # fmt: skip
    with pytest.raises(IcezooError, match="12x12 faces are too small for 8x8 blocks"):
        LBPTop(blocks=8)(small, progress=False)
    assert LBPTop(blocks=2)(small, progress=False).shape == (1, 3 * 4 * 59)


def test_lbp_top_needs_a_sequence(clips):
    without = ClipSet(**{**clips.__dict__, "frames": None})
    with pytest.raises(IcezooError) as err:
        LBPTop()(without, progress=False)
    assert "no sequence" in one_line(err)


# ------------------------------------------------------------------ apex, registry


def test_apex_is_the_face_scaled_as_the_trainer_scales_it(clips):
    x = registry.build("input", "apex")(clips, progress=False)
    assert x.shape == (len(clips), 1, 32, 32) and x.dtype == np.float32
    np.testing.assert_array_equal(x, to_unit_range(clips.apex[:, 0].copy()).numpy())
    small = Apex(size=16)
    assert small.shape(32) == (1, 16, 16) and small(clips, progress=False).shape == (len(clips), 1, 16, 16)


def test_registry_specs_and_bad_parameters():
    assert registry.names("input") == ["apex", "flow", "flow_hsv", "flow_strain", "lbp_top"]
    assert all(e.obj.name == e.name for e in registry.entries("input"))  # the name is the cache folder's
    flow = registry.build("input", {"type": "flow", "target": "middle", "lambda_": 0.1})
    assert flow.params["target"] == "middle" and flow.params["lambda_"] == 0.1 and flow.params["nscales"] == 5
    with pytest.raises(IcezooError, match="target"):
        registry.build("input", {"type": "flow", "target": "offset"})
    with pytest.raises(IcezooError, match="warps must be at least 1"):
        Flow(warps=0)
    with pytest.raises(IcezooError, match="frames"):
        LBPTop(frames=6)
