"""One training iteration of a GAN, shared by ``icezoo train`` and ``icezoo bench``.

A D update (real apex faces and detached synthesised faces), then a G update
through the freshly updated D; only real faces update D's batch-norm running
statistics; model A (no generator) updates D alone as a
classifier. The step returns its loss terms as device tensors: it never
synchronises with the host, so a GPU runs ahead of the Python loop.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..config.schema import TrainConfig
from ..devices import autocast
from ..models import GAN
from ..nn.layers import one_hot
from .objective import Objective


def make_optimizers(
    model: GAN, cfg: TrainConfig, capturable: bool = False
) -> tuple[torch.optim.Optimizer | None, torch.optim.Optimizer]:
    """Adam for G (None for model A) and for D with the recipe's settings (``lr_g`` / ``lr_d``, else ``lr``);
    fused on CUDA.

    ``capturable`` (CUDA only): state and learning rate on the device, so the step can be a CUDA graph.
    """
    device = next(model.parameters()).device
    fused = device.type == "cuda"
    capturable = capturable and fused

    def adam(module: torch.nn.Module, lr: float | None) -> torch.optim.Optimizer:
        lr = cfg.lr if lr is None else lr
        lr = torch.tensor(lr, device=device) if capturable else lr  # the scheduler fills it in place
        return torch.optim.Adam(
            module.parameters(), lr=lr, betas=cfg.betas, weight_decay=cfg.weight_decay, fused=fused,
            capturable=capturable,
        )  # fmt: skip

    g = adam(model.generator, cfg.lr_g) if model.generator is not None else None
    return g, adam(model.discriminator, cfg.lr_d)


def norm_statistics(module: torch.nn.Module) -> list[Tensor]:
    """The running-statistics buffers of every batch norm inside ``module``."""
    return [b for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for b in m.buffers()]


class GANStep:
    """The update rule: call with a batch and noise; returns ``{term: loss tensor}``."""

    def __init__(
        self,
        model: GAN,
        objective: Objective,
        opt_g: torch.optim.Optimizer | None,
        opt_d: torch.optim.Optimizer,
        *,
        precision: str = "fp32",
        compile: bool = False,
        compile_mode: str | None = None,
        compile_scope: str = "whole",
        channels_last: bool = False,
        after_backward: Callable[[torch.nn.Module], None] | None = None,
    ):
        self.model, self.objective = model, objective
        self.opt_g, self.opt_d = opt_g, opt_d
        self.precision, self.channels_last = precision, channels_last
        self.after_backward = (
            after_backward  # called with the module whose gradients are complete (multi-process averaging)
        )
        self.device = next(model.parameters()).device
        gen, disc = model.generator, model.discriminator
        self.compiled = compile
        if compile and compile_scope == "regional":  # the repeated blocks, in place (see .compiling)
            from .compiling import compile_regions

            for prefix, module in (("generator.", gen), ("discriminator.", disc)):
                if module is not None:
                    compile_regions(module, compile_mode, prefix=prefix)
        elif compile:
            gen = torch.compile(gen, mode=compile_mode) if gen is not None else None
            disc = torch.compile(disc, mode=compile_mode)
        self.gen: Callable | None = gen
        self.disc: Callable = disc
        self.d_statistics = norm_statistics(model.discriminator)
        self._real_statistics = [b.clone() for b in self.d_statistics]  # kept across steps: no allocation per step
        self.cudagraphs = compile and compile_mode is not None and "reduce-overhead" in compile_mode

    def _gradients_done(self, module: torch.nn.Module) -> None:
        if self.after_backward is not None:
            self.after_backward(module)

    def _save_d_statistics(self) -> None:
        if self.d_statistics:  # one foreach launch, not one copy per buffer (a CUDA graph replays fewer kernels)
            with torch.no_grad():
                torch._foreach_copy_(self._real_statistics, self.d_statistics)

    def _restore_d_statistics(self) -> None:
        """Put back D's batch-norm running statistics as the real pass left them.

        D recognises real faces in eval mode with its running statistics; were
        synthesised batches to update them too, they would describe a mixture of
        real and synthesised faces, not the real faces D is asked about at test
        time. Restored after the backward passes, which may still read the
        buffers; one foreach copy, no host sync, and nothing for
        ``torch.compile`` to specialise on.
        """
        if self.d_statistics:
            with torch.no_grad():
                torch._foreach_copy_(self.d_statistics, self._real_statistics)

    def _prepare(self, x: Tensor) -> Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _freeze_d(self, frozen: bool) -> None:
        # no weight gradients for D while G learns
        self.model.discriminator.requires_grad_(not frozen)

    def __call__(
        self, onset: Tensor, apex: Tensor, labels: Tensor, z: Tensor | None = None, fake_labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        """One update. ``z``: G's noise (drawn here if None); ``fake_labels``: the classes G is asked for (default: ``labels``)."""
        if self.cudagraphs:
            torch.compiler.cudagraph_mark_step_begin()  # a new iteration: earlier graph outputs may be reused
        onset, apex = self._prepare(onset), self._prepare(apex)
        obj, model = self.objective, self.model
        if self.gen is None:
            with autocast(self.device, self.precision):
                terms = obj.discriminator_loss(self.disc(apex, labels), apex, labels)
            self.opt_d.zero_grad(set_to_none=True)
            terms["d_total"].backward()
            self._gradients_done(model.discriminator)
            self.opt_d.step()
            return {k: v.detach() for k, v in terms.items()}

        asked = labels if fake_labels is None else fake_labels
        if z is None:
            z = torch.randn(labels.shape[0], model.noise_dim, device=labels.device)
        c = one_hot(asked, model.num_classes)
        x_on = onset if model.uses_onset else None
        with autocast(self.device, self.precision):
            fake = self.gen(x_on, z, c)
            fake_d = fake.detach()
            real_out = self.disc(apex, labels)
            self._save_d_statistics()
            d_terms = obj.discriminator_loss(
                real_out, apex, labels, self.disc(fake_d, asked), fake_d, fake_labels=asked
            )
        self.opt_d.zero_grad(set_to_none=True)
        d_terms["d_total"].backward()
        self._gradients_done(model.discriminator)
        self.opt_d.step()
        self._restore_d_statistics()

        self._freeze_d(True)
        try:
            with autocast(self.device, self.precision):
                own = (asked == labels).to(fake.dtype) if fake_labels is not None else None
                g_terms = obj.generator_loss(
                    self.disc(fake, asked), fake, asked, x_on, apex if x_on is not None else None, target_weight=own
                )
            self.opt_g.zero_grad(set_to_none=True)
            g_terms["g_total"].backward()
            self._gradients_done(model.generator)
            self.opt_g.step()
        finally:
            self._freeze_d(False)
            self._restore_d_statistics()
        return {k: v.detach() for k, v in (d_terms | g_terms).items()}
