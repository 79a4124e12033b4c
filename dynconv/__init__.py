"""dynconv: the shared package of the book *Dynamic Convolutions for Variable Input Channels*.

Every chapter imports from here; no chapter defines a model or a training loop. The modules,
one concept each:

- data: ``channels`` (channel subsets, drop / zero-fill), ``data`` (the original list format,
  validation, decoding cache), ``shapes`` (the built-in dataset);
- models: ``resnet`` (ResNet18/34 with the original stem), ``stems`` (v1-v4 first layers),
  ``blocks`` (SE, SAGAN attention, RRDB), ``small_net`` (Part II), ``zoo`` (build by name),
  ``errata`` (the original's bugs, kept for demonstration);
- training: ``config`` (profiles), ``train`` (fit), ``distributed`` (several GPUs under
  torchrun), ``evaluate``, ``costs`` (params, FLOPs, memory, time);
- results: ``registry`` (every experiment of the book, declared once), ``experiment`` (train
  or load, keyed by configuration, data content and code), ``records`` (the typed record),
  ``stats`` (intervals and paired tests), ``results`` (JSON, hardware, versions), ``paths``
  and ``fileio`` (where things live, atomic writes, locks); ``python -m
  dynconv.experiments.launch`` trains
  or loads one experiment from a shell;
- the book: ``chapter`` (what every chapter does first), ``tables`` (pure tables and
  sentences), ``plots``, ``widgets``, ``reported`` (the original study's numbers).

The build and site tooling lives in ``dynconv.booktools``, which nothing here imports.

``dynconv.evaluation.costs`` imports calflops (and with it transformers), which is slow: import it
explicitly where needed.
"""

from dynconv.channels import ALL_SUBSETS, RGB, ChannelSubset, apply_subset, parse_channels
from dynconv.config import PROFILES, TrainConfig, get_config
from dynconv.data.datasets import (
    DatasetBundle,
    ImageSplit,
    load_dataset,
    make_loader,
    read_split_list,
)
from dynconv.errors import ChannelSubsetError, ConfigError, DatasetError, DynconvError
from dynconv.evaluation.evaluate import evaluate
from dynconv.experiments.records import Record
from dynconv.experiments.registry import EXPERIMENTS, get_experiment
from dynconv.experiments.runner import load_records, run, run_experiment
from dynconv.models.zoo import MODEL_NAMES, build_model
from dynconv.training.loop import fit, load_model

__version__ = "0.1.0"

__all__ = [
    "ALL_SUBSETS",
    "EXPERIMENTS",
    "MODEL_NAMES",
    "PROFILES",
    "RGB",
    "ChannelSubset",
    "ChannelSubsetError",
    "ConfigError",
    "DatasetBundle",
    "DatasetError",
    "DynconvError",
    "ImageSplit",
    "Record",
    "TrainConfig",
    "apply_subset",
    "build_model",
    "evaluate",
    "fit",
    "get_config",
    "get_experiment",
    "load_dataset",
    "load_model",
    "load_records",
    "make_loader",
    "parse_channels",
    "read_split_list",
    "run",
    "run_experiment",
]
