"""Load the authors' released weights: their state-dict layout, key by key, into ``icegan_release`` (ICE-GAN) or
``ststnet`` (STSTNet, at the end of this module).

The released classes name their tensors as the reference's last section lists
(``netG.model.submodule...``, ``netD.patch_cnn.model.N``, hook-form spectral
norm's ``weight_orig``/``weight_u``/``weight_v``). :func:`convert_release` maps
each key to icezoo's name and checks, against the release recipe's model built
on the meta device, that every key on both sides is used exactly once and every
shape agrees. The release's bridges concatenate [decoder half, GRM half], which
the recipe's ``concat_order: decoder_first`` reads as is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import Tensor

from .errors import IcezooError

RECIPE = Path(__file__).resolve().parent / "recipes" / "icegan_release.yaml"
_SN = {
    "weight_orig": "parametrizations.weight.original",
    "weight_u": "parametrizations.weight.0._u",
    "weight_v": "parametrizations.weight.0._v",
}
_GRM = {
    "conv_phi": "phi",
    "conv_theta": "theta",
    "gcn.conv1": "node_conv",
    "gcn.conv2": "feature_conv",
    "raising_ch.0": "out",
}


def _leaf(name: str) -> str:
    """A tensor's own name: hook-form spectral norm's three tensors, or as it is."""
    return _SN.get(name, name)


def generator_key(key: str, levels: int = 7) -> str | None:
    """icezoo's name of a released generator key (None if it is not one)."""
    m = re.fullmatch(r"netG\.model\.((?:submodule\.)*)(.+)", key)
    if not m:
        return None
    k, rest = m.group(1).count("submodule."), m.group(2)
    if (d := re.fullmatch(r"down\.(\d)\.(\w+)", rest)) and int(d.group(1)) == (0 if k == 0 else 1):
        return f"down.0.{_leaf(d.group(2))}" if k == 0 else f"down.{k}.1.{_leaf(d.group(2))}"
    if u := re.fullmatch(r"up\.1\.(\w+)", rest):
        return f"up.{levels - 1 - k}.1.{_leaf(u.group(1))}"
    if k >= 1 and (g := re.fullmatch(r"glore\.(conv_phi|conv_theta|gcn\.conv1|gcn\.conv2|raising_ch\.0)\.(\w+)", rest)):
        return f"bridges.{k - 1}.{_GRM[g.group(1)]}.{g.group(2)}"
    return None


def discriminator_key(key: str) -> str | None:
    """icezoo's name of a released discriminator key (None if it is not one)."""
    if m := re.fullmatch(r"netD\.patch_cnn\.model\.(\d+)\.(\w+)", key):
        return f"trunk.net.{m.group(1)}.{_leaf(m.group(2))}"
    if m := re.fullmatch(r"netD\.(aux|adv)_layer\.W", key):
        return f"head.{'exp' if m.group(1) == 'aux' else 'adv'}_caps.weight"
    if m := re.fullmatch(r"netD\.decoder\.reconstraction_layers\.(\d+)\.(\w+)", key):
        return f"head.decoder.{m.group(1)}.{_leaf(m.group(2))}"
    return None


def _map(state: dict[str, Tensor], expected: dict[str, Tensor], rename, what: str) -> dict[str, Tensor]:
    """Rename every key of ``state``; one-line error on the first unexpected, duplicate, missing or mis-shaped one."""
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        new = rename(key)
        if new is None or new not in expected:
            raise IcezooError(f"release {what}: unexpected key {key!r}" + (f" (would be {new!r})" if new else ""))
        if new in out:
            raise IcezooError(f"release {what}: key {key!r} maps to {new!r}, already filled")
        if tuple(value.shape) != tuple(expected[new].shape):
            raise IcezooError(
                f"release {what}: {key!r} has shape {tuple(value.shape)}, "
                f"icezoo's {new!r} needs {tuple(expected[new].shape)}"
            )
        out[new] = value
    missing = [k for k in expected if k not in out]
    if missing:
        raise IcezooError(f"release {what}: missing the key for icezoo's {missing[0]!r} ({len(missing)} missing)")
    return {k: out[k] for k in expected}


def release_recipe(overrides: Iterable[str] = (), path: str | Path = RECIPE):
    """The ``icegan_release`` recipe (shipped in the package, or ``path``) with ``--set`` overrides."""
    from .api import load_recipe

    return load_recipe(str(path), list(overrides))


def convert_release(
    gen_state: dict[str, Tensor], disc_state: dict[str, Tensor], recipe=None
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """The authors' generator and discriminator state dicts as icezoo's (generator, discriminator) state dicts.

    ``recipe`` (default ``icegan_release``) gives the model whose keys and shapes must be met exactly.
    """
    from .models import check_buildable

    model = check_buildable(recipe if recipe is not None else release_recipe())
    levels = len(model.generator.up)
    gen = _map(gen_state, model.generator.state_dict(), lambda k: generator_key(k, levels), "generator")
    disc = _map(disc_state, model.discriminator.state_dict(), discriminator_key, "discriminator")
    return gen, disc


def _read(path: str | Path, what: str) -> dict[str, Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # missing, truncated, or pickled code
        reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise IcezooError(f"{path}: cannot read the release {what} ({reason})") from None
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise IcezooError(
            f"{path}: not a state dict of tensors (save the release {what} with torch.save(model.state_dict()))"
        )
    return state


def write_release_checkpoint(
    gen_path: str | Path,
    disc_path: str | Path,
    out: str | Path,
    overrides: Iterable[str] = (),
    recipe: str | Path = RECIPE,
) -> Path:
    """Convert two ``.pth`` state dicts of the released classes into an icezoo checkpoint (``icezoo synth``, resume).

    ``overrides`` change the stored recipe, e.g. ``model.discriminator.head.routing_softmax=in``.
    """
    from .train.checkpoint import save_checkpoint

    recipe = release_recipe(overrides, recipe)
    gen, disc = convert_release(_read(gen_path, "generator"), _read(disc_path, "discriminator"), recipe)
    return save_checkpoint(out, {"step": 0, "recipe": recipe.to_dict(), "generator": gen, "discriminator": disc})


# -- STSTNet (christy1206/STSTNet, its PyTorch port) -----------------------------------------------------------------
STSTNET_RELEASE_CLASSES = ("negative", "positive", "surprise")
"""The class order of the released STSTNet's scores (its ``label_dict``: negative 0, positive 1, surprise 2)."""
STSTNET_RELEASE_SHAPE = (3, 28, 28)
"""What the released STSTNet reads: u, v and optical strain, 28x28, as 0-255 image values."""


def ststnet_key(key: str) -> str | None:
    """icezoo's name of a released STSTNet key (``conv1.weight``, ``bn3.running_var``, ``fc.bias``...), or None.

    Their ``Net`` holds ``conv1..3`` and ``bn1..3`` (one per branch, 3, 5 and 8 filters), ``fc``; ``relu``,
    ``maxpool``, ``dropout`` and ``avgpool`` hold no tensors.
    """
    if m := re.fullmatch(r"(conv|bn)([123])\.(weight|bias|running_mean|running_var|num_batches_tracked)", key):
        layer, leaf = ("conv" if m.group(1) == "conv" else "norm"), m.group(3)
        if layer == "norm" or leaf in ("weight", "bias"):
            return f"branches.{int(m.group(2)) - 1}.{layer}.{leaf}"
    if m := re.fullmatch(r"fc\.(weight|bias)", key):
        return key
    return None


def convert_ststnet(state: dict[str, Tensor], where: str = "release STSTNet") -> dict[str, Tensor]:
    """The authors' STSTNet state dict as icezoo's ``ststnet`` state dict, scores in icezoo's class order.

    Every key of theirs must map to one of icezoo's, every one of icezoo's must be met, every shape must agree
    (one line naming the first key that does not). The fully connected layer's rows are permuted from their
    order (:data:`STSTNET_RELEASE_CLASSES`) to :data:`icezoo.data.CLASSES`.
    """
    from .data.clips import CLASSES
    from .nn.recognisers import STSTNet

    expected = STSTNet(STSTNET_RELEASE_SHAPE, len(STSTNET_RELEASE_CLASSES)).state_dict()
    theirs = {ststnet_key(k): k for k in state}
    for key in state:
        if ststnet_key(key) not in expected:
            raise IcezooError(f"{where}: unexpected key {key!r}")
    out: dict[str, Tensor] = {}
    for ours, want in expected.items():
        key = theirs.get(ours)
        if key is None:
            raise IcezooError(f"{where}: missing key {_release_name(ours)!r} (icezoo's {ours!r})")
        if tuple(state[key].shape) != tuple(want.shape):
            raise IcezooError(f"{where}: {key!r} has shape {tuple(state[key].shape)}, expected {tuple(want.shape)}")
        out[ours] = state[key].detach().to(want.dtype).clone()
    order = [STSTNET_RELEASE_CLASSES.index(c) for c in CLASSES]
    out["fc.weight"], out["fc.bias"] = out["fc.weight"][order], out["fc.bias"][order]
    return out


def _release_name(ours: str) -> str:
    """The released STSTNet's name of an icezoo key (the inverse of :func:`ststnet_key`)."""
    if m := re.fullmatch(r"branches\.(\d)\.(conv|norm)\.(\w+)", ours):
        return f"{'conv' if m.group(2) == 'conv' else 'bn'}{int(m.group(1)) + 1}.{m.group(3)}"
    return ours


STSTNET_RECIPE = Path(__file__).resolve().parent / "recipes" / "table1" / "ststnet.yaml"
"""The recipe a converted STSTNet checkpoint carries: Table I's ``ststnet`` (flow and strain, 28x28x3)."""


def ststnet_release_recipe():
    """The ``recipes/table1/ststnet.yaml`` recipe, resolved: what a converted STSTNet checkpoint carries."""
    from .api import load_recipe

    return load_recipe(str(STSTNET_RECIPE))


def write_ststnet_checkpoint(weights: str | Path, out: str | Path) -> Path:
    """Convert one released STSTNet state dict (``STSTNet_Weights/SUBJECT.pth``) into an icezoo checkpoint.

    The file (``icezoo-checkpoint/1``, written atomically with :func:`icezoo.train.checkpoint.save_checkpoint`)
    holds: ``step`` 0; ``recipe``, the resolved ``recipes/table1/ststnet.yaml`` (so ``icezoo.load_checkpoint``,
    ``predict`` and ``export`` read it as a kept ``ststnet`` fold model); ``recogniser``, the converted state
    dict; ``data``, what it was trained on (one LOSO fold of the authors' MEGC2019 run); ``release``, where it
    came from (file name, their class order, their input). Their network read u, v and strain as 0-255 image
    values (``cv2.imread`` of the images they saved, so in the channel order their files hold):
    ``model.recognise(x)`` on that layout gives their scores, in icezoo's class order; icezoo's ``flow_strain``
    input gives pixels and strain per pixel instead, so its features are not what these weights were trained on.
    """
    from .train.checkpoint import save_checkpoint

    state = convert_ststnet(_read(weights, "STSTNet state dict"), f"{weights}")
    release = {
        "file": Path(weights).name,
        "classes": list(STSTNET_RELEASE_CLASSES),
        "input": "[B, 3, 28, 28]: u, v, optical strain as 0-255 image values (christy1206/STSTNet)",
    }
    data = {"type": "megc2019", "source": "christy1206/STSTNet, one LOSO subject's state dict"}
    return save_checkpoint(out, {"step": 0, "recipe": ststnet_release_recipe().to_dict(), "recogniser": state,
                                 "estimator": None, "data": data, "release": release})  # fmt: skip


def load_ststnet_checkpoint(path: str | Path):
    """The ``ststnet`` network of a checkpoint of :func:`write_ststnet_checkpoint`, in eval mode.

    Its forward on the authors' input layout ([B, 3, 28, 28], 0-255) gives their network's scores (logits) in
    icezoo's class order (:data:`icezoo.data.CLASSES`). ``icezoo.load_checkpoint`` reads the same file as a
    baseline (:class:`icezoo.recognition.Baseline`), whose ``recognise`` is this network's.
    """
    from .train.checkpoint import load_trained_model

    model, recipe = load_trained_model(path)
    if recipe.model.recogniser is None or recipe.model.recogniser.get("type") != "ststnet":
        raise IcezooError(f"{path}: not a converted STSTNet checkpoint (its recipe's recogniser is not ststnet)")
    return model.recogniser.eval()
