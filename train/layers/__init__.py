"""Serialisable Keras layers of the detector (one per file); importing registers them with Keras."""

from train.layers.filter_bank import FilterBank
from train.layers.inception_block import InceptionBlock
from train.layers.input_scaling import InputScaling

__all__ = ["FilterBank", "InceptionBlock", "InputScaling"]
