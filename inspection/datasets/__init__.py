"""Detection datasets in YOLO, COCO or Pascal VOC, read into one form, with every bad item named.

>>> from inspection.datasets import load_dataset, dataset_stats
>>> dataset = load_dataset("path/to/dataset")          # format detected
>>> dataset_stats(dataset)["classes"]
"""
from inspection.datasets.loader import dataset_stats, load_dataset
from inspection.datasets.types import (
    FORMATS, Box, ClassResolver, Dataset, DatasetError, ImageRecord, Skipped, normalise_class_name,
)
from inspection.datasets.writers import assign_splits, reproducible_order, write_coco, write_yolo

__all__ = [
    "FORMATS", "Box", "ClassResolver", "Dataset", "DatasetError", "ImageRecord", "Skipped",
    "assign_splits", "dataset_stats", "load_dataset", "normalise_class_name", "reproducible_order", "write_coco",
    "write_yolo",
]
