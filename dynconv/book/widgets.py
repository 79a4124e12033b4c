"""Explorers that work live in Jupyter AND in the static site, without a kernel.

The trick: every panel is computed in advance (HTML with embedded PNG figures), all panels sit in
an ``ipywidgets.Stack``, and a ``ToggleButtons`` selector is tied to the stack with ``jslink``.
``jslink`` runs in the browser, so when the executed notebook is rendered with its saved widget
state, clicking a button switches the panel with no Python behind the page. (A ``observe`` callback
would only work with a live kernel.) Used by the chapters 02-07 explorers, and by Part III's
(chapter 10), which adds each panel's ratio to the oracle of its subset (Part III's yardstick,
:mod:`dynconv.book.robustness`).
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


def oracle_ratio_text(record: Record, subset: str, oracles: Mapping[str, Record]) -> str:
    """The sentence a Part III panel adds: ``record``'s accuracy on ``subset`` over that of the
    subset's oracle (the plain ResNet18 trained on ``subset`` alone), both of this record's and
    the oracle's first seed; "no oracle" where ``oracles`` has none for the subset."""
    oracle = oracles.get(subset)
    if oracle is None or subset not in oracle.test:
        return f"no oracle of {subset} to compare with"
    limit = oracle.test[subset]
    ratio = f"{record.test[subset] / limit:.2f}" if limit > 0 else "n/a (the oracle is at 0%)"
    return (f"ratio to the oracle of {subset}: <b>{ratio}</b> ({100 * record.test[subset]:.1f}% "
            f"against the oracle's {100 * limit:.1f}%, seed {record.seed} of each)")


def record_panels(
    record: Record, test_images_uint8, class_names: Sequence[str], *,
    subsets: Sequence[str] | None = None, oracles: Mapping[str, Record] | None = None,
) -> dict[str, widgets.HTML]:
    """One panel per channel subset of a record (or of ``subsets``): accuracy with its
    interval, confusion matrix, and sample predictions shown as the model saw them
    (zero-filled channels at ImageNet's mean for a plain network, absent channels black for a
    "drop" stem). With ``oracles`` ({subset: record}), each panel also gives the ratio to the
    oracle of its subset (:func:`oracle_ratio_text`)."""
    if len(test_images_uint8) != record.num_test:
        raise ValueError(f"{len(test_images_uint8)} test images given, but {record.label} was "
                         f"tested on {record.num_test}")
    fill = "mean" if record.model in ZERO_FILL_MODELS else "black"
    shown = ("missing channels at ImageNet's mean, as this plain network receives them"
             if fill == "mean" else "missing channels black: this stem never receives them")
    index = sample_indices(record.num_test)
    panels = {}
    for subset_name in subsets or record.subsets:
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
        ratio = "" if oracles is None else (
            oracle_ratio_text(record, subset_name, oracles) + "; ")
        panels[subset_name] = html_panel(
            title=f"{record.label} tested on {subset_name}",
            text=(
                f"test accuracy <b>{accuracy}</b> (95% interval), {ratio}loss "
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


ORACLE_CHOICE = "oracle of the subset"  # the oracles' button in the Part III explorer


def oracle_explorer(
    records: Mapping[str, Record], oracles: Mapping[str, Record], test_images_uint8,
    class_names: Sequence[str],
) -> widgets.VBox:
    """Part III's explorer: choose a model of ``records`` ({label: record}: v5, the published
    designs, the controls) or :data:`ORACLE_CHOICE`, then a channel subset. Each panel is Part
    I's (accuracy, confusion matrix, sample predictions) plus the ratio to the subset's oracle;
    the oracle's own panels show each oracle ({subset: record}) on its own subset only."""
    per_model = {
        label: record_panels(record, test_images_uint8, class_names, oracles=oracles)
        for label, record in records.items()
    }
    per_model[ORACLE_CHOICE] = {
        subset: record_panels(oracle, test_images_uint8, class_names, subsets=[subset],
                              oracles=oracles)[subset]
        for subset, oracle in oracles.items()
    }
    return choice_stack(
        {label: choice_stack(panels, description="channels")
         for label, panels in per_model.items()},
        description="model",
    )
