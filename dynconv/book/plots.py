"""Figures the chapters draw: sample grids, channel splits, curves, confusion matrices, heatmaps.

Every function returns a matplotlib ``Figure`` (and draws nothing else), so a chapter cell is one
call and the same figure can be embedded in a static widget panel with :func:`figure_to_data_uri`.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from dynconv.channels import ALL_SUBSETS, ChannelSubset
from dynconv.data.datasets import IMAGENET_MEAN


def _as_hwc(image_uint8) -> np.ndarray:
    """(3, H, W) uint8 tensor or array -> (H, W, 3) numpy array for imshow."""
    array = np.asarray(image_uint8)
    return np.transpose(array, (1, 2, 0))


def show_subset(image_uint8, subset: ChannelSubset, *, fill: str = "black") -> np.ndarray:
    """An image with only ``subset`` left, as a picture.

    ``fill="black"``: absent channels at 0 (how a "drop" model sees it: the channel is simply
    not there). ``fill="mean"``: absent channels at the normalisation mean (ImageNet's mean,
    0.485 / 0.456 / 0.406 x 255), which is exactly what a zero-filled plain network receives:
    a normalised 0 is that mean, not black.
    """
    if fill not in ("black", "mean"):
        raise ValueError(f"fill must be 'black' or 'mean', got {fill!r}")
    hwc = _as_hwc(image_uint8).copy()
    for channel in range(3):
        if channel not in subset.indices:
            hwc[..., channel] = 0 if fill == "black" else round(255 * IMAGENET_MEAN[channel])
    return hwc


def plot_class_grid(
    images_uint8, labels, class_names: Sequence[str], *, per_class: int = 4, max_classes: int = 24
) -> Figure:
    """A grid with `per_class` training images for each class (rows = classes)."""
    labels = np.asarray(labels)
    classes = list(range(min(len(class_names), max_classes)))
    fig, axes = plt.subplots(
        len(classes), per_class, figsize=(per_class * 0.9 + 1.6, len(classes) * 0.9), squeeze=False
    )
    for row, c in enumerate(classes):
        idx = np.flatnonzero(labels == c)[:per_class]
        for col in range(per_class):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col < len(idx):
                ax.imshow(_as_hwc(images_uint8[idx[col]]))
            if col == 0:
                ax.set_ylabel(class_names[c], rotation=0, ha="right", va="center", fontsize=7)
    fig.subplots_adjust(wspace=0.05, hspace=0.05, left=0.3)
    return fig


def plot_channel_split(image_uint8, *, subsets: Sequence[ChannelSubset] = ALL_SUBSETS,
                       fill: str = "black") -> Figure:
    """One image as R, G, B planes (grey) and as each channel subset, absent channels drawn
    as :func:`show_subset` draws them (``fill="black"`` or ``"mean"``: ImageNet's mean)."""
    hwc = _as_hwc(image_uint8)
    fig, axes = plt.subplots(2, max(4, len(subsets)), figsize=(2 * max(4, len(subsets)), 4.4))
    for ax in axes.ravel():
        ax.axis("off")
    axes[0, 0].imshow(hwc)
    axes[0, 0].set_title("RGB image")
    for c, name in enumerate("RGB"):
        axes[0, c + 1].imshow(hwc[..., c], cmap="gray", vmin=0, vmax=255)
        axes[0, c + 1].set_title(f"channel {c}: {name}")
    for i, subset in enumerate(subsets):
        axes[1, i].imshow(show_subset(image_uint8, subset, fill=fill))
        missing = "" if fill == "black" or subset.size == 3 else ", rest = mean"
        axes[1, i].set_title(f"{subset.name}{missing}")
    fig.tight_layout()
    return fig


def plot_history(histories: Mapping[str, pd.DataFrame | Sequence[dict]]) -> Figure:
    """Training and validation loss and accuracy per epoch for one or more runs."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, (name, history) in enumerate(histories.items()):
        frame = pd.DataFrame(history)
        color = f"C{i}"
        ax_loss.plot(
            frame["epoch"], frame["train_loss"], color=color, ls="--", label=f"{name} train"
        )
        ax_loss.plot(frame["epoch"], frame["val_loss"], color=color, label=f"{name} val")
        ax_acc.plot(frame["epoch"], frame["train_acc"], color=color, ls="--", label=f"{name} train")
        ax_acc.plot(frame["epoch"], frame["val_acc"], color=color, label=f"{name} val")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1))
    ax_acc.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def plot_confusion(
    confusion, class_names: Sequence[str], *, title: str = "", normalise: bool = True, ax=None
) -> Figure:
    """Confusion matrix, rows = true class, columns = predicted class (row-normalised)."""
    matrix = np.asarray(confusion, dtype=float)
    if normalise:
        matrix = matrix / np.clip(matrix.sum(axis=1, keepdims=True), 1, None)
    if ax is None:
        size = 2.5 + 0.22 * len(class_names)
        fig, ax = plt.subplots(figsize=(size, size))
    else:
        fig = ax.figure
    ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1 if normalise else None)
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=90, fontsize=6)
    ax.set_yticks(ticks, class_names, fontsize=6)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.tight_layout()
    return fig


def plot_accuracy_heatmap(
    table: pd.DataFrame, *, title: str = "", chance: float | None = None,
    value_label: str = "test accuracy", percent: bool = True,
) -> Figure:
    """Models (rows) x channel subsets (columns) accuracy table as an annotated heatmap.

    ``percent=False`` writes the values as they are (e.g. ratios to an oracle, 0..1)."""
    values = table.to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(1.1 * table.shape[1] + 2, 0.55 * table.shape[0] + 1.4))
    image = ax.imshow(values, cmap="viridis", vmin=0, vmax=1)
    for (r, c), v in np.ndenumerate(values):
        if not np.isnan(v):
            ax.text(
                c,
                r,
                f"{100 * v:.1f}" if percent else f"{v:.2f}",
                ha="center",
                va="center",
                color="white" if v < 0.6 else "black",
                fontsize=8,
            )
    ax.set_xticks(range(table.shape[1]), table.columns)
    ax.set_yticks(range(table.shape[0]), table.index)
    subtitle = f" (chance {100 * chance:.1f}%)" if chance else ""
    ax.set_title(title + subtitle)
    fig.colorbar(image, ax=ax, fraction=0.03, label=value_label)
    fig.tight_layout()
    return fig


def plot_accuracy_bars(
    table: pd.DataFrame,
    *,
    chance: float | None = None,
    title: str = "",
    low: pd.DataFrame | None = None,
    high: pd.DataFrame | None = None,
) -> Figure:
    """Grouped bars: one group per channel subset, one bar per model; with ``low``/``high``
    (tables shaped like ``table``, e.g. from ``dynconv.book.tables.interval_bounds``) each bar gets
    its 95% interval as an error bar."""
    fig, ax = plt.subplots(figsize=(10, 3.6))
    width = 0.8 / max(1, len(table.index))
    x = np.arange(len(table.columns))
    for i, model in enumerate(table.index):
        values = 100 * table.loc[model].to_numpy(dtype=float)
        yerr = None
        if low is not None and high is not None:
            yerr = np.vstack([values - 100 * low.loc[model].to_numpy(dtype=float),
                              100 * high.loc[model].to_numpy(dtype=float) - values])
        ax.bar(x + i * width, values, width, label=model, yerr=yerr, capsize=2,
               error_kw={"lw": 0.8})
    if chance:
        ax.axhline(100 * chance, color="k", ls=":", lw=1, label="chance")
    ax.set_xticks(x + width * (len(table.index) - 1) / 2, table.columns)
    ax.set(ylabel="test accuracy (%)", title=title)
    ax.legend(fontsize=7, ncol=4)
    fig.tight_layout()
    return fig


def plot_prediction_grid(
    images_uint8,
    labels,
    predictions,
    class_names: Sequence[str],
    *,
    subset: ChannelSubset | None = None,
    fill: str = "black",
    columns: int = 8,
) -> Figure:
    """Sample test images (as the model saw them: see :func:`show_subset` for ``fill``) with
    true and predicted class; wrong in red."""
    n = len(labels)
    rows = int(np.ceil(n / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.2, rows * 1.45), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i in range(n):
        ax = axes.ravel()[i]
        image = (show_subset(images_uint8[i], subset, fill=fill) if subset
                 else _as_hwc(images_uint8[i]))
        ax.imshow(image)
        right = int(labels[i]) == int(predictions[i])
        ax.set_title(
            f"{class_names[int(predictions[i])]}\n(true {class_names[int(labels[i])]})",
            fontsize=5.5,
            color="black" if right else "crimson",
        )
    fig.tight_layout()
    return fig


def figure_to_data_uri(fig: Figure, *, dpi: int = 72) -> str:
    """PNG data URI of a figure (closes it), for static HTML panels that need no kernel."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def plot_attention_weights(weights: Mapping[str, np.ndarray]) -> Figure:
    """v3's routing weights: per subset, each kernel's weight across images (box plots), the
    subsets in the book's order (RGB first) whatever order ``weights`` has (a record's JSON
    keeps its keys sorted)."""
    order = [s.name for s in ALL_SUBSETS]
    weights = dict(sorted(weights.items(), key=lambda kv: order.index(kv[0])
                          if kv[0] in order else len(order)))
    fig, axes = plt.subplots(
        1, len(weights), figsize=(3.2 * len(weights), 3), sharey=True, squeeze=False
    )
    for ax, (subset, w) in zip(axes[0], weights.items(), strict=True):
        w = np.asarray(w)  # (B, K)
        ax.boxplot([w[:, k] for k in range(w.shape[1])])
        ax.axhline(1 / w.shape[1], color="k", ls=":", lw=1)
        ax.set_xticks(range(1, w.shape[1] + 1), [f"$W_{k + 1}$" for k in range(w.shape[1])])
        ax.set_title(f"{subset} (dotted: uniform)")
    axes[0, 0].set_ylabel("attention weight $\\pi_k(x)$")
    fig.tight_layout()
    return fig


def _name_ticks(ax: Axes, count: int) -> None:
    """Model names under bars: level when six or fewer, slanted when more (so none overlap)."""
    slanted = count > 6
    for label in ax.get_xticklabels():
        label.set_rotation(30 if slanted else 0)
        label.set_horizontalalignment("right" if slanted else "center")


def plot_cost_bars(table: pd.DataFrame, columns: Sequence[str], *, title: str = "") -> Figure:
    """Side-by-side bars of some numeric columns of a cost table (rows = models)."""
    fig, ax = plt.subplots(figsize=(8, 3.6))
    # many models: slant the names so that they do not overlap
    table[list(columns)].plot.bar(ax=ax)
    _name_ticks(ax, len(table))
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_trained_blocks(images: torch.Tensor, inspection: Mapping[str, Any],
                        titles: Sequence[str] = ()) -> Figure:
    """What a trained first AttentionSE block does, image by image.

    ``images``: normalised (B, 3, H, W); ``inspection``: what
    :func:`dynconv.experiments.inspection.part2_first_block` stored for them (``received``: (B, N)
    the attention each position receives, averaged over all queries; ``gates``: (B, C); ``size``:
    (H', W'); ``gamma``). One row per image: the image; where the block looks (upsampled to
    the image); and the 64 SE gates for this image (an untrained block keeps every gate close
    to 0.5: between 0.47 and 0.53 for the default initialisation).
    """
    gates = torch.as_tensor(inspection["gates"])  # (B, C)
    h, w = (int(v) for v in inspection["size"])
    received = torch.as_tensor(inspection["received"]).reshape(-1, 1, h, w)  # (B, 1, H', W')
    received = torch.nn.functional.interpolate(received, size=images.shape[-2:],
                                               mode="nearest")[:, 0]  # (B, H, W)
    rows = images.shape[0]
    fig, axes = plt.subplots(rows, 3, figsize=(10, 2.4 * rows), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1, 2.4]})
    for row in range(rows):
        ax_img, ax_attn, ax_se = axes[row]
        shown = images[row] - images[row].amin()
        ax_img.imshow((shown / shown.amax()).permute(1, 2, 0).numpy())
        ax_img.set_title(titles[row] if row < len(titles) else "input", fontsize=9)
        ax_attn.imshow(received[row].numpy(), cmap="magma")
        ax_attn.set_title("attention received", fontsize=9)
        for ax in (ax_img, ax_attn):
            ax.axis("off")
        ax_se.bar(range(gates.shape[1]), gates[row].numpy(), width=1.0)
        ax_se.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax_se.set(ylim=(0, 1), ylabel="gate $s_c$")
        ax_se.set_title("SE gate per channel (dashed: 0.5, near every gate before training)",
                        fontsize=9)
    axes[-1][2].set_xlabel("channel")
    gamma = float(inspection["gamma"])
    fig.suptitle(f"trained first block: attention weight gamma = {gamma:.3f}", fontsize=10)
    fig.tight_layout()
    return fig


def plot_channel_embedding(embedding: Mapping[str, Any]) -> Figure:
    """v5's learned channel-identity embedding: scale and shift of each of the 64 filters, per
    channel (rows R, G, B), as departures from where training started (scale 1, shift 0).
    Columns are sorted by how much the three channels' scales differ, most different first.

    ``embedding``: ``{"scale": (3, 64), "shift": (3, 64)}``, as
    :func:`dynconv.experiments.inspection.v5_embedding` stores it in the record (or a v5 stem's
    tensors). """
    scale = np.asarray(torch.as_tensor(embedding["scale"]).detach().cpu())  # (3, 64)
    shift = np.asarray(torch.as_tensor(embedding["shift"]).detach().cpu())  # (3, 64)
    order = np.argsort(-(scale.max(axis=0) - scale.min(axis=0)))
    fig, axes = plt.subplots(2, 1, figsize=(10, 3.2), sharex=True)
    for ax, values, name in ((axes[0], scale - 1.0, "scale - 1"), (axes[1], shift, "shift")):
        limit = float(np.abs(values).max()) or 1.0
        image = ax.imshow(values[:, order], cmap="coolwarm", vmin=-limit, vmax=limit,
                          aspect="auto")
        ax.set_yticks(range(3), ["R", "G", "B"])
        ax.set_ylabel(name)
        fig.colorbar(image, ax=ax, fraction=0.02)
    axes[1].set_xlabel("filter of the shared bank (most channel-specific first)")
    axes[0].set_title("v5's channel-identity embedding after training (0 = as initialised)")
    fig.tight_layout()
    return fig


def plot_bench_ratios(summary: pd.DataFrame, *, bound: float = 1.05, title: str = "") -> Figure:
    """Each first layer's cost as a ratio to ResNet18 (``dynconv.bench.benchmark.ratio_summary``).

    One group of bars per layer, one bar per metric; the dashed line is the target ``bound``
    (inference images/s is a throughput: there higher is better, every other bar lower).
    """
    labels = {"flops_calflops": "FLOPs (calflops)", "flops_counter": "FLOPs (FlopCounterMode)",
              "train_step_s": "training step time", "infer_img_per_s": "inference images/s",
              "peak_mem_mb": "peak training memory"}
    fig, ax = plt.subplots(figsize=(9, 3.8))
    summary.rename(columns=labels).plot.bar(ax=ax, width=0.8)
    _name_ticks(ax, len(summary))
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.axhline(bound, color="tab:red", linestyle="--", linewidth=1,
               label=f"target: at most {bound:g}x")
    ax.set_ylabel("ratio to ResNet18")
    low, high = summary.min().min(), summary.max().max()
    ax.set_ylim(min(0.8, low - 0.05), max(1.25, high + 0.05))
    ax.legend(fontsize=8, ncols=3, loc="upper left")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
