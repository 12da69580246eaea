"""Predictions that say what they mean: the data a model was trained on, what its scores are, and clips."""

from __future__ import annotations

import json

import numpy as np
import pytest

import icezoo
from icezoo.data import load_clips
from icezoo.inference.about import SYNTHETIC_CAUTION, score_kind

from .test_eval import SMALL, TINY


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


def _ramp_clip(clips, i, apex_at, length=9):
    """A ``length``-frame clip whose face moves from clip ``i``'s onset (frame 0) to its apex and back.

    Frame n > 0 blends onset and apex by a weight that is 1 only at ``apex_at`` and falls by a quarter per frame, so
    the apex differs from the onset strictly more than every other frame: only the frame the clip names is right.
    """
    onset, apex = clips.onset[i].astype(np.float32), clips.apex[i, 0].astype(np.float32)
    weights = [0.0] + [max(0.0, 1.0 - 0.25 * abs(n - apex_at)) for n in range(1, length)]
    return [np.rint(onset + w * (apex - onset)).astype(np.uint8) for w in weights]


def test_frames_find_the_apex_the_clip_names_and_match_the_image(checkpoint, clips128, cli, tmp_path):
    from icezoo.inference.recognise import predict_clip

    # apex at 2, 6 and 7 of 9 frames: never the first, middle or last frame, nor one position for every clip
    found, wanted = [], []
    for n, i in enumerate(range(0, 442, 28)):  # 16 clips of all classes and databases
        apex_at = (2, 6, 7)[n % 3]
        folder = _write_clip(tmp_path / f"clip{i}", _ramp_clip(clips128, i, apex_at))
        found.append(predict_clip(checkpoint, frames=folder, align=False)["apex_frame"])
        wanted.append(apex_at)
    assert found == wanted
    code, out, err = cli("predict", checkpoint, "--frames", tmp_path / "clip0", "--json", *CENTRE)
    assert code == 0, err
    clip = json.loads(out)
    assert clip["apex_frame"] == 2 and clip["frame_count"] == 9
    code, out, err = cli("predict", checkpoint, "--image", tmp_path / "clip0" / "frame3.png", "--json", *CENTRE)
    image = json.loads(out)
    assert code == 0 and image["scores"] == clip["scores"] and image["class"] == clip["class"]
    code, out, _ = cli("predict", checkpoint, "--frames", tmp_path / "clip0", *CENTRE)
    assert code == 0 and "apex frame 2 of 9" in out.splitlines()[0]


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
    pytest.importorskip("imageio.v3")  # what predict reads videos with
    av = pytest.importorskip("av")
    # lossless (qp 0): a synthetic face moves by about one grey level, less than a lossy codec's error
    with av.open(str(tmp_path / "clip.mp4"), "w") as container:
        stream = container.add_stream("libx264rgb", rate=25, options={"qp": "0"})
        stream.width, stream.height, stream.pix_fmt = 128, 128, "rgb24"
        for frame in _ramp_clip(clips128, 0, apex_at=6):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.stack([frame] * 3, -1), format="rgb24")))
        container.mux(stream.encode())
    code, out, err = cli("predict", checkpoint, "--video", tmp_path / "clip.mp4", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["frame_count"] == 9 and result["apex_frame"] == 6 and result["video"].endswith(".mp4")


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
