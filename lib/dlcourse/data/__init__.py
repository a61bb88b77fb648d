"""Datasets that work offline, plus CIFAR-10 when it is on disk, and torch loaders.

Everything generated or downloaded lives in `cache_dir()` ($DLCOURSE_DATA, else the user's
cache folder). X arrays are float32, labels int64.
"""

from __future__ import annotations

from dlcourse.data.cache import DatasetUnavailable, Splits, cache_dir
from dlcourse.data.cifar import cifar10_available, download_cifar10, load_cifar10
from dlcourse.data.detection import make_detection_canvas, make_segmentation_canvas
from dlcourse.data.images import load_digits, load_mnist1d, load_photo, mnist1d_cached
from dlcourse.data.loaders import make_loader
from dlcourse.data.synthetic import make_blobs, make_moons, make_spirals
from dlcourse.data.text import CharVocab, load_text_corpus
from dlcourse.data.toy2d import make_ring_of_gaussians, ring_centers

__all__ = [
    "CharVocab", "DatasetUnavailable", "Splits", "cache_dir", "cifar10_available", "dataset_status",
    "download_cifar10", "load_cifar10", "load_digits", "load_mnist1d", "load_photo", "load_text_corpus",
    "make_blobs", "make_detection_canvas", "make_loader", "make_moons", "make_ring_of_gaussians", "make_segmentation_canvas",
    "make_spirals", "ring_centers",
]


def dataset_status() -> dict[str, str]:
    """Each dataset's state: 'available offline', 'cached' (built or downloaded before) or 'needs download'."""
    offline = "available offline"
    return {
        "digits": offline,
        "mnist1d": "cached" if mnist1d_cached() else offline,
        "spirals/moons/blobs/ring": offline,
        "detection canvas": offline,
        "text corpus": offline,
        "photo": offline,
        "cifar10": "cached" if cifar10_available() else "needs download",
    }
