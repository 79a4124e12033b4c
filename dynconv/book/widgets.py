"""Explorers that work live in Jupyter AND in the static site, without a kernel.

The trick: every panel is computed in advance (HTML with embedded PNG figures), all panels sit in
an ``ipywidgets.Stack``, and a ``ToggleButtons`` selector is tied to the stack with ``jslink``.
``jslink`` runs in the browser, so when the executed notebook is rendered with its saved widget
state, clicking a button switches the panel with no Python behind the page. (A ``observe`` callback
would only work with a live kernel.) Used by the chapters 02-07 explorers.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dynconv.book.plots import figure_to_data_uri, plot_confusion, plot_prediction_grid
from dynconv.channels import parse_channels
from dynconv.experiments.records import Record
from dynconv.stats import interval_text

NUM_SAMPLES = 16  # sample predictions per panel
# Plain networks: a missing channel is zero-filled (input_mode "zero").
ZERO_FILL_MODELS = ("resnet18", "resnet34", "small_k3s1", "small_k7s2", "compact")


def html_panel(
    *, title: str, text: str = "", figures: Sequence[Figure] = (), table: pd.DataFrame | None = None
) -> widgets.HTML:
    """One precomputed panel: a heading, a sentence, figures as inline PNGs, an optional table."""
    parts = [f"<h4>{html.escape(title)}</h4>"]
    if text:
        parts.append(f"<p>{text}</p>")
    images = "".join(
        f'<img src="{figure_to_data_uri(fig)}" style="max-width:49%;vertical-align:top" '
        f'alt="{html.escape(title)}"/>'
        for fig in figures
    )
    if images:
        parts.append(f"<div>{images}</div>")
    if table is not None:
        parts.append(table.to_html(float_format=lambda v: f"{v:.3f}", border=0))
    return widgets.HTML(value="".join(parts), layout=widgets.Layout(width="100%"))


def choice_stack(panels: Mapping[str, widgets.Widget], *, description: str) -> widgets.VBox:
    """Buttons that switch between precomputed panels, in the browser (jslink), kernel or not."""
    names = list(panels)
    buttons = widgets.ToggleButtons(
        options=names,
        value=names[0],
        description=description,
        style={"button_width": "auto"},
    )
    stack = widgets.Stack(children=[panels[name] for name in names], selected_index=0)
    widgets.jslink((buttons, "index"), (stack, "selected_index"))
    box = widgets.VBox([buttons, stack])
    box.add_class("dynconv-explorer")
    return box


def sample_indices(n: int, count: int = NUM_SAMPLES) -> list[int]:
    """``count`` test indices spread evenly over ``0..n-1`` (splits are sorted by class, so the
    first ``count`` images would all show the same class)."""
    if n <= count:
        return list(range(n))
    return sorted({round(i * (n - 1) / (count - 1)) for i in range(count)})


def record_panels(
    record: Record, test_images_uint8, class_names: Sequence[str]
) -> dict[str, widgets.HTML]:
    """One panel per channel subset of a record: accuracy with its interval, confusion matrix,
    and sample predictions shown as the model saw them (zero-filled channels at ImageNet's
    mean for a plain network, absent channels black for a "drop" stem)."""
    if len(test_images_uint8) != record.num_test:
        raise ValueError(f"{len(test_images_uint8)} test images given, but {record.label} was "
                         f"tested on {record.num_test}")
    fill = "mean" if record.model in ZERO_FILL_MODELS else "black"
    shown = ("missing channels at ImageNet's mean, as this plain network receives them"
             if fill == "mean" else "missing channels black: this stem never receives them")
    index = sample_indices(record.num_test)
    panels = {}
    for subset_name in record.subsets:
        low, high = record.interval(subset_name)
        confusion = plot_confusion(record.confusion(subset_name), class_names,
                                   title=f"{record.label} on {subset_name}")
        grid = plot_prediction_grid(
            test_images_uint8[np.asarray(index)],
            [record.test_labels[i] for i in index],
            [record.predictions[subset_name][i] for i in index],
            class_names,
            subset=parse_channels(subset_name),
            fill=fill,
            columns=4,
        )
        accuracy = interval_text(record.test[subset_name], low, high)
        panels[subset_name] = html_panel(
            title=f"{record.label} tested on {subset_name}",
            text=(
                f"test accuracy <b>{accuracy}</b> (95% interval), loss "
                f"{record.test_loss[subset_name]:.3f} (profile <code>{record.profile}</code>, "
                f"data {record.data['name']}, seed {record.seed}; left: row-normalised "
                f"confusion matrix, right: sample predictions, wrong in red, {shown})"
            ),
            figures=[confusion, grid],
        )
    return panels


def records_explorer(
    records: Mapping[str, Record], test_images_uint8, class_names: Sequence[str]
) -> widgets.VBox:
    """Choose a model, then a channel subset: two levels of jslinked stacks."""
    per_model = {
        label: choice_stack(
            record_panels(record, test_images_uint8, class_names), description="channels"
        )
        for label, record in records.items()
    }
    if len(per_model) == 1:
        return next(iter(per_model.values()))
    return choice_stack(per_model, description="model")
