"""Retrain shipped records from scratch and compare: do the book's numbers come back?

``python -m dynconv.booktools.reproduce`` (CI runs it) takes, unless told which, the shortest
shipped experiment of each part of the book (Part I, Part II, Part III, by the wall time their
records took), retrains each from scratch in a temporary results folder (same profile, data,
seed and code), and compares the new record with the shipped one on the same test images:

* **identical**: every prediction on every subset is the same (expected on the CPU model the
  record was trained on: training is deterministic there);
* else **McNemar**: on each subset McNemar's exact test of the two runs (statsmodels, through
  :func:`dynconv.experiments.records.paired_tests`), p-values corrected over the subsets with Holm's
  method (:func:`dynconv.stats.holm`, statsmodels' ``multipletests``); the check passes when
  no corrected p-value is below 0.05, i.e. the test finds no difference between the shipped
  run and the new one;
* on **another CPU model** the float arithmetic differs, so the run trained again is another
  draw of the same seed, as another seed would be: a difference then counts by the book's
  own rule, found by McNemar's test AND larger than the seed spread (the largest spread
  between seeds of the repeated experiments of the same part of the book, on the same data).
  First met on an Intel Xeon for a record trained on an AMD EPYC: small k7s2 on GB, 56.8%
  shipped and 53.2% again, Holm-corrected p = 0.005, a 3.6-point gap.

It prints, per experiment, which of the two held, and exits 1 when neither did.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dynconv.book.tables import seed_spread
from dynconv.booktools.records import format_duration, plan
from dynconv.experiments import registry
from dynconv.experiments.records import Record, paired_tests
from dynconv.experiments.runner import run
from dynconv.provenance import hardware
from dynconv.stats import holm

__all__ = ["Reproduction", "PARTS", "choose_experiments", "compare", "main"]

ALPHA = 0.05
# The book's parts, by the experiments each shows.
PARTS: dict[str, tuple[str, ...]] = {
    "Part I": tuple(dict.fromkeys((*registry.PART1, *registry.SUBSET_TRAINED.values(),
                                   *registry.PART1_LONG))),
    "Part II": (*registry.PART2, *registry.PART2_32PX),
    # less the three Part I experiments Part III compares with
    "Part III": tuple(
        n for n in dict.fromkeys((*registry.PART3, *registry.V5_ABLATION, *registry.IDENTITY_PAIR,
                                  *registry.SUBSET_TRAINED_LONG.values(),
                                  *registry.DISTILL_LONG))
        if n not in {"resnet18", "v4-sample", "resnet18-long"}),
}


@dataclass(frozen=True)
class Reproduction:
    """A shipped record against the same run trained again."""

    experiment: str
    seed: int
    identical: bool
    same_cpu: bool
    # Per subset: (accuracy shipped, accuracy now, Holm-corrected McNemar p-value).
    subsets: dict[str, tuple[float, float, float]]
    seconds: float
    # The yardstick on another CPU model (see the module docstring); None: none known.
    seed_spread: float | None = None

    def differences(self) -> list[str]:
        """The subsets where the two runs differ: McNemar's test finds it, and, on another CPU
        model with a known seed spread, the gap is larger than that spread."""
        spread = None if self.same_cpu else self.seed_spread
        return [s for s, (a, b, p) in self.subsets.items()
                if p < ALPHA and (spread is None or abs(a - b) > spread)]

    @property
    def passed(self) -> bool:
        return self.identical or not self.differences()

    def verdict(self) -> str:
        if self.identical:
            return "identical test predictions on every subset"
        worst = min(p for _, _, p in self.subsets.values())
        cpu = "the same CPU model" if self.same_cpu else "another CPU model"
        found = [s for s, (_, _, p) in self.subsets.items() if p < ALPHA]
        if not found:
            return (f"predictions differ ({cpu}); McNemar finds no difference on any subset "
                    f"(smallest Holm-corrected p = {worst:.3g})")
        if self.passed:
            return (f"predictions differ ({cpu}: another draw of the same seed); McNemar finds "
                    f"a difference on {', '.join(found)}, none larger than the "
                    f"{100 * (self.seed_spread or 0):.1f}-point spread between seeds of its "
                    f"part's repeated experiments, so none counts")
        return (f"predictions differ ({cpu}); a DIFFERENCE on {', '.join(self.differences())} "
                f"(Holm-corrected p = {worst:.3g})")


def choose_experiments(records: dict[str, Record]) -> list[str]:
    """The experiment of each part whose shipped first-seed record took the least wall time."""
    chosen = []
    for names in PARTS.values():
        present = [n for n in names if n in records]
        if present:
            chosen.append(min(present, key=lambda n: records[n].wall_time_s))
    return chosen


def compare(shipped: Record, again: Record, seconds: float = 0.0, *,
            seed_spread: float | None = None) -> Reproduction:
    """Compare two records of one run, trained twice (see the module docstring)."""
    tests = paired_tests(shipped, again)
    corrected = holm([t.p_value for t in tests])
    identical = shipped.predictions == again.predictions
    return Reproduction(
        experiment=shipped.experiment, seed=shipped.seed, identical=identical,
        same_cpu=shipped.hardware.get("cpu") == again.hardware.get("cpu"),
        subsets={t.subset: (t.accuracy_a, t.accuracy_b, float(p))
                 for t, p in zip(tests, corrected, strict=True)},
        seconds=seconds, seed_spread=seed_spread)


def _shipped_seeds(profile: str, data_dir: str | None) -> dict[str, list[Record]]:
    """{experiment: its current shipped records, in the order planned (first seed first)}."""
    records: dict[str, list[Record]] = {}
    for planned in plan(profile, data_dir):
        if planned.stale is None:
            records.setdefault(planned.experiment, []).append(Record.load(planned.path))
    return records


def part_seed_spread(name: str, seeds: dict[str, list[Record]]) -> float | None:
    """The largest spread between seeds of the repeated experiments of the part of the book
    that shows ``name`` (``seeds``: :func:`_shipped_seeds`), or None when it repeats none."""
    part = next(names for names in PARTS.values() if name in names)
    spreads = [seed_spread(records) for n, records in seeds.items()
               if n in part and len(records) > 1]
    return max(spreads) if spreads else None


def reproduce(experiments: Sequence[str] | None = None, *, profile: str = "ci",
              data_dir: str | None = None) -> list[Reproduction]:
    """Retrain ``experiments`` (default: :func:`choose_experiments`) and compare each."""
    seeds = _shipped_seeds(profile, data_dir)
    shipped = {name: records[0] for name, records in seeds.items()}
    names = list(experiments or choose_experiments(shipped))
    missing = [n for n in names if n not in shipped]
    if missing:
        raise SystemExit(f"no current shipped record for {', '.join(missing)}: run make book "
                         f"first (its records must load)")
    print(f"[reproduce] retraining {len(names)} shipped experiments from scratch on "
          f"{hardware()['cpu']}: {', '.join(names)}", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="dynconv-reproduce-") as scratch:
        for name in names:
            record = shipped[name]
            start = time.perf_counter()
            again = run(name, profile=profile, data_dir=data_dir, seed=record.seed,
                        results_dir=Path(scratch), progress=False)
            result = compare(record, again, time.perf_counter() - start,
                             seed_spread=part_seed_spread(name, seeds))
            results.append(result)
            print(f"[reproduce] {name}, seed {record.seed} (shipped: trained "
                  f"{record.created[:16]} on {record.hardware.get('cpu')}; again in "
                  f"{format_duration(result.seconds)}): {result.verdict()}", flush=True)
            for subset, (a, b, p) in result.subsets.items():
                print(f"    {subset:>3}: shipped {a:.4f}, again {b:.4f}, p = {p:.3g}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dynconv.booktools.reproduce",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("experiments", nargs="*",
                        help="registry experiments (default: the shortest of each part)")
    parser.add_argument("--profile", default="ci")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    os.environ.pop("DYNCONV_RESULTS_DIR", None)  # the shipped records: <book>/book/results
    results = reproduce(args.experiments or None, profile=args.profile,
                        data_dir=args.data_dir)
    identical = sum(r.identical for r in results)
    passed = sum(r.passed for r in results)
    print(f"[reproduce] {passed} of {len(results)} reproduced: {identical} identical, "
          f"{passed - identical} with no difference by the book's rule")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
