"""The networks: ResNets with a first layer from :mod:`dynconv.stems`, the Part II network and
its blocks, and the zoo that builds every model of the book by name.

- :mod:`~dynconv.models.resnet`: ResNet18/34 with the original study's stem (``PlainResNet``)
  and with a dynamic first layer (``DynamicStemResNet``), and the model-level channel sampler;
- :mod:`~dynconv.models.blocks`: squeeze-and-excitation, SAGAN self-attention and RRDB;
- :mod:`~dynconv.models.small_net`: the original study's Part II network (its two stems);
- :mod:`~dynconv.models.compact_net`: this book's Part II network (four convolutions, one
  attention + SE block);
- :mod:`~dynconv.models.switchable`: switchable BatchNorm, one BatchNorm per channel subset
  (Part III's ablation);
- :mod:`~dynconv.models.zoo`: one builder per model (torchvision's style) and ``build_model``.
"""
