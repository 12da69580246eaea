"""Models to share: ``icezoo export`` folders, read back by every command as a checkpoint is, and Hub names."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

import icezoo
from icezoo.errors import IcezooError

from .test_eval import SMALL, TINY

RUN = [*TINY, "train.batch_size=64", "train.max_steps=6", "eval.validation_subjects=6", "eval.select=oracle_test",
       "eval.bootstrap=100"]  # fmt: skip
FILES = {"model.safetensors", "recipe.yaml", "model.json", "README.md"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny split evaluation with kept models (oracle selection, so the card must label it), and its export."""
    from icezoo.cli import main

    run = tmp_path_factory.mktemp("run")
    sets = [a for o in RUN for a in ("--set", o)]
    assert (
        main(["eval", str(SMALL), *sets, "--protocol", "split", "--keep-models", "--out", str(run), "--no-progress"])
        == 0
    )
    out = tmp_path_factory.mktemp("export") / "model"
    assert main(["export", str(run / "folds" / "split.pt"), "--out", str(out)]) == 0
    return run / "folds" / "split.pt", out


@pytest.fixture(scope="module")
def face_png(tmp_path_factory):
    from PIL import Image

    g = torch.Generator().manual_seed(3)
    pixels = (torch.rand(48, 40, generator=g) * 255).byte().numpy()
    path = tmp_path_factory.mktemp("img") / "face.png"
    Image.fromarray(pixels, mode="L").save(path)
    return path


def test_the_folder_holds_weights_recipe_card_and_no_pickle(exported):
    _, folder = exported
    assert {p.name for p in folder.iterdir()} == FILES
    for path in folder.iterdir():
        head = path.read_bytes()[:2]
        assert head not in (b"PK", b"\x80\x02", b"\x80\x04", b"\x80\x05"), (
            f"{path.name} looks like a pickle or torch zip"
        )
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        keys = list(f.keys())
        assert f.metadata()["format"] == "icezoo-model/1"
    assert any(k.startswith("discriminator.") for k in keys) and any(k.startswith("generator.") for k in keys)


def test_the_exported_model_answers_as_the_original(exported):
    source, folder = exported
    a, recipe_a = icezoo.load_checkpoint(source)
    b, recipe_b = icezoo.load_checkpoint(folder)
    assert recipe_a.to_dict() == recipe_b.to_dict()
    faces = torch.rand(5, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert torch.equal(a.recognise(faces), b.recognise(faces))
    labels, z = torch.tensor([0, 1, 2, 1, 0]), torch.randn(5, a.noise_dim, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a.synthesize(faces, labels, z), b.synthesize(faces, labels, z))
    for x, y in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(x, y)


def test_predict_and_synth_from_the_folder_equal_the_original(exported, cli, face_png, tmp_path):
    source, folder = exported
    answers = []
    for model in (source, folder):
        code, out, err = cli("predict", model, "--image", face_png, "--json")
        assert code == 0, err
        answers.append(json.loads(out))
    assert answers[0]["scores"] == answers[1]["scores"] and answers[0]["class"] == answers[1]["class"]
    assert answers[0]["trained_on"] == answers[1]["trained_on"]
    for name, model in (("a", source), ("b", folder)):
        code, _, err = cli("synth", model, "--onset", face_png, "--n", "2", "--out", tmp_path / name)
        assert code == 0, err
    faces = sorted(p.name for p in (tmp_path / "a").glob("synth_*.png"))
    assert len(faces) == 6
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in faces)


def test_the_card_names_data_protocol_metrics_and_the_oracle(exported):
    source, folder = exported
    card = (folder / "README.md").read_text()
    metrics = json.loads((source.parent.parent / "metrics.json").read_text())
    low, high = metrics["interval_95"]["uar"]
    assert "SYNTHETIC faces (seed 0, 442 clips, 68 subjects)" in card
    assert "Protocol: split" in card and f"| UAR | {metrics['overall']['uar']:.3f} | [{low:.3f}, {high:.3f}] |" in card
    assert "ORACLE SELECTION" in card.split("## Evaluation")[1]  # the run chose on its test subjects: labelled
    assert "## Licence" in card and "capsule lengths" in card


def test_a_crafted_folder_runs_no_code(exported, cli, tmp_path):
    _, folder = exported
    crafted = tmp_path / "crafted"
    shutil.copytree(folder, crafted)
    marker = tmp_path / "ran"
    (crafted / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    (crafted / "recipe.yaml").write_text((folder / "recipe.yaml").read_text() + f"plugins: [{crafted / 'evil.py'}]\n")
    with pytest.raises(IcezooError, match="needs plugin"):
        icezoo.load_checkpoint(crafted)
    code, _, err = cli("predict", crafted, "--image", folder / "README.md")
    assert code == 2 and err.count("\n") == 1 and "--plugins" in err
    assert not marker.exists()
    # a pickle dropped beside the weights is never read
    (crafted / "recipe.yaml").write_text((folder / "recipe.yaml").read_text())

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"x": Payload()}, crafted / "model.pt")
    icezoo.load_checkpoint(crafted)
    assert not marker.exists()
    (crafted / "recipe.yaml").write_text("extends: /etc/passwd\n")
    with pytest.raises(IcezooError, match="may not extend"):
        icezoo.load_checkpoint(crafted)


def _fill_hub_cache(cache, folder, repo="icezoo-tests/tiny"):
    """The layout huggingface_hub writes: refs/main names a snapshot folder holding the files."""
    revision = "0123456789abcdef0123456789abcdef01234567"
    entry = cache / f"models--{repo.replace('/', '--')}"
    (entry / "refs").mkdir(parents=True)
    (entry / "refs" / "main").write_text(revision)
    shutil.copytree(folder, entry / "snapshots" / revision)


def test_hub_names_resolve_from_the_local_cache_only(exported, cli, monkeypatch, tmp_path, face_png):
    source, folder = exported
    _fill_hub_cache(tmp_path / "hub", folder)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model, _ = icezoo.load_checkpoint("hf-hub:icezoo-tests/tiny")
    original, _ = icezoo.load_checkpoint(source)
    faces = torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(5)) * 2 - 1
    assert torch.equal(model.recognise(faces), original.recognise(faces))
    code, out, err = cli("predict", "hf-hub:icezoo-tests/tiny", "--image", face_png, "--json")
    assert code == 0, err
    assert json.loads(out)["trained_on"]["type"] == "synthetic"
    code, _, err = cli("predict", "hf-hub:icezoo-tests/not-there", "--image", face_png)
    assert code == 2 and err.count("\n") == 1 and "not in the local Hub cache" in err and "never downloads" in err
    code, _, err = cli("predict", "hf-hub:no-slash", "--image", face_png)
    assert code == 2 and err.count("\n") == 1 and "hf-hub:ORG/NAME" in err


def test_a_damaged_folder_is_one_line(exported, cli, tmp_path, face_png):
    _, folder = exported
    for name, damage in (("model.safetensors", b"not safetensors"), ("model.json", b"{}"), ("recipe.yaml", None)):
        broken = tmp_path / name
        shutil.copytree(folder, broken)
        if damage is None:
            (broken / name).unlink()
        else:
            (broken / name).write_bytes(damage)
        code, _, err = cli("predict", broken, "--image", face_png)
        assert code == 2 and err.count("\n") == 1 and name in err, err


def test_a_training_checkpoint_with_an_averaged_generator_exports_both(cli, tmp_path):
    """EMA and trained generator both travel; the card of an unevaluated model says so."""
    sets = [a for o in [*TINY, "train.max_steps=3", "train.ema_decay=0.5"] for a in ("--set", o)]
    code, _, err = cli("train", SMALL, *sets, "--out", tmp_path / "run", "--no-progress")
    assert code == 0, err
    code, _, err = cli("export", tmp_path / "run" / "checkpoint.pt", "--out", tmp_path / "model")
    assert code == 0, err
    from icezoo.train.checkpoint import load_trained_model

    z, onset = torch.randn(2, 100), torch.rand(2, 1, 32, 32) * 2 - 1
    labels = torch.tensor([0, 2])
    for ema in (True, False):
        a, _ = load_trained_model(tmp_path / "run" / "checkpoint.pt", ema=ema)
        b, _ = load_trained_model(tmp_path / "model", ema=ema)
        assert torch.equal(a.synthesize(onset, labels, z), b.synthesize(onset, labels, z))
    averaged, _ = load_trained_model(tmp_path / "model")
    trained, _ = load_trained_model(tmp_path / "model", ema=False)
    assert not torch.equal(averaged.synthesize(onset, labels, z), trained.synthesize(onset, labels, z))
    card = (tmp_path / "model" / "README.md").read_text()
    assert "No evaluation: exported from a training checkpoint" in card and "SYNTHETIC faces (seed 0)" in card
