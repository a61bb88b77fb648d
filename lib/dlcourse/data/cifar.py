"""CIFAR-10 from the official python-pickle tarball: checksummed, atomic download; clear errors offline."""

from __future__ import annotations

import hashlib
import http.client
import os
import pickle
import tarfile
import tempfile
import urllib.request
import zlib
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from dlcourse.data.cache import DatasetUnavailable, Splits, cache_dir

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
TARBALL = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
_CHUNK = 1 << 20


def _root(root: str | os.PathLike | None) -> Path:
    return Path(root).expanduser() if root is not None else cache_dir() / "cifar10"


def _how_to_get(root: Path) -> str:
    return (
        "To get CIFAR-10 (170 MB, once), run in Python:\n"
        "    from dlcourse.data import load_cifar10; load_cifar10(download=True)\n"
        f"or download {CIFAR10_URL} yourself and put it in {root}/ "
        "(or pass root=..., or set DLCOURSE_DATA).\n"
        "Offline, use `load_digits()` (8x8 digits, always available) instead."
    )


def cifar10_available(root: str | os.PathLike | None = None) -> bool:
    """True when the CIFAR-10 tarball (or its extracted folder) is on disk."""
    folder = _root(root)
    return (folder / TARBALL).is_file() or (folder / FOLDER / "test_batch").is_file()


def download_cifar10(
    root: str | os.PathLike | None = None, url: str | None = None, md5: str | None = None, timeout: float = 60.0
) -> Path:
    """Fetch the tarball into `root`, verify its md5 and only then move it into place.

    The bytes stream into a temp file in the same folder, which is renamed (os.replace) when
    whole and correct, and deleted on any failure: no partial file is ever left.
    Returns the path of the tarball. Raises DatasetUnavailable on a network or checksum error.
    """
    folder = _root(root)
    url, md5 = url or CIFAR10_URL, md5 or CIFAR10_MD5
    folder.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=folder, prefix=f".{TARBALL}.", suffix=".part")
    try:
        digest, received = hashlib.md5(), 0
        with os.fdopen(handle, "wb") as file, urllib.request.urlopen(url, timeout=timeout) as response:
            expected_size = int(response.headers.get("Content-Length") or -1)
            with tqdm(total=max(expected_size, 0) or None, unit="B", unit_scale=True, desc="CIFAR-10") as bar:
                while chunk := response.read(_CHUNK):
                    file.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if expected_size >= 0 and received != expected_size:
            raise DatasetUnavailable(
                f"The CIFAR-10 download stopped early ({received} of {expected_size} bytes); try again.\n"
                + _how_to_get(folder)
            )
        if digest.hexdigest() != md5:
            raise DatasetUnavailable(
                f"The CIFAR-10 download is corrupt (md5 {digest.hexdigest()}, expected {md5}); "
                "it was deleted, try again.\n" + _how_to_get(folder)
            )
        os.replace(temp, folder / TARBALL)
    except BaseException as error:
        Path(temp).unlink(missing_ok=True)
        if isinstance(error, (OSError, http.client.HTTPException)):  # no network, timeout, cut off
            raise DatasetUnavailable(
                f"Could not download CIFAR-10 from {url}: {error}.\n" + _how_to_get(folder)
            ) from error
        raise
    return folder / TARBALL


def _read_batches(folder: Path) -> dict[str, dict]:
    """The seven pickles (data_batch_1..5, test_batch, batches.meta) by name, from tarball or folder."""
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
    extracted = folder / FOLDER
    if (extracted / "test_batch").is_file():
        return {name: pickle.loads((extracted / name).read_bytes(), encoding="bytes") for name in names}
    with tarfile.open(folder / TARBALL, "r:gz") as tar:
        return {name: pickle.load(tar.extractfile(f"{FOLDER}/{name}"), encoding="bytes") for name in names}


def _images(batch: dict) -> np.ndarray:
    """(N, 3072) uint8 rows (R plane, G plane, B plane) -> (N, 32, 32, 3) float32 in [0, 1]."""
    data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    return data.transpose(0, 2, 3, 1).astype(np.float32) / np.float32(255.0)


def load_cifar10(root: str | os.PathLike | None = None, download: bool = False) -> Splits:
    """CIFAR-10: 60 000 colour images of 10 classes (train 45 000 / val 5 000 / test 10 000).

    root: the folder holding cifar-10-python.tar.gz (default: <cache dir>/cifar10).
    download: fetch it first when missing (needs the network, 170 MB).
    X: (N, 32, 32, 3) float32 in [0, 1] (about 740 MB in all); y: (N,) int64 in 0..9.
    Raises DatasetUnavailable, saying how to get it, when the data is missing or damaged.
    """
    folder = _root(root)
    if not cifar10_available(folder):
        if not download:
            raise DatasetUnavailable(f"CIFAR-10 is not on disk (looked in {folder}).\n" + _how_to_get(folder))
        download_cifar10(folder)
    try:
        batches = _read_batches(folder)
    except (tarfile.TarError, EOFError, zlib.error, pickle.UnpicklingError, KeyError, OSError) as error:
        raise DatasetUnavailable(
            f"The CIFAR-10 file in {folder} is damaged ({type(error).__name__}: {error}); "
            f"delete {folder / TARBALL} and get it again.\n" + _how_to_get(folder)
        ) from error
    train = [batches[f"data_batch_{i}"] for i in range(1, 6)]
    X = np.concatenate([_images(batch) for batch in train])
    y = np.concatenate([np.asarray(batch[b"labels"], dtype=np.int64) for batch in train])
    num_val = len(X) // 10  # the last 10% of the training images (5000) validate
    test = batches["test_batch"]
    class_names = [name.decode() for name in batches["batches.meta"][b"label_names"]]
    return Splits(
        X[:-num_val], y[:-num_val], X[-num_val:], y[-num_val:],
        _images(test), np.asarray(test[b"labels"], dtype=np.int64), class_names,
    )
