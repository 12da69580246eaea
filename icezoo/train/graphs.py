"""Whole-step CUDA graphs (``train.cuda_graphs: true``): the GAN step captured once, then replayed.

At the paper's batch 16 the step is bound by kernel launches, not arithmetic:
hundreds of small kernels, each launched from Python. Captured in one CUDA
graph, the D update, the G update, both Adam steps (``capturable=True``, the
learning rate a device tensor that the scheduler fills), D's batch-norm
statistics restore and the draws of the noise z and of the classes G is asked
for (from the CUDA generator, inside the graph: a fresh draw on each replay)
become one launch. Each call copies the batch into static input buffers and
replays; the returned loss terms are static buffers too, overwritten by the
next call.

Capture needs a few eager warm-up steps (Adam creates its state, cuDNN picks
its algorithms); they run on a side stream and everything they changed
(weights, buffers, optimizer state, the CUDA generator) is put back, so the
first replay is the first step. The noise is the CUDA generator's, not the
per-step seeded draw of :mod:`.batches`: a graphed run is reproducible from
its seed, but not bit for bit the eager run.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import torch
from torch import Tensor

from ..config.schema import Recipe
from ..errors import IcezooError
from .step import GANStep

WARMUP_STEPS = 3


def chain(err: BaseException) -> list[BaseException]:
    """``err`` and the exceptions it was raised from or while handling (``__cause__``, else ``__context__``),
    outermost first."""
    out = [err]
    while (inner := out[-1].__cause__ or out[-1].__context__) is not None and all(inner is not e for e in out):
        out.append(inner)
    return out


def _where(err: BaseException) -> str:
    """The innermost source line of ``err``'s traceback outside torch and this module: the component that failed."""
    torch_dir = Path(torch.__file__).parent
    frames = [f for f in traceback.extract_tb(err.__traceback__)
              if torch_dir not in Path(f.filename).parents and Path(f.filename).name not in ("graphs.py", "step.py")]  # fmt: skip
    if not frames:
        return "inside torch"
    f = frames[-1]
    return f"{Path(f.filename).parent.name}/{Path(f.filename).name}:{f.lineno} in {f.name}"


def capture_error(err: BaseException) -> IcezooError:
    """The one-line error for a step that could not be captured, naming the error that started it and its line.

    An error raised inside ``with torch.cuda.graph(...)`` (a host sync such as
    ``.item()``) is followed, as the graph context exits, by ``capture_end()``'s
    own "operation failed due to a previous error during capture", raised from
    inside torch while the first is handled. Reported: the innermost error of
    the chain whose traceback reaches a line outside torch (the component),
    else the innermost (an exception that torch raised and handled inside
    itself names no component).
    """
    errors = chain(err)
    first = next((e for e in reversed(errors) if _where(e) != "inside torch"), errors[-1])
    message = (str(first).strip().splitlines() or [type(first).__name__])[0][:160]
    return IcezooError(
        f"train.cuda_graphs: the step cannot be captured ({message}) at {_where(first)}; set train.cuda_graphs: false"
    )


class CudaGraphStep:
    """Calls like :class:`GANStep` (onset, apex, labels, z, classes asked for); replays one captured step.

    ``z`` and the asked classes passed in are used only for their shapes: the
    graph draws its own (the clip's classes where ``random_fake_labels`` is off).
    """

    def __init__(self, step: GANStep, *, random_fake_labels: bool, num_classes: int):
        if step.device.type != "cuda":
            raise IcezooError(f"train.cuda_graphs: needs a CUDA device, the step runs on {step.device.type}")
        if step.after_backward is not None:
            raise IcezooError("train.cuda_graphs: not with several processes (torchrun); set train.cuda_graphs: false")
        if step.compiled:
            raise IcezooError("train.cuda_graphs and train.compile: choose one")
        for opt in (step.opt_g, step.opt_d):
            if opt is not None and not all(g.get("capturable") for g in opt.param_groups):
                raise IcezooError("train.cuda_graphs: the optimizers must be made capturable (make_optimizers)")
        self.step, self.random_fake_labels, self.num_classes = step, random_fake_labels, num_classes
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static: dict[str, Tensor] = {}
        self.outputs: dict[str, Tensor] = {}

    @classmethod
    def for_recipe(cls, step: GANStep, recipe: Recipe) -> CudaGraphStep:
        """The step of ``recipe``'s training, graphed."""
        return cls(step, random_fake_labels=recipe.loss.fake_labels == "random", num_classes=recipe.model.num_classes)

    def _body(self) -> dict[str, Tensor]:
        s = self.static
        if self.step.gen is not None:
            s["z"].normal_()
            if self.random_fake_labels:
                s["asked"].random_(0, self.num_classes)
            else:
                s["asked"].copy_(s["labels"])
        return self.step(s["onset"], s["apex"], s["labels"], s["z"], s["asked"])

    def _state(self) -> list[Tensor]:
        """Every tensor a step changes outside the graph's own memory: weights, buffers, optimizer state."""
        modules = [self.step.model, self.step.objective]
        tensors = [t for m in modules for t in (*m.parameters(), *m.buffers())]
        for opt in (self.step.opt_g, self.step.opt_d):
            if opt is not None:
                tensors += [v for st in opt.state.values() for v in st.values() if isinstance(v, Tensor)]
        return tensors

    def capture(self, onset: Tensor, apex: Tensor, labels: Tensor, z: Tensor, asked: Tensor) -> None:
        """Warm up on a side stream, capture one step, then put back what the warm-up changed."""
        self.static = {"onset": onset.clone(), "apex": apex.clone(), "labels": labels.clone(), "z": z.clone(),
                       "asked": asked.clone()}  # fmt: skip
        for opt in (self.step.opt_g, self.step.opt_d):  # a learning rate read from a checkpoint may be a float
            for group in opt.param_groups if opt is not None else ():
                if not isinstance(group["lr"], Tensor):
                    group["lr"] = torch.tensor(group["lr"], device=self.step.device)
        before = {id(t): t.detach().clone() for t in self._state()}
        rng = torch.cuda.get_rng_state(self.step.device)
        side = torch.cuda.Stream(self.step.device)
        side.wait_stream(torch.cuda.current_stream(self.step.device))
        try:
            with torch.cuda.stream(side):
                for _ in range(WARMUP_STEPS):
                    self._body()
            torch.cuda.current_stream(self.step.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self.outputs = self._body()
        except (RuntimeError, NotImplementedError) as err:
            raise capture_error(err) from err
        with torch.no_grad():
            for t in self._state():  # optimizer state made by the warm-up starts from zero, as a fresh Adam's
                t.copy_(before[id(t)]) if id(t) in before else t.zero_()
        torch.cuda.set_rng_state(rng, self.step.device)
        self.graph = graph

    def __call__(
        self, onset: Tensor, apex: Tensor, labels: Tensor, z: Tensor | None = None, fake_labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        if z is None:
            z = torch.empty(labels.shape[0], self.step.model.noise_dim, device=labels.device)
        asked = labels if fake_labels is None else fake_labels
        if self.graph is None:
            self.capture(onset, apex, labels, z, asked)
        else:
            for key, value in (("onset", onset), ("apex", apex), ("labels", labels)):
                self.static[key].copy_(value)
        self.graph.replay()
        return self.outputs
