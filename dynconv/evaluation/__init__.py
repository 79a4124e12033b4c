"""What a trained network is measured by: accuracy per channel subset, and its costs.

- :mod:`~dynconv.evaluation.evaluate`: accuracy, loss, confusion matrix and per-class report
  on every channel subset a model takes;
- :mod:`~dynconv.evaluation.costs`: parameters, FLOPs (counted by ``FlopCounterMode`` and by
  calflops, the original's tool), peak memory, and training and inference time measured side
  by side in one interleaved loop.

The intervals and paired tests on those accuracies are :mod:`dynconv.stats` (a base module:
records and chapters use them too).
"""
