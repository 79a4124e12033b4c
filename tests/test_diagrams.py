"""Layer diagrams and code listings (dynconv.book.diagrams): the shapes a diagram prints are
those of the real forward pass, the listing is the real source."""

from __future__ import annotations

import inspect
import textwrap

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from dynconv import build_model  # noqa: E402
from dynconv.book import diagrams  # noqa: E402
from dynconv.channels import parse_channels  # noqa: E402
from dynconv.models.blocks import DenseBlock, SEBlock  # noqa: E402
from dynconv.stems.chammi import TemplateMixingStem  # noqa: E402
from dynconv.stems.common import GeneratedKernelStem, per_sample_conv  # noqa: E402
from dynconv.stems.v3 import DynamicConvStem, KernelAttention  # noqa: E402
from dynconv.stems.v5 import ChannelEmbeddingStem  # noqa: E402


def _printed(fig) -> list[str]:
    """Every text the diagram shows."""
    return [text.get_text() for text in fig.axes[0].texts]


def _shapes(steps) -> list[tuple[int, ...]]:
    return [step.shapes[0] for step in steps]


def test_small_network_shapes_match_a_hand_run_forward():
    torch.manual_seed(0)
    net = build_model("small_k7s2", num_classes=5).eval()
    x = diagrams.example_input(size=16)
    with torch.no_grad():  # the same forward, step by step
        a = net.conv1(x)
        b = net.relu(net.bn1(a))
        c = net.attention(b)
        d = net.rrdb(c)
        e = net.relu(net.bn2(net.conv2(d)))
        f = net.avgpool(e)
        expected = [x.shape, a.shape, b.shape, b.shape, c.shape, d.shape, net.conv2(d).shape,
                    e.shape, e.shape, f.shape, net.fc(f.flatten(1)).shape]
    steps = diagrams.trace_steps(net, x)
    assert _shapes(steps) == [tuple(s) for s in expected]
    assert [s.label.split(":")[0] for s in steps] == [
        "input", "conv1", "bn1", "relu", "attention", "rrdb", "conv2", "bn2", "relu",
        "avgpool", "fc"]
    fig = diagrams.layer_diagram(net, x)
    printed = _printed(fig)
    for shape in expected:
        assert str(tuple(shape)) in printed
    plt.close(fig)


def test_dynamic_stem_shapes_and_branches():
    torch.manual_seed(0)
    stem = DynamicConvStem()
    subset = parse_channels("RB")
    x = diagrams.example_input("RB", batch=3, size=12)
    with torch.no_grad():
        weights = stem.attention(x, subset)
        kernels = stem.kernels(x, subset)
        out = stem(x, subset)
    steps = diagrams.trace_steps(stem, x, "RB")
    labels = [s.label for s in steps]
    assert labels[1] == "attention: KernelAttention" and steps[1].shapes == (tuple(weights.shape),)
    assert steps[2].params == ("bank",)  # the bank is mixed by the routing weights
    assert steps[-3].shapes == (tuple(kernels.shape),)  # (B, 64, n, 3, 3)
    conv = labels.index("conv2d 3x3, groups=3")  # one group per image: B = 3
    assert steps[conv].shapes == ((1, 3 * 64, 12, 12),)  # the batch folded into channels
    assert steps[conv].inputs == (0, conv - 1)  # reads the input again: a branch
    assert steps[-1].label == "output" and steps[-1].shapes == (tuple(out.shape),)


def test_skip_and_dense_links_are_followed():
    se = SEBlock(16)
    steps = diagrams.trace_steps(se, diagrams.example_input(width=16, size=4))
    assert steps[-1].label == "multiply" and steps[-1].inputs == (0, len(steps) - 2)
    dense = diagrams.trace_steps(DenseBlock(8, 4), diagrams.example_input(width=8, size=4))
    last_cat = [s for s in dense if s.label == "concatenate"][-1]
    assert len(last_cat.inputs) == 5 and last_cat.shapes == ((2, 8 + 4 * 4, 4, 4),)


def test_first_layers_with_parameters_only():
    stem = TemplateMixingStem()
    x = diagrams.example_input("G", size=8)
    steps = diagrams.trace_steps(stem, x, "G")
    assert [s.label for s in steps] == ["input", "index_select", "einsum", "conv2d 3x3"]
    assert steps[2].params == ("templates",) and steps[2].shapes == ((64, 1, 3, 3),)
    assert steps[-1].shapes == (tuple(stem(x, "G").shape),)


def test_v5_plain_path_when_the_input_needs_a_gradient():
    stem = ChannelEmbeddingStem()
    x = diagrams.example_input("RG", size=8, requires_grad=True)
    labels = [s.label for s in diagrams.trace_steps(stem, x, "RG")]
    assert labels[-3:] == ["conv2d 3x3, groups=2", "ReLU", "mean"]


def test_the_module_is_left_as_it_was():
    net = build_model("compact", num_classes=3)
    net.train()
    state = torch.random.get_rng_state()
    diagrams.example_input(size=8)
    stem = diagrams.build(DynamicConvStem)
    assert torch.equal(torch.random.get_rng_state(), state)
    diagrams.trace_steps(net, diagrams.example_input(size=8))
    diagrams.trace_steps(stem, diagrams.example_input(size=8))
    assert net.training and all(not m._forward_hooks and not m._forward_pre_hooks
                                for m in net.modules())


def test_bad_input_gives_a_clear_error():
    stem = DynamicConvStem()
    with pytest.raises(ValueError, match=r"DynamicConvStem could not run on an input of shape "
                                         r"\(2, 3, 8, 8\): Input has 3 channels"):
        diagrams.layer_diagram(stem, diagrams.example_input(size=8), "RG")
    with pytest.raises(TypeError, match="must be a tensor"):
        diagrams.trace_steps(stem, [[1.0]])
    with pytest.raises(TypeError, match="torch.nn.Module"):
        diagrams.trace_steps(per_sample_conv, diagrams.example_input())
    assert all(not m._forward_hooks for m in stem.modules())


def test_show_code_is_the_real_forward_and_what_it_calls():
    listing = diagrams.show_code(DynamicConvStem())
    names = [name for name, _ in listing.parts]
    assert names[0] == "GeneratedKernelStem.forward"  # the forward the stem inherits
    assert {"DynamicConvStem.kernels", "KernelAttention.forward", "per_sample_conv"} <= set(names)
    assert "check_input" not in names  # input checks are left out
    assert "def forward" in listing.source
    assert textwrap.dedent(inspect.getsource(KernelAttention.forward)) in listing.source
    page = listing._repr_html_()
    assert page.startswith("<details><summary>code of DynamicConvStem.forward")
    assert "</details>" in page and "def</span>" in page  # highlighted
    assert "def forward" in repr(listing)  # the plain-text fallback
    assert diagrams.show_code(per_sample_conv).parts[0][0] == "per_sample_conv"
    assert diagrams.show_code(GeneratedKernelStem, depth=0).parts == (
        ("GeneratedKernelStem.forward",
         textwrap.dedent(inspect.getsource(GeneratedKernelStem.forward))),)
    v4 = build_model("v4", num_classes=3)  # the methods of the sampler the model holds
    assert "ChannelSampler.run_drop" in [n for n, _ in diagrams.show_code(v4, depth=1).parts]
    with pytest.raises(TypeError, match="no forward"):
        diagrams.show_code(3)
