"""Train or load: one call per experiment, one typed record per run, never a stale number.

:func:`run` is what a chapter calls (through :mod:`dynconv.book.chapter`): given an experiment of
:mod:`dynconv.experiments.registry`, a profile and a dataset, it returns the
:class:`~dynconv.experiments.records.Record`
of that run, trained now or loaded from ``book/results/<profile>/``.

**The key.** A stored record is reused only while everything that determines its numbers is
unchanged. Its key has three parts:

* ``config``: a hash of the model, its builder arguments, the training channels, the seed and
  every :class:`~dynconv.config.TrainConfig` field that changes results;
* ``data``: the dataset's content fingerprint (:func:`dynconv.data.datasets.data_identity`: for the
  built-in data the generator's version, seed and sizes; for a folder its list files and every
  image's size and modification time), computed without decoding a single image;
* ``code``: per part, a hash of the normalised syntax tree (:mod:`dynconv.experiments.keys`: no
  docstrings, comments or formatting) of the code that produced this run's numbers: the
  modules of the experiment's own model (every class in ``model.modules()`` and what its module
  imports), the data, training, sampling and evaluation path (this module and what it imports),
  the model's builder function in :mod:`dynconv.models.zoo` and, where the experiment stores one,
  its
  inspection function (:mod:`dynconv.experiments.inspection`). Build and site tooling, plots,
  widgets and
  chapters are not part of it (:func:`experiment_code_key`).

The file name holds the first two (``<experiment>-seed<seed>-<hash>.json``), so another
configuration or dataset never overwrites a record; the code digest is checked when the record
is read. A record whose key does not match is trained again, never shown, and the record says
why (:attr:`Record.origin`: "trained", "loaded", or "retrained: the code changed (stems/v4.py)");
:func:`locate` tells, without training, where a run's record is and whether it is current (the
book's build checks every record with it before any chapter runs).
The checkpoint beside it carries the same key, so a stale checkpoint is not resumed either.

**Concurrent runs.** Two processes may share one results folder (one run per GPU:
``CUDA_VISIBLE_DEVICES=1 python -m dynconv.experiments.launch v5 --seed 1``). Files are written
atomically,
and :func:`run_config` holds a lock on ``<name>.lock`` (:func:`dynconv.fileio.file_lock`) from
the check of the stored record to the writing of the new one, so two processes asked for the
same run do not both train it: the second waits, says so, then loads the first one's record.
Under ``torchrun`` (:mod:`dynconv.training.distributed`) rank 0 takes the lock and decides; every
rank
trains; rank 0 tests, measures and writes while the others wait, then read the record.

How this differs from the original study: the original trained inside each notebook and kept
the best weights in memory, so every number in its report came from a run that can no longer be
inspected.

Explained in chapters ``02_baseline`` (one experiment) and ``07_ablation`` (many records).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dynconv.channels import ALL_SUBSETS, ChannelSubset, parse_channels
from dynconv.config import TrainConfig, get_config
from dynconv.data.datasets import (
    DataIdentity,
    DatasetBundle,
    ImageSplit,
    data_identity,
    load_dataset,
    make_loader,
)
from dynconv.errors import ConfigError
from dynconv.evaluation.costs import measure_costs
from dynconv.evaluation.evaluate import evaluable_subsets, evaluate
from dynconv.experiments.inspection import INSPECTIONS, inspect_model
from dynconv.experiments.keys import (
    MODEL_LAYER,
    TRAINING_PATH,
    function_digest,
    model_modules,
    module_closure,
    module_digest,
    stale_reason,
)
from dynconv.experiments.records import Record
from dynconv.experiments.registry import ExperimentSpec, get_experiment
from dynconv.fileio import atomic_write_json, file_lock, read_json
from dynconv.models.zoo import build_model, builder
from dynconv.paths import resolve_results_dir
from dynconv.provenance import config_fingerprint, to_jsonable
from dynconv.training import distributed
from dynconv.training.loop import fit, load_checkpoint

__all__ = [
    "EVAL_SPLIT_SEED", "code_digest", "experiment_code_key", "experiment_modules", "find_record",
    "load_records", "locate", "make_splits", "run", "run_config", "run_experiment", "run_key",
    "run_seeds",
]

# fit's per-epoch callback: (epoch, max_epochs, history row).
EpochCallback = Callable[[int, int, Mapping[str, float]], None]
# Validation and test images are drawn with this seed whatever the training seed, so that every
# run of a profile is tested on the same images (paired tests need that).
EVAL_SPLIT_SEED = 0


def code_digest(modules: Iterable[str]) -> dict[str, Any]:
    """{"code": digest of all, "modules": {module: digest of its normalised syntax tree}}."""
    digests = {name: module_digest(name) for name in sorted(modules)}
    return {"code": config_fingerprint(digests, length=16), "modules": digests}


@functools.cache
def _model_modules(model: str, kwargs_json: str) -> frozenset[str]:
    with torch.random.fork_rng(devices=[]):  # building draws initial weights: not the caller's
        net = build_model(model, num_classes=2, **json.loads(kwargs_json))
    return frozenset(model_modules(net))


def experiment_modules(model: str, model_kwargs: Mapping[str, Any] | None = None) -> list[str]:
    """The modules whose code produced a record of ``model``: the training path and the
    model's own modules, each with what it imports (:mod:`dynconv.experiments.keys`)."""
    kwargs_json = json.dumps(to_jsonable(dict(model_kwargs or {})), sort_keys=True)
    training_path = module_closure(TRAINING_PATH, stop=MODEL_LAYER)
    return sorted(training_path | module_closure(_model_modules(model, kwargs_json)))


def experiment_code_key(model: str, model_kwargs: Mapping[str, Any] | None = None,
                        inspect: str | None = None) -> dict[str, Any]:
    """The code part of a run's key: {"code": digest, "modules": {part: digest}}.

    Parts: every module of :func:`experiment_modules`, the zoo's builder of ``model``
    (``"builder:<model>"``) and, when the experiment stores one, its inspection function
    (``"inspection:<name>"``, :mod:`dynconv.experiments.inspection`).
    """
    digests = code_digest(experiment_modules(model, model_kwargs))["modules"]
    digests[f"builder:{model}"] = function_digest(builder(model))
    if inspect is not None:
        digests[f"inspection:{inspect}"] = function_digest(INSPECTIONS[inspect])
    return {"code": config_fingerprint(digests, length=16), "modules": digests}


def run(
    experiment: str | ExperimentSpec,
    *,
    profile: str = "ci",
    data_dir: str | os.PathLike | None = None,
    seed: int | None = None,
    results_dir: str | os.PathLike | None = None,
    force: bool = False,
    progress: bool = True,
    on_epoch: EpochCallback | None = None,
) -> Record:
    """The record of one registry experiment (trained now, or loaded when its key matches).

    ``seed=None`` uses the profile's seed (the experiment's first); see
    :meth:`ExperimentSpec.seeds` for the others. ``on_epoch`` goes to
    :func:`dynconv.training.loop.fit`.
    """
    spec = get_experiment(experiment)
    overrides = {} if seed is None else {"seed": seed}
    config = spec.config(profile, **overrides)
    return run_config(
        spec.model, config, data_dir=data_dir, train_channels=spec.train_channels,
        model_kwargs=spec.build_kwargs(config.profile), experiment=spec.name, label=spec.label,
        results_dir=results_dir, force=force, progress=progress, inspect=spec.inspect,
        on_epoch=on_epoch,
    )


def run_seeds(experiment: str | ExperimentSpec, *, profile: str = "ci", **kwargs: Any
              ) -> list[Record]:
    """The records of every seed the book runs for ``experiment`` (see ``num_seeds``)."""
    spec = get_experiment(experiment)
    return [run(spec, profile=profile, seed=s, **kwargs) for s in spec.seeds(profile)]


def run_experiment(
    model: str,
    *,
    profile: str = "ci",
    data_dir: str | os.PathLike | None = None,
    train_channels: str | ChannelSubset = "RGB",
    model_kwargs: Mapping[str, Any] | None = None,
    results_dir: str | os.PathLike | None = None,
    force: bool = False,
    progress: bool = True,
    **overrides: Any,
) -> Record:
    """An ad-hoc experiment (not in the registry): ``model`` with ``overrides`` of the profile.

    >>> record = run_experiment("v4", model_kwargs={"drop_mode": "sample"}, max_epochs=1)
    ... # doctest: +SKIP
    """
    config = get_config(profile, **overrides)
    # "adhoc-": never the same file as a registry experiment of the same configuration
    return run_config(model, config, data_dir=data_dir, train_channels=train_channels,
                      model_kwargs=model_kwargs, experiment=f"adhoc-{model}", label=model,
                      results_dir=results_dir, force=force, progress=progress)


def run_config(
    model: str,
    config: TrainConfig,
    *,
    data_dir: str | os.PathLike | None = None,
    train_channels: str | ChannelSubset = "RGB",
    model_kwargs: Mapping[str, Any] | None = None,
    experiment: str | None = None,
    label: str | None = None,
    results_dir: str | os.PathLike | None = None,
    force: bool = False,
    progress: bool = True,
    inspect: str | None = None,
    on_epoch: EpochCallback | None = None,
) -> Record:
    """Train, evaluate on every subset and record ``model`` under ``config``, or load the record.

    Loading needs no image: the key is checked against
    :func:`dynconv.data.datasets.data_identity`. The
    checkpoint ``<name>.pt`` beside the record lets an interrupted run resume; ``force=True``
    deletes record and checkpoint first. A current record is returned without any lock;
    otherwise the run's lock (``<name>.lock``) is held while the record is checked again,
    trained and written, so that another process asked for the same run waits for it and
    then loads it. Under torchrun every rank calls this (see the module docstring).
    """
    subset = parse_channels(train_channels)
    kwargs = dict(sorted((model_kwargs or {}).items()))
    experiment = experiment or model
    env, _ = distributed.setup(config.device)  # (None, device) outside torchrun
    identity = data_identity(data_dir, image_size=config.image_size)
    key = run_key(model, kwargs, subset, config, identity, inspect=inspect)
    record_path = _record_path(results_dir, config, experiment, key)
    name, out_dir = record_path.stem, record_path.parent
    ckpt_path = out_dir / f"{name}.pt"
    main = env is None or env.is_main

    if env is None and not force and record_path.exists():  # the usual case: no lock needed
        stored, stale = _read_stored(record_path, key)  # the JSON is read once
        if stale is None:
            return stored
    lock = (file_lock(out_dir / f"{name}.lock",
                      waiting=f"another process is training {experiment}, seed {config.seed}")
            if main else contextlib.nullcontext())
    with lock:
        stored, origin = _check_stored(record_path, ckpt_path, key, force) if main else (None, "")
        # under torchrun, rank 0 decides for every rank: ("loaded" or "trained..."), after
        # deleting a stale record and checkpoint
        origin = distributed.broadcast_object(origin) if env is not None else origin
        if origin.startswith("loaded"):
            return stored if stored is not None else Record.load(record_path, origin=origin)

        bundle = load_dataset(data_dir, image_size=config.image_size, progress=progress and main)
        if bundle.fingerprint != identity.fingerprint:  # data changed between the two calls
            raise ConfigError(f"the dataset {bundle.name} changed while the run started; "
                              f"run again")
        return _train_and_record(
            model, kwargs, subset, config, bundle, key=key, name=name, experiment=experiment,
            label=label or experiment, record_path=record_path, ckpt_path=ckpt_path,
            origin=origin, progress=progress and main, inspect=inspect, on_epoch=on_epoch,
        )


def _record_path(results_dir: str | os.PathLike | None, config: TrainConfig, experiment: str,
                 key: Mapping[str, Any]) -> Path:
    """``<results>/<profile>/<experiment>-seed<seed>-<hash of config and data>.json``."""
    name = f"{experiment}-seed{config.seed}-{key['config_and_data']}"
    return resolve_results_dir(results_dir) / config.profile / f"{name}.json"


def locate(experiment: str | ExperimentSpec, *, profile: str = "ci",
           data_dir: str | os.PathLike | None = None, seed: int | None = None,
           results_dir: str | os.PathLike | None = None) -> tuple[Path, str | None]:
    """Where :func:`run` keeps this run's record, and None when a current record is there,
    else why :func:`run` would train (no image is decoded, nothing is trained)."""
    spec = get_experiment(experiment)
    image_size = spec.config(profile).image_size
    path, _, why = find_record(spec, data_identity(data_dir, image_size=image_size),
                               profile=profile, seed=seed, results_dir=results_dir)
    return path, why


def find_record(
    experiment: str | ExperimentSpec,
    identity: DataIdentity,
    *,
    profile: str = "ci",
    seed: int | None = None,
    results_dir: str | os.PathLike | None = None,
) -> tuple[Path, Record | None, str | None]:
    """:func:`locate` for data known by its identity (the data need not be on this machine):
    (where the record is, the record when it is current, else None and why it is not)."""
    spec = get_experiment(experiment)
    config = spec.config(profile, **({} if seed is None else {"seed": seed}))
    kwargs = dict(sorted(spec.build_kwargs(config.profile).items()))
    key = run_key(spec.model, kwargs, parse_channels(spec.train_channels), config, identity,
                  inspect=spec.inspect)
    path = _record_path(results_dir, config, spec.name, key)
    if not path.exists():
        return path, None, "no stored record"
    return path, *_read_stored(path, key)  # the JSON is read once, kept when current


def _check_stored(record_path: Path, ckpt_path: Path, key: Mapping[str, Any], force: bool
                  ) -> tuple[Record | None, str]:
    """(the stored record, "loaded: ...") when it is current; else (None, why it is trained),
    after deleting a stale record and a checkpoint of another key."""
    origin, discard = "trained: no stored record", force
    if force:
        origin = "trained: force=True"
    elif record_path.exists():
        stored, stale = _read_stored(record_path, key)
        if stale is None:
            return stored, stored.origin
        origin, discard = f"retrained: {stale}", True
    if discard or _checkpoint_is_stale(ckpt_path, key):
        for path in (record_path, ckpt_path):
            path.unlink(missing_ok=True)
    return None, origin


def run_key(model: str, kwargs: Mapping[str, Any], subset: ChannelSubset, config: TrainConfig,
            identity: DataIdentity, *, inspect: str | None = None) -> dict[str, Any]:
    """The key of a run: config and data hashes (in the file name) and the code digest of
    what produced it (:func:`experiment_code_key`)."""
    config_part = {"model": model, "model_kwargs": dict(kwargs), "train_channels": subset.name,
                   "config": config.fingerprint_dict()}
    config_hash = config_fingerprint(config_part, length=16)
    code = experiment_code_key(model, kwargs, inspect)
    return {
        "config": config_hash,
        "data": identity.fingerprint,
        "config_and_data": config_fingerprint([config_hash, identity.fingerprint], length=10),
        "code": code["code"],
        "modules": code["modules"],
    }


def _read_stored(record_path: Path, key: Mapping[str, Any]) -> tuple[Record | None, str | None]:
    """(the stored record, None) when its key equals ``key``; else (None, why it is stale)."""
    try:
        stored = Record.load(record_path, origin="loaded: its key matches")
    except (ConfigError, ValueError, KeyError, TypeError) as err:
        return None, f"the stored record could not be read ({err})"
    if stored.key == dict(key):
        return stored, None
    return None, stale_reason(stored.key, key)


def _checkpoint_is_stale(path: Path, key: Mapping[str, Any]) -> bool:
    if not path.exists():
        return False
    try:
        return load_checkpoint(path).get("run_key") != dict(key)
    except Exception:  # unreadable: start afresh
        return True


def make_splits(bundle: DatasetBundle, config: TrainConfig
                ) -> tuple[ImageSplit, ImageSplit, ImageSplit]:
    """The (train, val, test) splits a run with ``config`` uses.

    Training images: a per-class subsample seeded by ``config.seed``. Validation and test
    images: per-class subsamples seeded by :data:`EVAL_SPLIT_SEED`, the same for every seed.
    """
    train, val, test = bundle.train, bundle.val, bundle.test
    if config.max_train_per_class is not None:
        train = train.subset_per_class(config.max_train_per_class, seed=config.seed)
    if config.max_val_per_class is not None:
        val = val.subset_per_class(config.max_val_per_class, seed=EVAL_SPLIT_SEED)
    if config.max_test_per_class is not None:
        test = test.subset_per_class(config.max_test_per_class, seed=EVAL_SPLIT_SEED)
    return train, val, test


def _train_and_record(model: str, kwargs: dict[str, Any], subset: ChannelSubset,
                      config: TrainConfig, bundle: DatasetBundle, *, key: dict[str, Any],
                      name: str, experiment: str, label: str, record_path: Path,
                      ckpt_path: Path, origin: str, progress: bool,
                      inspect: str | None = None, on_epoch: EpochCallback | None = None
                      ) -> Record:
    train, val, test = make_splits(bundle, config)
    # Workers and pinned memory for the training batches on a GPU (none on a CPU); validation
    # is read in this process (seven passes an epoch for val_subsets="all" would start the
    # workers seven times).
    settings = config.resolved()
    train_loader = make_loader(train, batch_size=config.batch_size, shuffle=True,
                               seed=config.seed, num_workers=settings["num_workers"],
                               pin_memory=settings["pin_memory"])
    val_loader = make_loader(val, batch_size=config.batch_size, shuffle=False, seed=config.seed,
                             pin_memory=settings["pin_memory"])

    torch.manual_seed(config.seed)  # the model's initial weights
    net = build_model(model, num_classes=bundle.num_classes, **kwargs)
    subsets = evaluable_subsets(net, ALL_SUBSETS)
    if subset not in evaluable_subsets(net, [subset]):
        supported = ", ".join(s.name for s in subsets) or "nothing"
        raise ConfigError(f"model {model!r} cannot take {subset.name} as input; it supports "
                          f"{supported}")

    t0 = time.perf_counter()
    result = fit(net, train_loader, val_loader, config, train_channels=subset,
                 checkpoint_path=ckpt_path, progress=progress, run_key=key,
                 desc=f"{experiment}, seed {config.seed}", on_epoch=on_epoch)
    if not distributed.is_main():  # rank 0 tests, measures and writes; the others read
        distributed.barrier()
        return Record.load(record_path, origin=origin)
    tests = evaluate(net, test, subsets, batch_size=max(config.batch_size, 256),
                     device=result.device, progress=False, class_names=bundle.class_names)
    wall_time = time.perf_counter() - t0
    costs = _measure_costs(net, cache_dir=record_path.parent / "costs", code=key["code"],
                           image_size=config.image_size, batch_size=config.batch_size,
                           channels=subset, device=result.device)
    inspection = inspect_model(inspect, net.to("cpu"), test, config.seed)
    record = Record.from_fit(
        result, tests, wall_time_s=wall_time,
        name=name, experiment=experiment, label=label, model=model, profile=config.profile,
        seed=config.seed,
        config={**config.to_dict(), "model_kwargs": kwargs, "train_channels": subset.name},
        key=key,
        data={
            "name": bundle.name,
            "fingerprint": bundle.fingerprint,
            "root": str(bundle.root),
            "image_size": bundle.image_size,
            "num_classes": bundle.num_classes,
            "class_names": list(bundle.class_names),
            # which test images, so that two records can be paired image by image
            "test_split": {"max_test_per_class": config.max_test_per_class,
                           "seed": EVAL_SPLIT_SEED, "size": len(test)},
            # sizes after make_splits' per-class subsampling, and before
            "sizes": {"train": len(train), "val": len(val), "test": len(test)},
            "full_sizes": {"train": len(bundle.train), "val": len(bundle.val),
                           "test": len(bundle.test)},
        },
        checkpoint=ckpt_path.name, costs=to_jsonable(costs), inspection=to_jsonable(inspection),
        origin=origin,
    )
    record = record.save(record_path)
    distributed.barrier()  # under torchrun: the other ranks may read it now
    return record


def _measure_costs(model: nn.Module, *, cache_dir: Path, code: str, **kwargs: Any
                   ) -> dict[str, Any]:
    """dynconv.evaluation.costs.measure_costs, measured once per architecture and setting.

    Costs do not depend on the trained weights, so the seeds of one experiment and the plain
    ResNet18s trained on different subsets (a zero-filled input always has 3 channels) share
    one measurement, stored in ``cache_dir`` under a key of the model's build spec, the
    settings and the code digest (about 6 s saved per training on a 2-core CPU). ``code`` is
    the run key's code digest.
    """
    channels = kwargs.get("channels")
    if getattr(model, "input_mode", None) == "zero":
        channels = "zero-filled"  # every subset costs the same
    key = config_fingerprint({"model": getattr(model, "build_spec", repr(model)),
                              "settings": {**kwargs, "channels": str(channels),
                                           "device": str(kwargs.get("device"))},
                              "code": code}, length=16)
    path = Path(cache_dir) / f"{key}.json"
    if path.is_file():
        costs = read_json(path)
    else:
        costs = to_jsonable(measure_costs(model, **kwargs))
        atomic_write_json(path, costs)
    return {**costs, "channels": parse_channels(kwargs["channels"]).name}


def load_records(profile: str = "ci", results_dir: str | os.PathLike | None = None
                 ) -> list[Record]:
    """Every current-format record under ``<results_dir>/<profile>/``, sorted by name.

    Records written by older code (another format) are skipped with a warning. Whether a
    record's key still matches is checked by :func:`run`, not here.
    """
    folder = resolve_results_dir(results_dir) / profile
    records = []
    for path in sorted(folder.glob("*.json")):
        try:
            records.append(Record.load(path, origin="loaded"))
        except (ConfigError, ValueError, KeyError, TypeError) as err:
            warnings.warn(f"skipping {path.name}: {err}", stacklevel=2)
    return records
