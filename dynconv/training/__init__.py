"""Training: the loop and its checkpoints, on one device or several under torchrun.

- :mod:`~dynconv.training.loop`: ``fit`` (one-cycle or constant Adam, early stopping on the
  validation metric, atomic checkpoints that resume exactly), ``load_model``;
- :mod:`~dynconv.training.distributed`: DistributedDataParallel and the sharded loaders.
"""
