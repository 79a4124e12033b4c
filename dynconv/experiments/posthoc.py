"""Measured after training, from a record's checkpoint: BatchNorm statistics per subset (AdaBN).

Li, Wang, Shi, Liu and Hou, "Revisiting Batch Normalization For Practical Domain Adaptation"
(ICLR workshop 2017; https://arxiv.org/abs/1603.04779) adapt a trained network to a new domain
at no training cost: every BatchNorm layer's running mean and variance are replaced by those of
the new domain, and no weight changes. Here each channel subset is a "domain": v5 serves every
subset with one set of BatchNorm statistics, averaged over the mixture of subsets it was trained
on, and :func:`adabn` tests it on each subset ``S`` with the statistics of the run's own training
images seen through ``S`` (:func:`dynconv.evaluation.recalibrate.recalibrated`).

The result is a :class:`~dynconv.experiments.records.Record` like any other: the same test
images in the same order (so every paired test of the book applies), its experiment named
``<experiment>-adabn`` and its label ``<label> + AdaBN``. It is stored in
``<results>/<profile>/posthoc/`` under a key made of its source record's key and the digests of
the code that measures it (:func:`dynconv.evaluation.recalibrate.recalibrated` and
:func:`_measure`): a retrained source, or changed measuring code, makes it stale, and a stale
one is measured again, never shown.

Measuring needs the source's checkpoint and its data. The book ships records without
checkpoints, so measuring again retrains the source first (``force=True``: the training is
deterministic on one machine, so the source's numbers come back as they were). Which
experiments are measured this way is :data:`dynconv.experiments.registry.ADABN`; the build
(:mod:`dynconv.booktools.records`) checks or refreshes their records after the training records.

How this differs from the paper: the statistics come from training images (the paper used the
target domain's unlabelled test images; here the test images stay unseen), and the "domains"
are channel subsets of the same images.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dynconv.data.datasets import DataIdentity
from dynconv.errors import ConfigError, DynconvError
from dynconv.evaluation.evaluate import evaluate
from dynconv.evaluation.recalibrate import recalibrated
from dynconv.experiments import runner
from dynconv.experiments.keys import function_digest, module_digest
from dynconv.experiments.records import Record
from dynconv.experiments.registry import get_experiment
from dynconv.provenance import config_fingerprint, hardware, versions

__all__ = ["POSTHOC_FOLDER", "PosthocUnavailable", "adabn", "adabn_key", "locate_adabn"]

# Beside the profile's records, in a folder of its own: the records' own listings
# (``<results>/<profile>/*.json``) never see these.
POSTHOC_FOLDER = "posthoc"
_SUFFIX = "adabn"


class PosthocUnavailable(DynconvError):
    """A post-hoc record is missing or stale, and cannot be measured here (no source record, or
    its data is not on this machine)."""


def adabn_key(source: Record) -> dict[str, Any]:
    """What an AdaBN record depends on: its source record's key (configuration, data, code) and
    the code that measures it."""
    parts = {
        "source": source.key["config_and_data"],
        "source_code": source.key["code"],
        "recalibrate": module_digest("dynconv.evaluation.recalibrate"),
        "measure": function_digest(_measure),
    }
    return {"config_and_data": config_fingerprint(parts, length=10), "parts": parts}


def _name(source: Record, key: Mapping[str, Any]) -> str:
    return f"{source.experiment}-{_SUFFIX}-seed{source.seed}-{key['config_and_data']}"


def _path(source: Record, key: Mapping[str, Any], results_dir: Path) -> Path:
    return results_dir / source.profile / POSTHOC_FOLDER / f"{_name(source, key)}.json"


def locate_adabn(experiment: str, identity: DataIdentity, *, profile: str = "ci",
                 seed: int | None = None, results_dir: str | os.PathLike | None = None
                 ) -> tuple[Path | None, Record | None, str | None]:
    """(where the AdaBN record of ``experiment`` is, the record when current, else why not),
    from keys alone: nothing is decoded, trained or measured."""
    path, source, why = runner.find_record(experiment, identity, profile=profile, seed=seed,
                                           results_dir=results_dir)
    if source is None:
        return None, None, f"its source record is not current ({why})"
    key = adabn_key(source)
    target = _path(source, key, path.parent.parent)
    if not target.exists():
        return target, None, "no stored record"
    try:
        stored = Record.load(target, origin="loaded: its key matches")
    except (ConfigError, ValueError, KeyError, TypeError) as err:
        return target, None, f"the stored record could not be read ({err})"
    if stored.key != key:
        return target, None, "its key does not match"
    return target, stored, None


def adabn(experiment: str, *, profile: str = "ci", data_dir: str | os.PathLike | None = None,
          seed: int | None = None, results_dir: str | os.PathLike | None = None,
          progress: bool = True) -> Record:
    """The AdaBN record of one run of ``experiment``: loaded when current, else measured (after
    training the source, or retraining it when its checkpoint is not here)."""
    spec = get_experiment(experiment)
    config = spec.config(profile, **({} if seed is None else {"seed": seed}))
    identity = runner.data_identity(data_dir, image_size=config.image_size)
    _, stored, _ = locate_adabn(spec.name, identity, profile=profile, seed=config.seed,
                                results_dir=results_dir)
    if stored is not None:
        return stored
    source = runner.run(spec, profile=profile, data_dir=data_dir, seed=config.seed,
                        results_dir=results_dir, progress=progress)
    if not source.checkpoint_path.is_file():
        print(f"[adabn] {source.name}: its checkpoint is not here; training it again to "
              f"measure AdaBN", flush=True)
        source = runner.run(spec, profile=profile, data_dir=data_dir, seed=config.seed,
                            results_dir=results_dir, progress=progress, force=True)
    started = time.perf_counter()
    tests = _measure(source, data_dir)
    key = adabn_key(source)
    record = dataclasses.replace(
        source,
        name=_name(source, key),
        experiment=f"{source.experiment}-{_SUFFIX}", label=f"{source.label} + AdaBN", key=key,
        test={s: float(r.accuracy) for s, r in tests.items()},
        test_loss={s: float(r.loss) for s, r in tests.items()},
        predictions={s: [int(v) for v in r.predictions] for s, r in tests.items()},
        hardware=hardware(), versions=versions(),
        wall_time_s=float(time.perf_counter() - started),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        origin="measured: AdaBN on the source's checkpoint",
    )
    target = _path(source, key, Path(source.path).parent.parent)
    target.parent.mkdir(parents=True, exist_ok=True)
    return record.save(target)


def _measure(source: Record, data_dir: str | os.PathLike | None) -> dict[str, Any]:
    """{subset: SubsetResult} of ``source``'s network tested on each subset with BatchNorm
    statistics re-estimated on its training images seen through that subset."""
    bundle = runner.load_dataset(data_dir, image_size=source.config["image_size"], progress=False)
    if bundle.fingerprint != source.key["data"]:
        raise PosthocUnavailable(f"{source.name} was trained on data {source.key['data'][:12]}, "
                                 f"{bundle.name} is {bundle.fingerprint[:12]}")
    spec = get_experiment(source.experiment)
    train, _, test = runner.make_splits(bundle, spec.config(source.profile, seed=source.seed))
    model = source.load_model()
    tests = {}
    for subset in source.subsets:
        adapted = recalibrated(model, train, subset, batch_size=256, seed=source.seed)
        tests[subset] = evaluate(adapted, test, [subset], batch_size=256,
                                 class_names=bundle.class_names)[subset]
    return tests
