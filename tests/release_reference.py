"""An independent plain-PyTorch re-implementation of the authors' released G and D, for equivalence tests.

Written from the facts in docs/icegan-release.md (not from icezoo's
modules): the nested U-Net with in-place LeakyReLUs and GloRe bridges, the
PatchGAN trunk and capsule head, ``torch.nn.utils.spectral_norm`` (the hook
form) everywhere the release has it, and the release's module names, so that
``state_dict()`` has the authors' key layout (reference, last section).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm as sn


class GCN(nn.Module):
    def __init__(self, nodes: int):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv1d(nodes, nodes, 1), nn.Conv1d(nodes, nodes, 1)

    def forward(self, m):
        h = self.conv1(m.permute(0, 2, 1)).permute(0, 2, 1)  # over the node dimension
        return self.conv2(F.relu(h + m))


class GloRe(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.nodes = channels // 4
        self.conv_phi, self.conv_theta = nn.Conv2d(channels, self.nodes, 1), nn.Conv2d(channels, self.nodes, 1)
        self.gcn = GCN(self.nodes)
        self.raising_ch = nn.Sequential(nn.Conv2d(self.nodes, channels, 1, bias=False), nn.InstanceNorm2d(channels))

    def forward(self, x):
        b, _, h, w = x.shape
        phi, theta = self.conv_phi(x).view(b, self.nodes, -1), self.conv_theta(x).view(b, self.nodes, -1)
        m = torch.matmul(phi, theta.transpose(1, 2)) / self.nodes
        y = torch.matmul(self.gcn(m), theta).view(b, self.nodes, h, w)
        return x + self.raising_ch(y)


class Level(nn.Module):
    """U-Net level k: down (in-place LeakyReLU first), the inner levels, up; a GloRe bridge unless outermost."""

    def __init__(self, outer: int, inner: int, submodule: Level | None, outermost: bool = False, seed: int = 423):
        super().__init__()
        self.outermost, self.innermost = outermost, submodule is None
        downconv = sn(nn.Conv2d(outer, inner, 4, 2, 1))
        if outermost:
            down = [downconv]
        elif self.innermost:
            down = [nn.LeakyReLU(0.2, True), downconv]
        else:
            down = [nn.LeakyReLU(0.2, True), downconv, nn.InstanceNorm2d(inner)]
        upconv = sn(nn.ConvTranspose2d(seed if self.innermost else inner * 2, outer, 4, 2, 1))
        last = nn.Tanh() if outermost else nn.InstanceNorm2d(outer)
        self.down, self.up = nn.Sequential(*down), nn.Sequential(nn.LeakyReLU(0.2, True), upconv, last)
        if submodule is not None:
            self.submodule = submodule
        if not outermost:
            self.glore = GloRe(outer)

    def forward(self, x, z, c):
        h = self.down(x)  # overwrites x (in-place LeakyReLU) unless outermost
        h = torch.cat([h, z, c], 1) if self.innermost else self.submodule(h, z, c)
        y = self.up(h)
        return y if self.outermost else torch.cat([y, self.glore(x)], 1)


class UNet(nn.Module):
    def __init__(self):
        super().__init__()
        widths = [1, 64, 128, 256, 512, 512, 512, 320]
        level = None
        for k in range(6, -1, -1):
            level = Level(widths[k], widths[k + 1], level, outermost=k == 0)
        self.model = level

    def forward(self, x, z, c):
        return self.model(x, z[:, :, None, None], c[:, :, None, None])


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.netG = UNet()

    def forward(self, x, z, c):
        return self.netG(x, z, c)


def squash(s, eps=1e-12):
    n2 = (s**2).sum(-1, keepdim=True)
    return n2 / (1 + n2) * s / torch.sqrt(n2 + eps)


class CapsLayer(nn.Module):
    def __init__(self, out_caps: int, in_caps: int = 1024, out_dim: int = 32, in_dim: int = 8):
        super().__init__()
        self.W = nn.Parameter(0.01 * torch.randn(out_caps, in_caps, out_dim, in_dim))

    def forward(self, u):
        u_hat = torch.matmul(self.W[None], u[:, None, :, :, None]).squeeze(-1)  # [B, O, N, D]
        b = torch.zeros(u_hat.shape[:3], dtype=u.dtype)
        for it in range(3):
            pred = u_hat if it == 2 else u_hat.detach()
            c = F.softmax(b, dim=-1)  # over the input capsules, as the release
            v = squash((c[..., None] * pred).sum(2))
            if it < 2:
                b = b + (pred * v[:, :, None, :]).sum(-1)
        return v


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        dims = [96, 512, 1024, 5120, 16384]
        layers = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [sn(nn.Linear(a, b)), nn.ReLU()]
        layers[-1] = nn.Sigmoid()
        self.reconstraction_layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.reconstraction_layers(x)


class PatchCNN(nn.Module):
    def __init__(self):
        super().__init__()
        lrelu = lambda: nn.LeakyReLU(0.2)  # noqa: E731
        self.model = nn.Sequential(
            sn(nn.Conv2d(1, 64, 4, 2, 1)), lrelu(),
            sn(nn.Conv2d(64, 128, 4, 2, 1, bias=False)), nn.BatchNorm2d(128), lrelu(),
            sn(nn.Conv2d(128, 256, 4, 2, 1, bias=False)), nn.BatchNorm2d(256), lrelu(),
            sn(nn.Conv2d(256, 512, 4, 1, 1, bias=False)), nn.BatchNorm2d(512), lrelu(),
            sn(nn.Conv2d(512, 512, 4, 1, 1)), nn.BatchNorm2d(512), lrelu(),
            sn(nn.Conv2d(512, 64, 1, 2, 1)), sn(nn.Conv2d(64, 128, 1)),
        )  # fmt: skip

    def forward(self, x):
        return self.model(x)


class NetD(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch_cnn, self.aux_layer, self.adv_layer, self.decoder = PatchCNN(), CapsLayer(3), CapsLayer(1), Decoder()

    def forward(self, x):
        f = self.patch_cnn(x)
        u = squash(f.permute(0, 2, 3, 1).reshape(x.shape[0], -1, 8))
        exp, adv = self.aux_layer(u), self.adv_layer(u)
        validity = torch.sqrt((adv**2).sum(-1)).squeeze(1)
        classes = torch.sqrt((exp**2).sum(-1))
        pred = F.softmax(classes, dim=0).argmax(1)
        mask = torch.eye(3, dtype=x.dtype)[pred]
        recon = self.decoder((exp * mask[:, :, None]).reshape(x.shape[0], -1)).view(-1, 1, 128, 128)
        return validity, classes, recon


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.netD = NetD()

    def forward(self, x):
        return self.netD(x)


@torch.no_grad()
def randomize_(module: nn.Module, seed: int, std: float = 0.02) -> nn.Module:
    """Every parameter and float buffer N(0, std) (u, v renormalised; BN statistics positive), so no key hides."""
    g = torch.Generator().manual_seed(seed)
    for name, t in module.state_dict().items():
        if not t.is_floating_point():
            continue
        r = torch.randn(t.shape, generator=g, dtype=torch.float64).to(t.dtype)
        if name.endswith(("weight_u", "weight_v")):
            r = r / r.norm()
        elif name.endswith("running_var"):
            r = 1 + r.abs()
        elif name.endswith("weight") and t.dim() == 1:  # batch-norm scale
            r = 1 + 0.1 * r
        else:
            r = r * std
        t.copy_(r)
    return module
