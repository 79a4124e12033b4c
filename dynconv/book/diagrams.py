"""Pictures and listings of the layers themselves: a diagram of a layer's steps, the code of its
``forward``.

Chapters: ``03_v1`` ... ``06_v4`` (the first layers v1-v4), ``09_part2`` (SE, SAGAN attention,
RRDB and the small networks), ``10_part3`` (v5 and CHAMMI's four designs).

A diagram drawn by hand drifts from the code the first time the code changes. These are
drawn from the code instead: :func:`trace_steps` runs the module once on an example input,
with a forward hook on each of its child modules and a ``TorchFunctionMode`` that sees every
torch function its own ``forward`` calls, and keeps

* one step per child module called and per tensor operation that computes something
  (convolution, matrix product, softmax, mean, ...); reshaping, slicing and padding are
  treated as the same tensor seen differently, so they add no box of their own;
* the REAL shape of what each step returns;
* which earlier steps each step reads (a tensor is followed through views and reshapes), so
  a branch or a skip connection shows as an arrow from the step it comes from.

:func:`layer_diagram` draws those steps top-down as boxes; :func:`show_code` shows the source
of the layer's ``forward`` and of the methods, helpers and sub-layers it calls, folded under
an HTML ``<details>`` element with inline colours (so the page needs no stylesheet), with the
plain source as the text fallback.
"""

from __future__ import annotations

import html
import inspect
import textwrap
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from dynconv.channels import parse_channels

__all__ = ["Step", "Listing", "build", "example_input", "trace_steps", "layer_diagram",
           "show_code"]

# Tensor operations that compute something, each with the name a box shows. Every other
# function (view, reshape, transpose, flatten, pad, indexing, ...) is transparent: its result
# counts as the tensor it was made from.
_SHOWN: dict[str, str] = {
    "conv2d": "conv2d", "linear": "linear", "matmul": "matmul", "__matmul__": "matmul",
    "bmm": "bmm", "einsum": "einsum", "softmax": "softmax", "sigmoid": "sigmoid",
    "tanh": "tanh", "relu": "ReLU", "relu_": "ReLU", "leaky_relu": "LeakyReLU",
    "mean": "mean", "sum": "sum", "cat": "concatenate", "stack": "stack",
    "mul": "multiply", "__mul__": "multiply", "__rmul__": "multiply", "mul_": "multiply",
    "add": "add", "__add__": "add", "__radd__": "add", "add_": "add",
    "div": "divide", "__truediv__": "divide", "div_": "divide",
    "addcmul": "add (x + gamma * out)", "index_select": "index_select",
    "scaled_dot_product_attention": "attention softmax(q k^T) v",
    "max_pool2d": "max-pool", "adaptive_avg_pool2d": "average-pool", "batch_norm": "BatchNorm",
}


@dataclass(frozen=True)
class Step:
    """One box of a diagram.

    ``label``: the operation; ``shapes``: the real shape of each tensor it returned;
    ``inputs``: the earlier steps it reads (0 is the example input); ``params``: the
    parameters of the traced module it reads directly (by attribute name).
    """

    label: str
    shapes: tuple[tuple[int, ...], ...]
    inputs: tuple[int, ...] = ()
    params: tuple[str, ...] = ()

    @property
    def shape_text(self) -> str:
        return ", ".join(str(tuple(shape)) for shape in self.shapes)


def _tensors(obj: Any) -> Iterator[Tensor]:
    """Every tensor in ``obj`` (nested tuples, lists and dict values)."""
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            yield from _tensors(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _tensors(item)


def _describe(module: nn.Module) -> str:
    """A short name for a child module: its class, and the sizes that matter for a conv."""
    if isinstance(module, nn.Conv2d):
        k, s = module.kernel_size, module.stride
        text = f"Conv2d {module.in_channels}->{module.out_channels}, {k[0]}x{k[1]}"
        text += f"/{s[0]}" if s[0] > 1 else ""
        return text + (f", groups={module.groups}" if module.groups > 1 else "")
    if isinstance(module, nn.Linear):
        return f"Linear {module.in_features}->{module.out_features}"
    if isinstance(module, nn.MaxPool2d):
        return f"MaxPool2d {module.kernel_size}x{module.kernel_size}"
    if isinstance(module, nn.Sequential):
        return " + ".join(_describe(child).split(" ")[0] for child in module)
    return type(module).__name__


def _describe_function(name: str, args: tuple, kwargs: dict) -> str:
    """The box label of a shown tensor operation (the kernel size of a convolution, the
    factor of a multiplication by a number)."""
    label = _SHOWN[name]
    if name == "conv2d" and len(args) > 1 and isinstance(args[1], Tensor):
        k = args[1].shape[-1]
        groups = kwargs.get("groups", args[6] if len(args) > 6 else 1)
        label = f"conv2d {k}x{k}" + (f", groups={groups}" if groups != 1 else "")
    numbers = [a for a in args if isinstance(a, (int, float)) and not isinstance(a, bool)]
    if name in ("__mul__", "__rmul__", "mul", "mul_", "div", "div_", "__truediv__") and numbers:
        label += f" by {numbers[0]:g}"
    return label


class _Tracer(TorchFunctionMode):
    """Records the steps of one forward pass (see :func:`trace_steps`)."""

    def __init__(self, module: nn.Module, boxed: dict[nn.Module, str]) -> None:
        super().__init__()
        self.steps: list[Step] = []
        self.source: dict[int, tuple[int | str, ...]] = {}  # id(tensor) -> steps or params
        self.keep: list[Tensor] = []  # every tensor seen stays alive, so ids stay unique
        self.depth = 0  # > 0 while inside a boxed child module
        self.pending: list[tuple[int | str, ...]] = []
        self.boxed = boxed
        for name, param in module.named_parameters():
            self._mark(param, (name,))

    def _mark(self, tensor: Tensor, source: tuple[int | str, ...]) -> None:
        self.keep.append(tensor)
        self.source[id(tensor)] = source

    def _sources(self, obj: Any) -> tuple[int | str, ...]:
        found: list[int | str] = []
        for tensor in _tensors(obj):
            for item in self.source.get(id(tensor), ()):
                if item not in found:
                    found.append(item)
        return tuple(found)

    def add_step(self, label: str, sources: tuple[int | str, ...], output: Any) -> None:
        shapes = tuple(tuple(t.shape) for t in _tensors(output))
        inputs = tuple(s for s in sources if isinstance(s, int))
        params = tuple(s for s in sources if isinstance(s, str))
        self.steps.append(Step(label, shapes, inputs, params))
        for tensor in _tensors(output):
            self._mark(tensor, (len(self.steps) - 1,))

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.depth:
            return out
        name = getattr(func, "__name__", "")
        sources = self._sources((args, kwargs))
        if name == "__setitem__" and args and isinstance(args[0], Tensor):
            # x[idx] = value: x now holds what value came from
            self._mark(args[0], self._sources(args[0]) + self._sources(args[2:]))
        elif name in _SHOWN and any(True for _ in _tensors(out)):
            self.add_step(_describe_function(name, args, kwargs), sources, out)
        else:
            for tensor in _tensors(out):
                if id(tensor) not in self.source and sources:
                    self._mark(tensor, sources)
        return out

    def pre_hook(self, module: nn.Module, args: tuple) -> None:
        if self.depth == 0:
            self.pending.append(self._sources(args))
        self.depth += 1

    def hook(self, module: nn.Module, args: tuple, output: Any) -> None:
        self.depth -= 1
        if self.depth == 0:
            self.add_step(f"{self.boxed[module]}: {_describe(module)}", self.pending.pop(),
                          output)


def _boxed_modules(module: nn.Module, depth: int) -> dict[nn.Module, str]:
    """The child modules that get a box of their own: those ``depth`` levels down, and the
    leaves above that level. A ``ModuleDict`` or ``ModuleList`` is never called itself, so
    its members count as one level up (v2's ``generators["2"]`` is a child of the stem)."""
    boxed: dict[nn.Module, str] = {}

    def walk(parent: nn.Module, prefix: str, level: int) -> None:
        for name, child in parent.named_children():
            if isinstance(child, (nn.ModuleDict, nn.ModuleList)):
                walk(child, f"{prefix}{name}.", level)
            elif level + 1 == depth or not any(True for _ in child.children()):
                boxed.setdefault(child, f"{prefix}{name}")
            else:
                walk(child, f"{prefix}{name}.", level + 1)

    walk(module, "", 0)
    return boxed


def trace_steps(module: nn.Module, example_input: Tensor, *args: Any, depth: int = 1,
                **kwargs: Any) -> list[Step]:
    """The steps of ``module(example_input, *args, **kwargs)``, measured by running it once.

    Step 0 is the input. Each child module ``depth`` levels down (and each leaf module above
    that level) is one step; so is each computing torch function that ``forward`` calls
    outside those children (:data:`_SHOWN`). A last step "output" is added when the
    returned tensor is a reshaped view of the last computed one (its shape then differs).
    The module runs in eval mode, without gradients; its training flag is restored.
    Raises ``TypeError`` for a non-module or a non-tensor input and ``ValueError`` (with the
    input's shape and the module's own message) when the forward pass fails.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"layer diagrams draw a torch.nn.Module, got {type(module).__name__}.")
    if not isinstance(example_input, Tensor):
        raise TypeError(f"example_input must be a tensor, got {type(example_input).__name__}.")
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}.")
    boxed = _boxed_modules(module, depth)
    tracer = _Tracer(module, boxed)
    tracer.add_step("input", (), example_input)
    handles = []
    for child in boxed:
        handles.append(child.register_forward_pre_hook(tracer.pre_hook))
        handles.append(child.register_forward_hook(tracer.hook))
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad(), tracer:
            output = module(example_input, *args, **kwargs)
    except Exception as error:
        raise ValueError(
            f"{type(module).__name__} could not run on an input of shape "
            f"{tuple(example_input.shape)}: {error}"
        ) from error
    finally:
        for handle in handles:
            handle.remove()
        module.train(was_training)
    out_shapes = tuple(tuple(t.shape) for t in _tensors(output))
    last = tracer._sources(output)
    steps = tracer.steps
    if last and last[0] != len(steps) - 1 or steps[-1].shapes != out_shapes:
        steps.append(Step("output", out_shapes, tuple(s for s in last if isinstance(s, int))))
    return steps


def example_input(channels: str = "RGB", *, batch: int = 2, size: int = 32,
                  width: int | None = None, requires_grad: bool = False) -> Tensor:
    """A random batch (batch, n, size, size) for the channels ``channels`` (input mode "drop";
    pass "RGB" for a zero-fill network), or (batch, width, size, size) for a block inside a
    network when ``width`` is given. Drawn from its own generator: the global random state,
    which later cells may use, is left as it was. ``requires_grad=True`` marks it as needing
    a gradient, which makes v5's first layer take its plain path (convolution, ReLU, mean)
    instead of its fused CPU path (:func:`dynconv.stems.v5.relu_mean_conv`)."""
    num_channels = parse_channels(channels).size if width is None else width
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch, num_channels, size, size, generator=generator)
    return x.requires_grad_(requires_grad)


def build(factory: Callable[..., nn.Module], *args: Any, **kwargs: Any) -> nn.Module:
    """``factory(*args, **kwargs)`` without touching the global random state (the initial
    weights are drawn inside ``torch.random.fork_rng``), so drawing a layer in a chapter does
    not change what a later cell draws."""
    with torch.random.fork_rng(devices=[]):
        return factory(*args, **kwargs)


def _lanes(steps: Sequence[Step]) -> list[tuple[int, int, int]]:
    """(source, target, lane) for every arrow that skips a step, lanes chosen so that two
    arrows never share a stretch of line."""
    arcs = sorted((s, t) for t, step in enumerate(steps) for s in step.inputs if s != t - 1)
    ends: list[int] = []  # per lane: the last row its arrows reach
    placed = []
    for source, target in sorted(arcs, key=lambda arc: (arc[1] - arc[0], arc)):
        lane = next((i for i, end in enumerate(ends) if end < source or end == 0), None)
        lane = lane if lane is not None else len(ends)
        if lane == len(ends):
            ends.append(0)
        ends[lane] = max(ends[lane], target)
        placed.append((source, target, lane))
    return placed


def layer_diagram(module: nn.Module, example_input: Tensor, *args: Any, title: str | None = None,
                  depth: int = 1, width: float = 5.6, **kwargs: Any) -> Figure:
    """A top-down diagram of ``module``'s steps on ``example_input`` (:func:`trace_steps`).

    Each box names one operation and, below it, the real shape of the tensor it returns.
    A straight arrow joins a step to the next one when the next one reads it; a step that
    reads an earlier step (a skip connection, a second branch, the input read again) gets a
    bracket arrow on the right. Parameters a step reads directly are named in its box.
    ``args`` and ``kwargs`` go to the forward pass (e.g. the channel subset of a first
    layer); ``depth`` is how many levels of child modules to open.
    """
    steps = trace_steps(module, example_input, *args, depth=depth, **kwargs)
    arcs = _lanes(steps)
    lanes = 1 + max((lane for *_, lane in arcs), default=-1)
    row = 0.62  # inches per step
    fig, ax = plt.subplots(figsize=(width, row * len(steps) + 0.6))
    box_w, box_h = 0.62, 0.72  # in axis units: x in [0, 1], one row = 1
    left = 0.04
    right = left + box_w
    for i, step in enumerate(steps):
        y = -i
        is_end = step.label in ("input", "output")
        ax.add_patch(FancyBboxPatch((left, y - box_h / 2), box_w, box_h,
                                    boxstyle="round,pad=0.01,rounding_size=0.08",
                                    facecolor="#eef3fb" if not is_end else "#f4f4f4",
                                    edgecolor="#4a6fa5" if not is_end else "#888888",
                                    linewidth=1.0))
        label = step.label + (f"  [{', '.join(step.params)}]" if step.params else "")
        ax.text(left + box_w / 2, y + 0.13, textwrap.shorten(label, 62), ha="center",
                va="center", fontsize=8.5)
        ax.text(left + box_w / 2, y - 0.18, step.shape_text, ha="center", va="center",
                fontsize=8, family="monospace", color="#444444")
        if i > 0 and i - 1 in step.inputs:
            ax.annotate("", xy=(left + box_w / 2, y + box_h / 2),
                        xytext=(left + box_w / 2, y + 1 - box_h / 2),
                        arrowprops={"arrowstyle": "-|>", "color": "#333333", "lw": 0.9})
    for source, target, lane in arcs:
        x = right + 0.035 * (lane + 1)
        y0, y1 = -source, -target
        ax.plot([right, x, x], [y0, y0, y1], color="#b5651d", lw=0.9)
        ax.annotate("", xy=(right, y1), xytext=(x, y1),
                    arrowprops={"arrowstyle": "-|>", "color": "#b5651d", "lw": 0.9})
    ax.set_xlim(0, max(1.0, right + 0.035 * (lanes + 1)))
    ax.set_ylim(-len(steps) + 0.5, 0.5)
    ax.axis("off")
    ax.set_title(title or f"{type(module).__name__}: each step and the shape it returns",
                 fontsize=10)
    if arcs:
        fig.text(0.5, 0.005, "orange: a step that reads an earlier one again (a branch, a skip "
                 "or a dense link)", ha="center", va="bottom", fontsize=7.5, color="#b5651d")
    fig.tight_layout()
    return fig


# ---- the code --------------------------------------------------------------------------------

def _is_ours(obj: Any) -> bool:
    return getattr(obj, "__module__", "").startswith("dynconv.")


def _callees(function: Callable, owner: Any) -> list[tuple[str, Callable]]:
    """The methods, sub-layers and dynconv functions that ``function`` names, in the order
    it names them: ``(qualified name, function)``."""
    found = []
    code = getattr(function, "__code__", None)
    names = code.co_names if code is not None else ()
    cls = owner if isinstance(owner, type) else type(owner)
    for name in names:
        attribute = inspect.getattr_static(cls, name, None)
        if inspect.isfunction(attribute) and _is_ours(attribute):
            found.append((f"{_defining_class(cls, name)}.{name}", attribute))
            continue
        child = owner._modules.get(name) if isinstance(owner, nn.Module) else None
        if child is not None and _is_ours(type(child)):
            forward = type(child).forward
            found.append((forward.__qualname__, forward))
            continue
        value = function.__globals__.get(name)
        if inspect.isfunction(value) and _is_ours(value):
            found.append((value.__qualname__, value))
    # methods of the dynconv classes it names, or of the dynconv objects it holds
    # (``ChannelSampler.run_drop(...)``, ``self.sampler.draws(...)``)
    helpers = [function.__globals__.get(name) for name in names]
    if isinstance(owner, nn.Module):
        helpers += [vars(owner).get(name) for name in names]
    classes = {h if isinstance(h, type) else type(h) for h in helpers
               if h is not None and not isinstance(h, nn.Module) and not inspect.isfunction(h)}
    for klass in sorted((k for k in classes if _is_ours(k)), key=lambda k: k.__qualname__):
        for name in names:
            method = inspect.getattr_static(klass, name, None)
            method = getattr(method, "__func__", method)  # a staticmethod's function
            if inspect.isfunction(method):
                found.append((f"{klass.__qualname__}.{name}", method))
    return found


def _defining_class(cls: type, name: str) -> str:
    """The class of ``cls``'s method resolution order that defines ``name``."""
    return next(k.__qualname__ for k in cls.__mro__ if name in vars(k))


def _source_of(function: Callable) -> str:
    return textwrap.dedent(inspect.getsource(function))


@dataclass(frozen=True)
class Listing:
    """The source of a layer's ``forward`` and what it calls; shown folded in Jupyter and on
    the book's pages (``_repr_html_``), as plain text elsewhere (``__repr__``)."""

    title: str
    parts: tuple[tuple[str, str], ...]  # (qualified name, source)

    @property
    def source(self) -> str:
        return "\n\n".join(f"# {name}\n{source}" for name, source in self.parts)

    def __repr__(self) -> str:
        return f"{self.title}\n\n{self.source}"

    def _repr_html_(self) -> str:
        code = highlight(self.source, PythonLexer(), HtmlFormatter(noclasses=True, nowrap=False,
                                                                   style="friendly"))
        names = ", ".join(f"<code>{html.escape(name)}</code>" for name, _ in self.parts[1:])
        also = f" (and what it calls: {names})" if names else ""
        return (f"<details><summary>{html.escape(self.title)}{also}</summary>"
                f'<div style="font-size: 0.85em; overflow-x: auto">{code}</div></details>')


def show_code(obj: Any, *, depth: int = 2,
              skip: Sequence[str] = ("check", "check_input")) -> Listing:
    """The source of ``obj``'s ``forward`` (obj: a module, a module class or a function), and
    of what it calls, ``depth`` levels deep: the methods of the same class, the sub-layers
    of ``obj`` defined in ``dynconv`` (their ``forward``) and the functions of ``dynconv``.
    Names in ``skip`` (the input checks, by default) are left out. The source is read with
    ``inspect.getsource``, so it is the code that runs.
    """
    if inspect.isfunction(obj):
        first, owner = obj, None
    else:
        cls = obj if isinstance(obj, type) else type(obj)
        if not isinstance(getattr(cls, "forward", None), Callable):
            raise TypeError(f"show_code takes a module, a module class or a function, got "
                            f"{cls.__name__}, which has no forward.")
        first, owner = cls.forward, obj
    if owner is None:
        name = first.__qualname__
    else:
        cls = owner if isinstance(owner, type) else type(owner)
        name = f"{_defining_class(cls, 'forward')}.forward"
    parts = [(name, _source_of(first))]
    seen = {name}
    frontier = [(first, owner)]
    for _ in range(depth):
        next_frontier = []
        for function, fn_owner in frontier:
            for qualname, callee in _callees(function, fn_owner):
                if qualname in seen or qualname.split(".")[-1] in skip:
                    continue
                seen.add(qualname)
                parts.append((qualname, _source_of(callee)))
                sub_owner = fn_owner
                if isinstance(fn_owner, nn.Module) and qualname.endswith(".forward"):
                    sub_owner = next((m for m in fn_owner.children()
                                      if type(m).forward is callee), type(fn_owner))
                next_frontier.append((callee, sub_owner))
        frontier = next_frontier
    label = type(obj).__name__ if isinstance(obj, nn.Module) else getattr(obj, "__name__", "")
    return Listing(f"code of {label}.forward" if owner is not None else f"code of {label}",
                   tuple(parts))
