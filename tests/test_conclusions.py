"""The closing chapter's conclusions (dynconv.book.conclusions), on hand-made records."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from standins import with_accuracy

from dynconv.book import conclusions, realphotos, robustness
from dynconv.channels import SUBSET_NAMES
from dynconv.experiments.registry import (
    PART1,
    PART1_LONG,
    PART2,
    PART2_32PX,
    PART3,
    SUBSET_TRAINED,
    SUBSET_TRAINED_LONG,
    label,
)


def _everywhere(value: float, **overrides: float) -> dict[str, float]:
    return {**dict.fromkeys(SUBSET_NAMES, value), **overrides}


class FakeSource:
    """A source of records by experiment name (every seed listed)."""

    def __init__(self, name: str, seeds: dict[str, list]) -> None:
        self.identity = SimpleNamespace(name=name)
        self._seeds = seeds

    def run(self, name):
        return self._seeds[name][0]

    def seeds(self, name):
        return self._seeds[name]

    def records(self, *names):
        return {label(n): self.run(n) for n in names}


def _record(name: str, fractions: dict[str, float], seed: int = 42):
    return with_accuracy(fractions, label=label(name), seed=seed)


def test_gap_counts_apply_both_tests():
    a = with_accuracy({"R": 0.9, "G": 0.5, "B": 0.52})
    b = with_accuracy({"R": 0.5, "G": 0.9, "B": 0.5})
    assert conclusions.gap_counts(a, b, ["R", "G", "B"], seed_spread=0.05) == (["R"], ["G"])
    # a gap McNemar finds but no larger than the seed spread is not called a difference
    assert conclusions.gap_counts(a, b, ["R", "G", "B"], seed_spread=0.5) == ([], [])
    assert conclusions.gap_text(["R"], [], 3) == "ahead on 1 (R) and behind on none of 3 subsets"


def _part1_records(best: str) -> dict:
    records = {label(n): _record(n, _everywhere(0.5)) for n in PART1}
    records[label("v1")] = _record("v1", {"RGB": 0.5})  # v1 serves RGB only
    records[label(best)] = _record(best, _everywhere(0.9))
    return records


def test_part1_names_the_best_layer_and_counts_gaps_against_the_control():
    text = conclusions.part1_sentence("data A", _part1_records("v3"), spread=0.05)
    assert "**Part I, data A.**" in text and "**v3** (90.0% on average)" in text
    assert "*v3* ahead on 6 (RG, RB, GB, R, G, B) and behind on none of 6" in text
    assert "*v2* ahead on none and behind on none of 6" in text
    assert "*v1*" not in text  # no incomplete subset to compare
    assert "1 of 4 dynamic layers beat the control" in text


def _budget_source(long_values: dict[str, dict[str, float]]) -> FakeSource:
    """Part I at both budgets: every layer at 50% but v3 (90%) at the profile's budget; at 3x
    each as ``long_values`` says (default 50%); the control and v4 per sample with 3 seeds."""
    seeds = {n: [_record(n, _everywhere(0.5), s) for s in (42, 43, 44)] for n in PART1}
    seeds["v1"] = [_record("v1", {"RGB": 0.5})]
    seeds["v3"] = [_record("v3", _everywhere(0.9))]
    for name in PART1_LONG:
        default = {"RGB": 0.5} if name == "v1-long" else _everywhere(0.5)
        seeds[name] = [_record(name, long_values.get(name, default))]
    return FakeSource("data A", seeds)


def test_part1_at_3x_pairs_each_layer_with_itself_and_each_budget_with_its_control():
    source = _budget_source({"v3-long": _everywhere(0.5), "v2-long": _everywhere(0.9),
                             "resnet18-long": _everywhere(0.6, RGB=0.5)})
    table = conclusions.part1_budgets(source)
    assert list(table.index) == [label(n) for n in PART1]
    v2, v3 = table.loc[label("v2")], table.loc[label("v3")]
    assert v3["incomplete mean, profile's budget"] == pytest.approx(0.9)
    assert v3["incomplete mean, 3x budget"] == pytest.approx(0.5)
    assert v3["against the control, profile's budget"].startswith("ahead on 6")
    # at 3x, v3 (50%) is compared with the control trained as long (60%), not the 6-epoch one
    assert v3["against the control, 3x budget"].startswith("ahead on none and behind on 6")
    assert v2["against the control, 3x budget"].startswith("ahead on 6")
    assert (v2["verdict changed"], v3["verdict changed"]) == ("yes", "yes")
    assert table.loc[label("v1"), "against the control, 3x budget"] == "RGB only"
    assert table.loc[label("resnet18"), "verdict changed"] == ""
    text = conclusions.part1_budget(source)
    assert text.startswith("**Part I at three times the budget, data A.**")
    assert "changes from **v3** to **v2**" in text
    assert "the control's by +10.0" in text and "moved by -40.0 to +40.0 points" in text
    # v4's two layers (50%) fall behind the control trained as long (60%): 4 verdicts changed
    assert "4 of the 4 dynamic layers' verdicts" in text
    assert "*v2* went from ahead on none and behind on none of 6 subsets to ahead on 6" in text
    assert table.loc[label("v1"), "verdict changed"] == ""  # RGB only: nothing to compare


def test_part1_at_3x_says_when_nothing_changed():
    same = _budget_source({"v3-long": _everywhere(0.95)})
    text = conclusions.part1_budget(same)
    assert "the best dynamic layer there is **v3** at both budgets" in text
    assert "none of the 4 dynamic layers' verdicts against the zero-fill control changed" in text


def test_part2_fractions_of_resnet34_and_the_90_percent_verdict():
    runs = {label("resnet34"): [_record("resnet34", {"RGB": 0.8}, s) for s in (42, 43)],
            label("small-k3s1"): [_record("small-k3s1", {"RGB": 0.6})],
            label("small-k7s2"): [_record("small-k7s2", {"RGB": 0.76})],
            label("compact"): [_record("compact", {"RGB": 0.8})]}
    text = conclusions.part2_sentence("data A", runs)
    assert "*small k3s1* 0.75 (1 seed" in text and "*compact* 1.00" in text
    assert "By the means, small k7s2, compact meet 90% of ResNet34." in text
    low = {**runs, label("compact"): [_record("compact", {"RGB": 0.4})],
           label("small-k7s2"): [_record("small-k7s2", {"RGB": 0.4})]}
    assert "none meets 90% of ResNet34" in conclusions.part2_sentence("data A", low)


def _part2_source(r34: float, r18: float, compact: float) -> FakeSource:
    seeds = {n: [_record(n, {"RGB": 0.8}, s) for s in (42, 43)] for n in PART2}
    for name, value in zip(PART2_32PX, (r34, r18, compact), strict=True):
        seeds[name] = [_record(name, {"RGB": value}, s) for s in (42, 43, 44)]
    return FakeSource("data A", seeds)


def test_part2_adds_the_32px_verdict_and_the_check_of_the_image_size():
    text = conclusions.part2(_part2_source(r34=0.8, r18=0.7, compact=0.76))
    assert text.startswith("**Part II, data A.**")
    assert "**Part II, data A at 32 px.** RGB test accuracy as a fraction of ResNet34, " \
           "32 px's (mean of its 3 seeds): *compact, 32 px* 0.95 (3 seeds" in text
    assert "compact, 32 px meets 90% of ResNet34, 32 px" in text
    assert "*ResNet18, 32 px*" not in text  # the check is not a small network
    assert "ResNet34, 32 px is not below ResNet18, 32 px" in text
    below = conclusions.part2(_part2_source(r34=0.6, r18=0.7, compact=0.5))
    # the stand-in records' validation accuracies are equal: not below there, below on test
    assert "ResNet34, 32 px is not below ResNet18, 32 px on validation only" in below
    assert "none meets 90% of ResNet34, 32 px" in below


def _part3_source(name: str, v5: float, published: float, long: float) -> FakeSource:
    seeds = {n: [_record(n, _everywhere(0.9))] for n in SUBSET_TRAINED.values()}
    seeds.update({n: [_record(n, _everywhere(0.92, G=0.95))]  # the oracles at 3x budget
                  for n in SUBSET_TRAINED_LONG.values()})
    for n in PART3:
        seeds[n] = [_record(n, _everywhere(0.6))]
    for n in ("v5", "templatemixing", "resnet18-sampled"):  # the repeated ones
        value = v5 if n == "v5" else published if n == "templatemixing" else 0.6
        seeds[n] = [_record(n, _everywhere(value), s) for s in (42, 43)]
    seeds["v5-long"] = [_record("v5-long", _everywhere(long))]
    seeds["v5-distill-long"] = [_record("v5-distill-long", _everywhere(v, R=0.874), s)
                                for v, s in ((0.92, 42), (0.9, 43))]
    seeds["resnet18"] = [_record("resnet18", _everywhere(0.9, R=0.3))]
    for n in PART1:
        seeds.setdefault(n, [_record(n, _everywhere(0.5))])
    seeds["v1"] = [_record("v1", {"RGB": 0.5})]  # v1 serves RGB only
    return FakeSource(name, seeds)


def test_part3_ranks_v5_at_the_oracles_budget_and_reports_its_longer_run_apart():
    source = _part3_source("data A", v5=0.8, published=0.7, long=0.9)
    text = conclusions.part3(source)
    assert "v5's worst-subset ratio to the oracles is the highest of the 7 models" in text
    assert "against *TemplateMixing* ahead on 7" in text
    assert "its worst-subset ratio is 1.00 against 0.89" in text
    assert "Against oracles trained as long as it (means over their seeds) it is 0.95 (G)." in text
    # in-place distillation trained as long: the mean of its two seeds' ratios, worst on R
    assert ("Trained as long with in-place distillation (*v5 + in-place distillation, 3x "
            "budget*, means over its seeds) it is 0.95 (R), and 0.97 (R) against the oracles "
            "of the profile's budget.") in text
    behind = conclusions.part3(_part3_source("data B", v5=0.6, published=0.8, long=0.6))
    assert "is number 2, behind TemplateMixing" in behind
    assert "against *TemplateMixing* ahead on none and behind on 7" in behind


def test_data_dependence_says_what_changes_with_the_data():
    text = conclusions.data_dependence_sentence({"A": "v3", "B": "v4 per sample"},
                                                {"A": 1, "B": 1}, {"A": 4, "B": 0}, 7)
    assert "changes with the data (**v3** on A and **v4 per sample** on B, each" in text
    assert "first place holds on both datasets" in text
    assert "on A on 4 of 7 subsets; on B on 0 of 7 subsets" in text
    same = conclusions.data_dependence_sentence({"A": "v3", "B": "v3"},
                                                {"A": 1, "B": 2}, {"A": 1, "B": 0}, 7)
    assert "is the same on both datasets" in same
    assert "ranks first on A and number 2 on B" in same and "depends on the data too" in same


def test_data_dependence_from_records():
    a = _part3_source("A", v5=0.8, published=0.7, long=0.9)
    b = _part3_source("B", v5=0.6, published=0.8, long=0.6)
    b._seeds["v4-sample"] = [_record("v4-sample", _everywhere(0.7))]
    text = conclusions.data_dependence(a, b)
    assert "changes with the data (**v2** on A and **v4 per sample** on B, each" in text
    assert "ranks first on A and number 2 on B" in text


def test_layers_by_data_names_part1_only():
    a = _part3_source("A", v5=0.8, published=0.7, long=0.9)
    b = _part3_source("B", v5=0.6, published=0.8, long=0.6)
    assert "is the same on both datasets (**v2** on A and **v2** on B" in \
        conclusions.layers_by_data(a, b)
    b._seeds["v3"] = [_record("v3", _everywhere(0.7))]
    text = conclusions.layers_by_data(a, b)
    assert "changes with the data (**v2** on A and **v3** on B" in text
    assert "v5" not in text  # chapter 7 comes before v5


def test_show_says_why_real_photos_are_missing(monkeypatch):
    shown = []
    monkeypatch.setattr(conclusions, "display", lambda m: shown.append(m.data))

    def missing():
        raise realphotos.PhotosUnavailable("no records here")

    monkeypatch.setattr(realphotos, "find", missing)
    source = FakeSource("A", {n: [_record(n, {"RGB": 0.8})] for n in (*PART2, *PART2_32PX)})
    conclusions.show(source, "part2")
    assert shown[0].startswith("**Part II, A.**")
    assert "not shown in this build (no records here)" in shown[1]
    shown.clear()
    conclusions.show(source, "data")
    conclusions.show(source, "layers")
    assert len(shown) == 2 and all("Not computed in this build" in s for s in shown)
    with pytest.raises(KeyError):
        conclusions.show(source, "part4")


def test_show_with_details_puts_the_evidence_before_each_datasets_sentence(monkeypatch):
    shown = []
    monkeypatch.setattr(conclusions, "display", lambda m: shown.append(m))
    photos = _budget_source({})
    photos.identity = SimpleNamespace(name="photos")
    monkeypatch.setattr(realphotos, "find", lambda: photos)
    conclusions.show(_budget_source({}), "part1_budget", details=True)
    kinds = [type(m).__name__ for m in shown]
    assert kinds == ["Markdown", "Styler", "Markdown", "Markdown"] * 2
    assert shown[0].data == "**data A: Part I at both budgets**"
    assert shown[4].data == "**photos: Part I at both budgets**"
    assert shown[2].data.startswith("By the book's convergence rule")
    assert shown[3].data.startswith("**Part I at three times the budget, data A.**")
    assert shown[7].data.startswith("**Part I at three times the budget, photos.**")
    shown.clear()
    conclusions.show(_budget_source({}), "part1_budget")  # the sentences alone
    assert [type(m).__name__ for m in shown] == ["Markdown", "Markdown"]


def test_robustness_label_of_oracle_is_not_a_model():
    assert robustness.ORACLE not in PART3
