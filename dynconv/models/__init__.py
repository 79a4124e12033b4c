"""The networks: ResNets with a first layer from :mod:`dynconv.stems`, the Part II network and
its blocks, and the zoo that builds every model of the book by name.

- :mod:`~dynconv.models.resnet`: ResNet18/34 with the original study's stem (``PlainResNet``)
  and with a dynamic first layer (``DynamicStemResNet``), and the model-level channel sampler;
- :mod:`~dynconv.models.blocks`: squeeze-and-excitation, SAGAN self-attention and RRDB;
- :mod:`~dynconv.models.small_net`: Part II's two-to-four-layer network;
- :mod:`~dynconv.models.zoo`: one builder per model (torchvision's style) and ``build_model``.
"""
