"""Before any chapter runs: check the data, then load, check or train every record the book shows.

`make book` calls :func:`prepare` first. It

1. loads the dataset once (:func:`dynconv.data.datasets.load_dataset`), so that a bad folder stops
the
   build with its named :class:`~dynconv.errors.DatasetError` (file, line, what to do) before
   any chapter executes, and the chapters find the decoded images in the cache;
2. looks up the record of every experiment and seed of :mod:`dynconv.experiments.registry` under the
   profile and data (:func:`dynconv.experiments.runner.locate`: keys only, nothing decoded or
   trained); 3. checks the shipped real-photo records that six chapters show beside this data's
   (:mod:`dynconv.book.realphotos`; a stale one stops ``records="check"``, elsewhere those
   sections say why they are not shown);
4. trains what is stale or missing, or stops. ``records="check"`` (CI) stops at once, naming
   each stale record, why it is stale and the command that refreshes it. ``records="auto"``
   (the default) does the same when the book ships records for this profile and data, and
   trains when it has none (a reader's own dataset); ``records="train"`` trains whatever is
   stale. ``force`` retrains everything; ``retrain`` names experiments to retrain;
5. checks, or measures by the same rule, the records measured after training from a checkpoint
   (:mod:`dynconv.experiments.posthoc`: AdaBN, :data:`~dynconv.experiments.registry.ADABN`).

Training prints one line per training (which of how many, why, the time so far and an estimate
of what is left) and one line per epoch, instead of minutes of silence: the chapters then only
load records.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

import torch

from dynconv.book import realphotos
from dynconv.config import get_config
from dynconv.data.datasets import DataIdentity, data_identity, load_dataset, read_split_list
from dynconv.errors import ConfigError, DatasetError, DynconvError
from dynconv.experiments import posthoc
from dynconv.experiments.records import Record
from dynconv.experiments.registry import ADABN, EXPERIMENTS, get_experiment
from dynconv.experiments.runner import locate, run

__all__ = ["PlannedRun", "StaleRecordsError", "format_duration", "plan", "plan_posthoc",
           "prepare"]

RECORD_MODES = ("auto", "check", "train")


class StaleRecordsError(DynconvError):
    """The build would train, and was told not to (``records="check"`` or shipped records)."""


@dataclass(frozen=True)
class PlannedRun:
    """One record the book shows, and what the build does with it."""

    experiment: str
    seed: int
    path: Path
    # None: a current record is there; else why it would be trained.
    stale: str | None
    # Seconds the stored record took to produce (its wall time), when one is there.
    previous_s: float | None

    @property
    def name(self) -> str:
        return f"{self.experiment}, seed {self.seed}"


def format_duration(seconds: float | None) -> str:
    """``"1 h 05 min"``, ``"3 min 20 s"``, ``"42 s"``; ``"?"`` for None."""
    if seconds is None:
        return "?"
    seconds = max(0, round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


def _previous_wall_time(path: Path) -> float | None:
    """Wall time of the record at ``path`` or, when the key changed, of any record of the same
    experiment and seed in that folder (a stale one: the best estimate of a retraining)."""
    candidates = [path] if path.exists() else []
    prefix = path.stem.rsplit("-", 1)[0] + "-"
    candidates += sorted(p for p in path.parent.glob(f"{prefix}*.json") if p != path)
    for candidate in candidates:
        try:
            return float(Record.load(candidate).wall_time_s)
        except (DynconvError, ValueError, KeyError, TypeError, OSError):
            continue
    return None


def _with_list_line(message: str, data_dir: str | os.PathLike | None) -> str:
    """A decoding error's message with the list file and line that name the image, and what to
    do (the loader names the file only)."""
    if data_dir is None:
        return message
    root = Path(data_dir)
    for split in ("train", "val", "test"):
        try:
            entries = read_split_list(root, split)
        except DatasetError:
            continue
        for entry in entries:
            if str((root / entry.path).resolve()) in message or f" {entry.path}:" in message:
                return (f"{message}\nIt is listed in {root / (split + '.txt')}, line "
                        f"{entry.line}. Replace the image, or delete that line, and run the "
                        f"build again.")
    return message


def plan(profile: str = "ci", data_dir: str | os.PathLike | None = None, *,
         results_dir: str | os.PathLike | None = None,
         experiments: Sequence[str] | None = None) -> list[PlannedRun]:
    """Every (experiment, seed) the book shows, with its record's path and state."""
    runs = []
    for name in experiments or EXPERIMENTS:
        spec = get_experiment(name)
        for seed in spec.seeds(profile):
            path, stale = locate(spec, profile=profile, data_dir=data_dir, seed=seed,
                                 results_dir=results_dir)
            runs.append(PlannedRun(spec.name, seed, path, stale, _previous_wall_time(path)))
    return runs


def _refresh_command(runs: Sequence[PlannedRun], data_dir: str | None, profile: str) -> str:
    names = " ".join(dict.fromkeys(r.experiment for r in runs))
    where = (f" DATA_DIR={data_dir}" if data_dir else "") + \
            (f" PROFILE={profile}" if profile != "ci" else "")
    return f'make book{where} RETRAIN="{names}"'


def stale_message(stale: Sequence[PlannedRun], *, profile: str, data_dir: str | None,
                  results: Path) -> str:
    """What the build says when it would train and was told not to."""
    total = sum(r.previous_s or 0.0 for r in stale)
    lines = [f"{len(stale)} of the book's records under {results / profile} are not current "
             f"(the build would train them):"]
    lines += [f"  - {r.name}: {r.stale}" for r in stale]
    lines += [
        f"Refresh them (about {format_duration(total)} by their last training times) with",
        f"  {_refresh_command(stale, data_dir, profile)}",
        "(or `make book TRAIN=1` to train every stale record), then commit book/results/.",
    ]
    return "\n".join(lines)


def _epoch_printer(index: int, total: int, name: str, started: float, build_started: float,
                   left_after: float | None):
    """fit's on_epoch: one line per epoch with this run's and the whole plan's estimate."""
    def report(epoch: int, max_epochs: int, row: Mapping[str, float]) -> None:
        elapsed = time.perf_counter() - started
        this_left = elapsed / epoch * (max_epochs - epoch)  # an upper bound: early stopping
        everything = None if left_after is None else this_left + left_after
        print(f"[train {index}/{total}] {name}: epoch {epoch}/{max_epochs}, "
              f"val_acc {row.get('val_acc', float('nan')):.3f}, "
              f"{format_duration(elapsed)} so far, about {format_duration(this_left)} left in "
              f"this run, {format_duration(everything)} in all "
              f"(build {format_duration(time.perf_counter() - build_started)})", flush=True)
    return report


def _time_left(previous: Sequence[float | None], done: Sequence[float]) -> float | None:
    """Seconds the runs still to come should take: each one's last training time, else the
    mean of the runs done in this build; None while neither is known."""
    typical = mean(done) if done else None
    if typical is None and None in previous:
        return None
    return sum(typical if s is None else s for s in previous)


def _check_real_photos(records: str, results_dir: str | os.PathLike | None) -> None:
    """The shipped real-photo records (:mod:`dynconv.book.realphotos`) that six chapters show beside
    the built-in data's: current, or why not. Under ``records="check"`` a stale one stops the
    build; otherwise the chapters say that their real-photo sections are not shown."""
    try:
        photos = realphotos.find(results_dir=results_dir)
    except realphotos.PhotosUnavailable as why:
        if records == "check":
            raise StaleRecordsError(f"the real-photo records are not current: {why}") from why
        print(f"[book] warning: the chapters' real-photo sections will not be shown: {why}",
              flush=True)
        return
    count = sum(len(get_experiment(n).seeds(photos.profile)) for n in EXPERIMENTS)
    print(f"[book] real photos: {count} records of {photos.identity.name} (fingerprint "
          f"{photos.identity.fingerprint[:12]}, profile {photos.profile}) current", flush=True)


def prepare(profile: str = "ci", data_dir: str | None = None, *, records: str = "auto",
            force: bool = False, retrain: Sequence[str] = (),
            results_dir: str | os.PathLike | None = None, jobs: int = 1) -> list[PlannedRun]:
    """Check the data and make every record of the book current (see the module docstring).

    ``jobs`` trainings run at once, each in its own process (:func:`_train`); the default 1
    trains one after another, which keeps each record's wall time free of another's load.

    Returns the plan as it was before training. Raises :class:`DatasetError` for bad data and
    :class:`StaleRecordsError` when the build would train and ``records`` forbids it.
    """
    if records not in RECORD_MODES:
        raise ConfigError(f"records must be one of {', '.join(RECORD_MODES)}, got {records!r}")
    unknown = sorted(set(retrain) - set(EXPERIMENTS))
    if unknown:
        raise ConfigError(f"RETRAIN names unknown experiments: {', '.join(unknown)}; valid: "
                          f"{', '.join(EXPERIMENTS)}")
    start = time.perf_counter()
    config = get_config(profile)
    identity = data_identity(data_dir, image_size=config.image_size)
    print(f"[book] data: {identity.name} (fingerprint {identity.fingerprint[:12]}), "
          f"{config.image_size} px: checking and decoding once", flush=True)
    try:
        bundle = load_dataset(data_dir, image_size=config.image_size, progress=True)
    except DatasetError as error:
        raise DatasetError(_with_list_line(str(error), data_dir)) from error
    print(f"[book] data ready in {time.perf_counter() - start:.0f} s: "
          f"{len(bundle.train):,} training, {len(bundle.val):,} validation, "
          f"{len(bundle.test):,} test images, {bundle.num_classes} classes", flush=True)

    runs = plan(profile, data_dir, results_dir=results_dir)
    results = runs[0].path.parent.parent
    current = [r for r in runs if r.stale is None]
    chosen = [r for r in runs if force or r.stale is not None or r.experiment in retrain]
    print(f"[book] records under {results / profile}: {len(current)} of {len(runs)} current"
          + (f", {len(chosen)} to train" if chosen else ", nothing to train"), flush=True)
    if identity.name != realphotos.REAL_PHOTOS:
        _check_real_photos(records, results_dir)
    stale = [r for r in chosen if r.stale is not None]
    # "auto" trains a dataset or profile the book has no record of at all (a reader's own)
    shipped = any(r.stale != "no stored record" for r in runs)
    if stale and not force and (records == "check" or (records == "auto" and shipped)):
        raise StaleRecordsError(stale_message(stale, profile=profile, data_dir=data_dir,
                                              results=results))
    training_started = time.perf_counter()
    _train(chosen, profile=profile, data_dir=data_dir, force=force, results_dir=results_dir,
           build_started=start, jobs=jobs)
    if chosen:
        print(f"[book] trained {len(chosen)} records in "
              f"{format_duration(time.perf_counter() - training_started)}", flush=True)
    measured = _prepare_posthoc(profile, data_dir, identity, records=records,
                                shipped=shipped, results_dir=results_dir)
    return runs + measured


def _train_one(planned: PlannedRun, index: int, total: int, *, profile: str,
               data_dir: str | None, force: bool, results_dir: str | os.PathLike | None,
               build_started: float, left_after: float | None) -> float:
    """Train (or, with ``force``, retrain) one planned record, with its progress lines;
    returns its seconds. Module level, so that a worker process can run it."""
    why = planned.stale or ("FORCE=1" if force else "named in RETRAIN")
    print(f"[train {index}/{total}] {planned.name}: {why}; last time "
          f"{format_duration(planned.previous_s)}", flush=True)
    started = time.perf_counter()
    record = run(planned.experiment, profile=profile, data_dir=data_dir, seed=planned.seed,
                 results_dir=results_dir, force=planned.stale is None or force,
                 progress=False,
                 on_epoch=_epoch_printer(index, total, planned.name, started, build_started,
                                         left_after))
    seconds = time.perf_counter() - started
    rgb = record.test.get("RGB", next(iter(record.test.values())))
    print(f"[train {index}/{total}] {planned.name}: done in "
          f"{format_duration(seconds)} (test accuracy {rgb:.3f} on "
          f"{'RGB' if 'RGB' in record.test else record.subsets[0]}), wrote "
          f"{record.path and Path(record.path).name}", flush=True)
    return seconds


def _worker_pool(jobs: int) -> Executor:
    """``jobs`` worker processes (spawned: a fresh interpreter each, no forked PyTorch state),
    each with this machine's cores / ``jobs`` threads."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=torch.set_num_threads, initargs=(threads,))


def _train(chosen: Sequence[PlannedRun], *, profile: str, data_dir: str | None, force: bool,
           results_dir: str | os.PathLike | None, build_started: float, jobs: int) -> None:
    """Train ``chosen`` in order, or ``jobs`` at once in worker processes. Two processes may
    share a results folder (the runner locks each run), so the only cost of ``jobs`` > 1 is a
    wall time measured under a second training's load: what `make smoke` wants (its numbers
    mean nothing) and a study does not."""
    done: list[float] = []
    settings = {"profile": profile, "data_dir": data_dir, "force": force,
                "results_dir": results_dir, "build_started": build_started}
    if jobs == 1 or len(chosen) < 2:
        for index, planned in enumerate(chosen, start=1):
            left_after = _time_left([r.previous_s for r in chosen[index:]], done)
            done.append(_train_one(planned, index, len(chosen), left_after=left_after,
                                   **settings))
        return
    print(f"[book] training {len(chosen)} records, {jobs} at a time", flush=True)
    with _worker_pool(jobs) as pool:
        futures = [pool.submit(_train_one, planned, index, len(chosen), left_after=None,
                               **settings)
                   for index, planned in enumerate(chosen, start=1)]
        try:
            for future in futures:
                future.result()
        except BaseException:
            for future in futures:  # the first failure stops the build: nothing new starts
                future.cancel()
            raise


def plan_posthoc(profile: str, identity: DataIdentity, *,
                 results_dir: str | os.PathLike | None = None) -> list[PlannedRun]:
    """Every AdaBN record the book shows (:data:`~dynconv.experiments.registry.ADABN`, every
    seed), with its path and state, from keys alone."""
    runs = []
    for name in ADABN:
        for seed in get_experiment(name).seeds(profile):
            path, _, why = posthoc.locate_adabn(name, identity, profile=profile, seed=seed,
                                                results_dir=results_dir)
            runs.append(PlannedRun(f"{name}-adabn", seed, path or Path(), why, None))
    return runs


def _prepare_posthoc(profile: str, data_dir: str | None, identity: DataIdentity, *,
                     records: str, shipped: bool,
                     results_dir: str | os.PathLike | None) -> list[PlannedRun]:
    """After the training records: check or measure the AdaBN records, by the same rule (a
    stale one stops ``records="check"``, and ``"auto"`` where the book ships records)."""
    runs = plan_posthoc(profile, identity, results_dir=results_dir)
    stale = [r for r in runs if r.stale is not None]  # (FORCE retrains them; they stay current)
    if not stale:
        print(f"[book] AdaBN records: {len(runs)} of {len(runs)} current", flush=True)
        return runs
    if records == "check" or (records == "auto" and shipped):
        lines = [f"{len(stale)} AdaBN records are not current (measured after training from "
                 f"the checkpoint; where none is here, the experiment is trained again):"]
        lines += [f"  - {r.name}: {r.stale}" for r in stale]
        lines += ["Refresh them with `make book TRAIN=1` (or `make records` for another "
                  "dataset), then commit book/results/."]
        raise StaleRecordsError("\n".join(lines))
    for index, planned in enumerate(stale, start=1):
        experiment = planned.experiment.removesuffix("-adabn")
        started = time.perf_counter()
        record = posthoc.adabn(experiment, profile=profile, data_dir=data_dir,
                               seed=planned.seed, results_dir=results_dir, progress=False)
        print(f"[adabn {index}/{len(stale)}] {planned.name}: measured in "
              f"{format_duration(time.perf_counter() - started)} (RGB "
              f"{record.test.get('RGB', float('nan')):.3f}), wrote {Path(record.path).name}",
              flush=True)
    return plan_posthoc(profile, identity, results_dir=results_dir)


def main(argv: list[str] | None = None) -> int:
    """``python -m dynconv.booktools.records``: :func:`prepare` alone (no chapter)."""
    parser = argparse.ArgumentParser(prog="python -m dynconv.booktools.records",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="ci")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--records", default="check", choices=RECORD_MODES)
    parser.add_argument("--retrain", nargs="*", default=[])
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--jobs", type=int, default=1,
                        help="trainings at once, each in its own process (default 1: one "
                             "after another, every wall time measured alone)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, not {args.jobs}")
    try:
        prepare(args.profile, args.data_dir, records=args.records, force=args.force,
                retrain=args.retrain, jobs=args.jobs)
    except DynconvError as error:
        print(f"\nerror: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
