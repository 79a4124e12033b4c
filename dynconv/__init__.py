"""dynconv: the shared package of the book *Dynamic Convolutions for Variable Input Channels*.

Every chapter imports from here; no chapter defines a model or a training loop. The folders
follow the study, lowest layer first; a module imports only from its own layer or lower ones
(``tests/test_layout.py``; the book's architecture page):

- base modules: ``channels`` (channel subsets, drop / zero-fill, the input-mode check),
  ``config`` (profiles), ``errors``, ``paths``, ``fileio`` (atomic writes, locks),
  ``provenance`` (JSON, hardware, versions), ``stats`` (intervals and paired tests);
- ``data/``: the original list format, the dataset's identity and decode cache, the built-in
  shapes;
- ``stems/``: the first layers, one file per design (v1 to v5, the CHAMMI four, the original's
  buggy v3) and the channel-sampling rule;
- ``models/``: ResNet18/34, the Part II network and its blocks, the zoo (build by name);
- ``evaluation/``: accuracy per subset and costs (parameters, FLOPs, memory, time);
- ``training/``: ``fit`` and its checkpoints, several GPUs under torchrun;
- ``experiments/``: the registry of every experiment, ``run`` (train or load, keyed by
  configuration, data content and code), the typed record, ``python -m
  dynconv.experiments.launch``;
- ``book/``: what the chapters call (tables, sentences, plots, widgets, the original's
  numbers); ``bench/``: the benchmark; ``booktools/``: the build and the site check. Nothing in
  the library imports these three.

The names below are what the README shows: ``from dynconv import build_model, run, ...``.
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
