"""Predictions that say what they mean: the data a model was trained on, what its scores are, and clips."""

from __future__ import annotations

import json

import numpy as np
import pytest

import icezoo
from icezoo.data import load_clips
from icezoo.inference.about import SYNTHETIC_CAUTION, score_kind

from .test_eval import SMALL, TINY

APEX_AT = 4
"""Where the written clips put their apex: two onset frames, the neighbours at -2 and -1, the apex, +1, +2."""


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from icezoo.cli import main

    out = tmp_path_factory.mktemp("train")
    assert (
        main(["train", str(SMALL), *[a for o in TINY for a in ("--set", o)], "--out", str(out), "--no-progress"]) == 0
    )
    return out / "checkpoint.pt"


@pytest.fixture(scope="module")
def clips128():
    """Synthetic clips at 128x128, the size ``prepare`` crops to (the model then resizes to its own 32)."""
    return load_clips(icezoo.load_recipe(SMALL, [*TINY, "model.image_size=128"]))


# one crop for a clip (the onset's box) and its apex image: the centre square, with or without the landmarks extra
CENTRE = ["--no-align"]


def _clip_frames(clips, i):
    a = clips.apex[i]  # the apex, then neighbours nearest first: -1, +1, -2, +2
    return [clips.onset[i], clips.onset[i], a[3], a[1], a[0], a[2], a[4]]


def _write_clip(folder, frames):
    from PIL import Image

    folder.mkdir(parents=True)
    for n, frame in enumerate(frames):
        Image.fromarray(frame, mode="L").save(folder / f"frame{n + 1}.png")  # frame10 after frame9: natural order
    return folder


def test_frames_find_the_apex_the_clip_names_and_match_the_image(checkpoint, clips128, cli, tmp_path):
    from icezoo.inference.recognise import predict_clip

    near = []
    for i in range(0, 442, 28):  # 16 clips of all classes and databases
        folder = _write_clip(tmp_path / f"clip{i}", _clip_frames(clips128, i))
        near.append(abs(predict_clip(checkpoint, frames=folder, align=False)["apex_frame"] - APEX_AT) <= 1)
    # frame differences from the onset, as prepare finds SMIC's apex: per-frame noise may move it by a frame
    assert sum(near) >= 14, near
    code, out, err = cli("predict", checkpoint, "--frames", tmp_path / "clip0", "--json", *CENTRE)
    assert code == 0, err
    clip = json.loads(out)
    assert abs(clip["apex_frame"] - APEX_AT) <= 1 and clip["frame_count"] == 7
    apex_file = tmp_path / "clip0" / f"frame{clip['apex_frame'] + 1}.png"
    code, out, err = cli("predict", checkpoint, "--image", apex_file, "--json", *CENTRE)
    image = json.loads(out)
    assert code == 0 and image["scores"] == clip["scores"] and image["class"] == clip["class"]
    code, out, _ = cli("predict", checkpoint, "--frames", tmp_path / "clip0", *CENTRE)
    assert code == 0 and f"apex frame {clip['apex_frame']} of 7" in out.splitlines()[0]


def test_a_video_is_read_as_its_frames(checkpoint, clips128, cli, tmp_path):
    iio = pytest.importorskip("imageio.v3")
    frames = _clip_frames(clips128, 0)[1:]  # GIF merges equal consecutive frames: one onset
    iio.imwrite(tmp_path / "clip.gif", np.stack(frames), extension=".gif", duration=40, loop=0)
    folder = _write_clip(tmp_path / "frames", frames)
    code, out, err = cli("predict", checkpoint, "--video", tmp_path / "clip.gif", "--json")
    assert code == 0, err
    video = json.loads(out)
    code, out, _ = cli("predict", checkpoint, "--frames", folder, "--json")
    assert video["frame_count"] == 6 and video["apex_frame"] == json.loads(out)["apex_frame"]
    assert video["scores"] == pytest.approx(json.loads(out)["scores"], abs=1e-6)


def test_a_synthetic_trained_model_says_so_and_names_its_scores(checkpoint, cli, tmp_path):
    from PIL import Image

    Image.fromarray((np.random.default_rng(0).random((90, 120, 3)) * 255).astype(np.uint8)).save(tmp_path / "p.png")
    code, out, err = cli("predict", checkpoint, "--image", tmp_path / "p.png")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[1] == SYNTHETIC_CAUTION and sum(SYNTHETIC_CAUTION in line for line in lines) == 1
    assert "SYNTHETIC faces (seed 0)" in out and "scores: capsule lengths" in out
    code, out, _ = cli("predict", checkpoint, "--image", tmp_path / "p.png", "--json")
    result = json.loads(out)
    assert result["caution"] == SYNTHETIC_CAUTION and result["score_kind"] == "capsule lengths"
    assert result["trained_on"]["type"] == "synthetic" and "probabilities" not in result


def test_score_kinds_follow_the_head():
    assert score_kind(icezoo.load_recipe("icegan"))[0] == "capsule lengths"
    assert score_kind(icezoo.load_recipe("table4/dcnn"))[0] == "logits"


def test_a_manifest_trained_model_has_no_caution(checkpoint, tmp_path):
    from icezoo.inference.about import data_sentence, is_synthetic
    from icezoo.train.model_folder import trained_on

    data = trained_on({"recipe": {"data": {"type": "megc2019", "manifest": "/data/m.csv"}}})
    assert not is_synthetic(data) and data_sentence(data) == "Data: dataset 'megc2019' manifest /data/m.csv."


@pytest.mark.parametrize(
    "args, message",
    [
        (["--frames", "MISSING"], "not a folder of frame images"),
        (["--frames", "EMPTY"], "0 frame images"),
        (["--video", "MISSING.mp4"], "file not found"),
        (["--video", "NOTVIDEO"], "cannot decode"),
    ],
)
def test_bad_clips_are_one_line(checkpoint, cli, tmp_path, args, message):
    (tmp_path / "EMPTY").mkdir()
    (tmp_path / "NOTVIDEO").write_text("not a video")
    code, _, err = cli("predict", checkpoint, args[0], tmp_path / args[1])
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_an_mp4_is_decoded_by_pyav(checkpoint, clips128, cli, tmp_path):
    iio = pytest.importorskip("imageio.v3")
    pytest.importorskip("av")
    frames = _clip_frames(clips128, 0)
    rgb = np.stack([np.stack([f] * 3, -1) for f in frames])
    iio.imwrite(tmp_path / "clip.mp4", rgb, plugin="pyav", codec="libx264rgb", fps=25, out_pixel_format="rgb24")
    code, out, err = cli("predict", checkpoint, "--video", tmp_path / "clip.mp4", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["frame_count"] == 7 and abs(result["apex_frame"] - APEX_AT) <= 1 and result["video"].endswith(".mp4")


def test_a_cnn_head_gives_logits_and_their_probabilities(cli, tmp_path):
    import torch

    sets = [*TINY, "model.discriminator.head={type: cnn, width: 8}", "loss.classification={type: cross_entropy}"]
    code, _, err = cli("train", SMALL, *[a for o in sets for a in ("--set", o)], "--out", tmp_path, "--no-progress")
    assert code == 0, err
    from PIL import Image

    Image.fromarray((np.random.default_rng(1).random((40, 40)) * 255).astype(np.uint8)).save(tmp_path / "f.png")
    code, out, err = cli("predict", tmp_path / "checkpoint.pt", "--image", tmp_path / "f.png", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["score_kind"] == "logits"
    expected = torch.softmax(torch.tensor(list(result["scores"].values())), 0).tolist()
    assert list(result["probabilities"].values()) == pytest.approx(expected, abs=1e-6)
    code, out, _ = cli("predict", tmp_path / "checkpoint.pt", "--image", tmp_path / "f.png")
    assert "scores: logits" in out and "(probability " in out
