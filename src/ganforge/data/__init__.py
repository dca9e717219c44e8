"""Datasets: built-in offline sets, image folders and StyleGAN zips, decoded once into uint8 tensors."""

from ganforge.data.dataset import DatasetError, ImageDataset, to_float, to_uint8
from ganforge.data.loader import BUILTIN, load_dataset
from ganforge.data.sampler import BatchSampler

__all__ = ["BUILTIN", "BatchSampler", "DatasetError", "ImageDataset", "load_dataset", "to_float", "to_uint8"]
