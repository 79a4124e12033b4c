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

from dynconv.channels import SUBSET_NAMES, parse_channels
from dynconv.plots import figure_to_data_uri, plot_confusion, plot_prediction_grid


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


def record_panels(
    record: dict, test_images_uint8, class_names: Sequence[str]
) -> dict[str, widgets.HTML]:
    """One panel per channel subset of a results record: accuracy, confusion matrix, predictions."""
    panels = {}
    # records are stored with sorted keys: show the subsets in the book's order RGB, RG, ..., B
    names = [name for name in SUBSET_NAMES if name in record["test"]]
    for subset_name in names:
        accuracy = record["test"][subset_name]
        subset = parse_channels(subset_name)
        samples = record["samples"][subset_name]  # [{"index", "label", "predicted"}, ...]
        index = np.asarray([s["index"] for s in samples])
        confusion = plot_confusion(
            record["confusion"][subset_name],
            class_names,
            title=f"{record['model']} on {subset_name}",
        )
        grid = plot_prediction_grid(
            test_images_uint8[index],
            [s["label"] for s in samples],
            [s["predicted"] for s in samples],
            class_names,
            subset=subset,
            columns=4,
        )
        loss = record["test_loss"][subset_name]
        panels[subset_name] = html_panel(
            title=f"{record['model']} tested on {subset_name}",
            text=(
                f"test accuracy <b>{100 * accuracy:.1f}%</b>, loss {loss:.3f} "
                f"(profile <code>{record['profile']}</code>, data {record['data']['name']}; "
                "left: row-normalised confusion matrix, right: sample predictions, wrong in red)"
            ),
            figures=[confusion, grid],
        )
    return panels


def records_explorer(
    records: Mapping[str, dict], test_images_uint8, class_names: Sequence[str]
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
