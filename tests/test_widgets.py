"""dynconv.book.widgets: the explorers' panels and their switching in the browser."""

from __future__ import annotations

import ipywidgets
import numpy as np
import pytest
from ipywidgets.widgets.widget import _instances
from ipywidgets.widgets.widget_link import Link
from standins import make_record

from dynconv.book import widgets
from dynconv.models.zoo import MODEL_NAMES, build_model


def test_choice_stack_switches_panels_in_the_browser_with_jslink():
    panels = {name: ipywidgets.HTML(value=f"<p>{name}</p>") for name in ("RGB", "RG", "B")}
    box = widgets.choice_stack(panels, description="channels")
    buttons, stack = box.children
    assert list(buttons.options) == ["RGB", "RG", "B"]
    assert [p.value for p in stack.children] == ["<p>RGB</p>", "<p>RG</p>", "<p>B</p>"]
    assert "dynconv-explorer" in box._dom_classes
    links = [w for w in _instances.values() if isinstance(w, Link) and w.source[0] is buttons]
    assert links and links[-1].source[1] == "index"
    assert links[-1].target == (stack, "selected_index")
    # Live, the link is client-side only; the selected index still follows the value.
    buttons.value = "B"
    assert buttons.index == 2


def test_records_explorer_builds_one_panel_per_model_and_subset():
    labels = [0, 1, 2, 0]
    records = {
        name: make_record({"RGB": [0, 1, 2, 2], "RG": [0, 0, 0, 0]}, labels, label=name)
        for name in ("a", "b")
    }
    images = np.zeros((4, 3, 8, 8), dtype=np.uint8)
    explorer = widgets.records_explorer(records, images, ["x", "y", "z"])
    models, stack = explorer.children
    assert list(models.options) == ["a", "b"]
    inner_buttons, inner_stack = stack.children[0].children
    assert list(inner_buttons.options) == ["RGB", "RG"]
    html = inner_stack.children[1].value
    assert "data:image/png;base64," in html and "tested on RG" in html
    assert "75.0%" in inner_stack.children[0].value  # RGB: 3 of 4, with its interval
    with pytest.raises(ValueError, match="tested on 4"):
        widgets.records_explorer(records, images[:3], ["x", "y", "z"])


def test_zero_fill_models_are_the_plain_networks():
    plain = {n for n in MODEL_NAMES if build_model(n, num_classes=3).input_mode == "zero"}
    assert plain == set(widgets.ZERO_FILL_MODELS)


def test_oracle_explorer_adds_the_ratio_to_each_subsets_oracle():
    labels = [0, 1, 2, 0]
    v5 = make_record({"RGB": [0, 1, 2, 2], "G": [0, 0, 0, 0]}, labels, label="v5")
    oracles = {"RGB": make_record({"RGB": [0, 1, 2, 0], "G": [1, 1, 1, 1]}, labels,
                                  label="control"),
               "G": make_record({"G": [0, 1, 0, 0]}, labels, label="oracle G")}
    images = np.zeros((4, 3, 8, 8), dtype=np.uint8)
    explorer = widgets.oracle_explorer({"v5": v5}, oracles, images, ["x", "y", "z"])
    models, stack = explorer.children
    assert list(models.options) == ["v5", widgets.ORACLE_CHOICE]
    assert "dynconv-explorer" in explorer._dom_classes
    v5_buttons, v5_panels = stack.children[0].children
    assert list(v5_buttons.options) == ["RGB", "G"]
    # v5: 3 of 4 on RGB against the control's 4 of 4; 2 of 4 on G against the oracle's 3 of 4
    assert "ratio to the oracle of RGB: <b>0.75</b>" in v5_panels.children[0].value
    assert "ratio to the oracle of G: <b>0.67</b>" in v5_panels.children[1].value
    assert "50.0% against the oracle's 75.0%" in v5_panels.children[1].value
    # the oracles: each on its own subset only (the control's G accuracy is not the oracle's)
    oracle_buttons, oracle_panels = stack.children[1].children
    assert list(oracle_buttons.options) == ["RGB", "G"]
    assert "oracle G tested on G" in oracle_panels.children[1].value
    assert "ratio to the oracle of G: <b>1.00</b>" in oracle_panels.children[1].value
    assert "control tested on RGB" in oracle_panels.children[0].value


def test_oracle_ratio_text_without_an_oracle_or_at_zero():
    labels = [0, 1]
    record = make_record({"RGB": [0, 1], "B": [0, 0]}, labels)
    assert widgets.oracle_ratio_text(record, "B", {}) == "no oracle of B to compare with"
    zero = {"B": make_record({"B": [1, 0]}, labels)}
    assert "n/a (the oracle is at 0%)" in widgets.oracle_ratio_text(record, "B", zero)
    # Part I's panels carry no ratio
    assert "oracle" not in widgets.record_panels(record, np.zeros((2, 3, 8, 8), np.uint8),
                                                 ["x", "y"])["B"].value
