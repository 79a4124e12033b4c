"""The benchmark: every first layer's cost as a ratio to ResNet18, the batching tricks, the
attention paths and the loader, measured side by side in one run
(``python -m dynconv.bench.benchmark``; :mod:`~dynconv.bench.benchmark`).
"""
