"""Train (or load) one experiment of the book from the command line.

::

    python -m dynconv.experiments.launch v5 --profile ci --seed 1 python -m
    dynconv.experiments.launch resnet18 --profile full --data-dir /data/mini-imagenet torchrun
    --nproc_per_node=2 -m dynconv.experiments.launch v5 --profile full     # one run, two GPUs
    CUDA_VISIBLE_DEVICES=1 python -m dynconv.experiments.launch v5 --seed 1 &        # one run per
    GPU

It calls :func:`dynconv.experiments.runner.run` (the record is trained, or loaded when its key
matches) and prints where the record is and its test accuracy on every channel subset. Under
``torchrun`` every process runs the same command and rank 0 prints (see
:mod:`dynconv.training.distributed`); several commands may share one results folder (see
:mod:`dynconv.experiments.runner`). An unknown experiment, profile or bad value exits with status 2
and the valid choices.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from dynconv.config import PROFILES
from dynconv.errors import DynconvError
from dynconv.experiments.registry import EXPERIMENTS
from dynconv.experiments.runner import run as run_experiment_by_name
from dynconv.training import distributed

__all__ = ["main", "parser"]


def parser() -> argparse.ArgumentParser:
    """The command line's arguments."""
    p = argparse.ArgumentParser(
        prog="python -m dynconv.experiments.launch",
        description="Train one experiment of dynconv.experiments.registry, or load its stored "
                    "record, "
                    "and print where the record is and its test accuracies.",
    )
    p.add_argument("experiment", help=f"one of: {', '.join(EXPERIMENTS)}")
    p.add_argument("--profile", default="ci", choices=sorted(PROFILES),
                   help="training profile (default: ci)")
    p.add_argument("--seed", type=int, default=None,
                   help="training seed (default: the profile's, the experiment's first)")
    p.add_argument("--data-dir", default=None,
                   help="dataset folder in the list format (default: the built-in shapes)")
    p.add_argument("--results-dir", default=None,
                   help="results folder (default: $DYNCONV_RESULTS_DIR or <book>/results)")
    p.add_argument("--force", action="store_true", help="train again even if a record matches")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    p = parser()
    args = p.parse_args(argv)
    if args.experiment not in EXPERIMENTS:
        p.error(f"unknown experiment {args.experiment!r}; valid: {', '.join(EXPERIMENTS)}")
    try:
        record = run_experiment_by_name(
            args.experiment, profile=args.profile, data_dir=args.data_dir, seed=args.seed,
            results_dir=args.results_dir, force=args.force, progress=not args.no_progress)
        main_rank = distributed.is_main()
    except DynconvError as err:
        p.exit(2, f"{p.prog}: error: {err}\n")
    finally:
        distributed.cleanup()
    if main_rank:
        accuracies = "  ".join(f"{s} {acc:.3f}" for s, acc in record.test.items())
        print(f"{record.experiment}, seed {record.seed}, profile {record.profile}: "
              f"{record.origin}")
        print(f"record: {record.path}")
        print(f"test accuracy: {accuracies}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
