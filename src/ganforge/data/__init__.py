"""Datasets: built-in offline sets, image folders and StyleGAN zips, decoded once into uint8 tensors; SR pairs."""

from ganforge.data.dataset import DatasetError, ImageDataset, to_float, to_uint8
from ganforge.data.loader import BUILTIN, load_dataset
from ganforge.data.sampler import BatchSampler
from ganforge.data.sr_pairs import BUILTIN_HR, SRPairSampler, load_hr_images

__all__ = ["BUILTIN", "BUILTIN_HR", "BatchSampler", "DatasetError", "ImageDataset", "SRPairSampler", "load_dataset",
           "load_hr_images", "to_float", "to_uint8"]
