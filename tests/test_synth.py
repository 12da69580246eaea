"""``icezoo synth`` for everyday use: runs/ by default, the face found as prepare finds it, readable figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import icezoo
from icezoo.data.prepare import faces
from icezoo.errors import IcezooError
from icezoo.inference import synth
from icezoo.plots import grid_figure

from .conftest import RECIPES


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_one_row_grid_title_clears_the_column_titles_and_difference_maps_have_a_colour_bar():
    faces = [torch.rand(1, 16, 16) for _ in range(5)]
    fig = grid_figure([faces], ["positive"], [f"x_syn {i}" for i in range(5)], title="a long title over the grid")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    title = fig._suptitle.get_window_extent(renderer)
    assert not any(_overlaps(title, ax.title.get_window_extent(renderer)) for ax in fig.axes)
    assert len(fig.axes) == 5  # no colour bar unless asked
    maps = grid_figure([faces], ["positive"], cmap="inferno", value_range=(0, 2), title="t", colorbar="|x_syn - x_on|")
    bars = [ax for ax in maps.axes if ax.get_label() == "<colorbar>"]
    assert len(maps.axes) == 6 and len(bars) == 1 and bars[0].get_ylabel() == "|x_syn - x_on|"


def test_photograph_is_cropped_around_its_landmarks_when_the_extra_is_there(tmp_path, monkeypatch):
    pixels = np.zeros((60, 100), dtype=np.uint8)
    pixels[10:26, 82:98] = 255  # the "face": off-centre (outside the centre square), bright
    Image.fromarray(pixels).save(tmp_path / "photo.png")

    class FakeLandmarks:  # the landmarks extra, installed, finding the face at the bright square
        def box(self, image, where):
            return (82, 10, 98, 26)

    monkeypatch.setattr(faces, "LandmarkCrop", FakeLandmarks)
    aligned, how = faces.read_face(tmp_path / "photo.png", 8, align=None)
    centre, _ = faces.read_face(tmp_path / "photo.png", 8, align=False)
    assert torch.all(aligned == 1) and torch.all(centre == -1)  # the face crop, and the centre square (all dark)
    assert how == "aligned by 68 landmarks"


def test_asking_for_alignment_without_the_extra_names_the_way_out(tmp_path, monkeypatch):
    import sys

    for name in ("face_recognition", "face_recognition_models"):  # the real reader, its import made to fail
        monkeypatch.setitem(sys.modules, name, None)
    Image.fromarray(np.zeros((20, 30), dtype=np.uint8)).save(tmp_path / "photo.png")
    with pytest.raises(IcezooError, match="--no-align"):
        faces.read_face(tmp_path / "photo.png", 8, align=True)
    face, how = faces.read_face(tmp_path / "photo.png", 8, align=None)  # without it: the centre square, said so
    assert face.shape == (1, 1, 8, 8) and how == "centre crop: the landmarks extra is not installed"


def test_predict_and_synth_read_a_photograph_to_the_same_face(tmp_path, monkeypatch, cli):
    """One reading of a face file (prepare's crop and resampling) for both commands, aligned or not."""
    from icezoo.train import checkpoint

    recipe = icezoo.load_recipe(RECIPES / "icegan_small.yaml", ["model.image_size=32"])
    rgb = np.random.default_rng(0).integers(0, 256, (60, 90, 3), dtype=np.uint8)  # colour, not square, detailed
    Image.fromarray(rgb).save(tmp_path / "photo.png")

    class Model:  # what the commands read the face for: D's scores, G's onset
        image_size, generator, read = 32, "G", []

        def recognise(self, face):
            self.read.append(face)
            return torch.tensor([[0.2, 0.3, 0.5]])

    def synthesize(model, onset, labels, n, seed):
        model.read.append(onset)
        return {k: onset.expand(n, -1, -1, -1) for k in labels}

    class FakeLandmarks:  # the landmarks extra, finding a face off the centre
        missed: list = []

        def box(self, image, where):
            return (50, 5, 80, 35)

    monkeypatch.setattr(checkpoint, "load_trained_model", lambda *a, **k: (Model(), recipe))
    monkeypatch.setattr(synth, "synthesize", synthesize)
    monkeypatch.setattr(faces, "LandmarkCrop", FakeLandmarks)
    photo, ckpt = tmp_path / "photo.png", tmp_path / "ckpt.pt"
    read = {}
    for flags in (["--no-align"], [], ["--align"]):  # one rule for both: by default, by the landmarks where installed
        Model.read.clear()
        code, out, err = cli("predict", ckpt, "--image", photo, *flags)
        assert code == 0, err
        code, _, err = cli("synth", ckpt, "--onset", photo, "--n", "1", "--out", tmp_path / "s", *flags)
        assert code == 0, err
        assert torch.equal(Model.read[0], Model.read[1]) and Model.read[0].shape == (1, 1, 32, 32)
        assert ("aligned by 68 landmarks" in out) == (flags != ["--no-align"])
        read[" ".join(flags)] = Model.read[0]
    expected, _ = faces.read_face(photo, 32, align=True)
    assert torch.equal(read[""], expected) and torch.equal(read["--align"], expected)  # the landmark box, resampled
    assert not torch.equal(read["--no-align"], expected)  # as prepare does; the centre square differs


def test_synth_writes_under_runs_by_default(tmp_path, monkeypatch, cli):
    from icezoo.train.trainer import Trainer

    recipe = icezoo.load_recipe(RECIPES / "icegan_small.yaml", ["model.image_size=32", "train.max_steps=1"])
    Trainer(recipe, None, progress=False).save(tmp_path / "ckpt.pt")  # untrained weights: only the files matter
    Image.fromarray(np.full((40, 40), 128, dtype=np.uint8)).save(tmp_path / "onset.png")
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("synth", "ckpt.pt", "--onset", "onset.png", "--label", "surprise", "--n", "1", "--no-align")
    assert code == 0, err
    (folder,) = (tmp_path / "runs").glob("synth-*")
    assert {"grid.png", "difference.png", "synth_surprise_0.png"} <= {p.name for p in folder.iterdir()}
    assert str(folder.relative_to(tmp_path)) in out
