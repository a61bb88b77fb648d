"""dlcourse.data: offline datasets, the cache, loaders, and CIFAR-10 against a fake tarball."""

import hashlib
import http.server
import io
import pickle
import random
import tarfile
import threading
import urllib.error

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from dlcourse import data
from dlcourse.data import cache, cifar, images


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("DLCOURSE_DATA", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_cache_dir_follows_env_then_xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("DLCOURSE_DATA", str(tmp_path / "mine"))
    assert data.cache_dir() == tmp_path / "mine" and (tmp_path / "mine").is_dir()
    monkeypatch.delenv("DLCOURSE_DATA")
    monkeypatch.setattr(cache.sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.cache_dir() == tmp_path / "xdg" / "dlcourse"


def test_atomic_save_leaves_nothing_on_failure(tmp_path, monkeypatch):
    def broken_savez(file, **arrays):
        file.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(cache.np, "savez", broken_savez)
    with pytest.raises(OSError):
        cache.save_npz_atomic(tmp_path / "x.npz", a=np.zeros(3))
    assert list(tmp_path.iterdir()) == []


def test_digits_splits():
    splits = data.load_digits()
    assert splits.X_train.shape == (1197, 8, 8) and splits.X_val.shape == (300, 8, 8)
    assert splits.X_test.shape == (300, 8, 8) and splits.y_test.shape == (300,)
    assert splits.X_train.dtype == np.float32 and splits.y_train.dtype == np.int64
    assert splits.X_train.min() == 0.0 and splits.X_train.max() == 1.0
    assert splits.class_names == [str(d) for d in range(10)]
    assert set(np.bincount(splits.y_test)) <= {29, 30, 31}  # stratified
    np.testing.assert_array_equal(data.load_digits().X_val, splits.X_val)
    assert "train (1197, 8, 8)" in repr(splits)
    with pytest.raises(AttributeError):
        splits.X_train = None  # frozen


def test_mnist1d_built_once_then_read_from_cache(data_dir, monkeypatch):
    from mnist1d.data import get_dataset_args, make_dataset

    random.seed(5)
    np.random.seed(5)
    expected_next = (random.random(), np.random.rand())
    random.seed(5)
    np.random.seed(5)
    assert data.dataset_status()["mnist1d"] == "available offline"
    splits = data.load_mnist1d()
    assert (random.random(), np.random.rand()) == expected_next  # caller's random streams untouched
    assert splits.X_train.shape == (3500, 40) and splits.X_val.shape == (500, 40)
    assert splits.X_test.shape == (1000, 40) and splits.y_train.dtype == np.int64
    assert splits.X_train.dtype == np.float32
    reference = make_dataset(get_dataset_args())
    np.testing.assert_allclose(splits.X_val, reference["x"][3500:], rtol=1e-6)
    np.testing.assert_array_equal(splits.y_test, reference["y_test"])
    assert [p.name for p in data_dir.iterdir()] == [images.MNIST1D_FILE]
    assert data.dataset_status()["mnist1d"] == "cached"

    monkeypatch.setattr(images, "_build_mnist1d", lambda: pytest.fail("rebuilt instead of cached"))
    np.testing.assert_array_equal(data.load_mnist1d().X_train, splits.X_train)


@pytest.mark.parametrize("make", [data.make_spirals, data.make_moons, data.make_blobs])
def test_synthetic_sets_are_seeded_float32_points(make):
    X, y = make(seed=1)
    assert X.ndim == 2 and X.shape[1] == 2 and X.dtype == np.float32
    assert y.shape == (len(X),) and y.dtype == np.int64
    np.testing.assert_array_equal(make(seed=1)[0], X)
    assert not np.array_equal(make(seed=2)[0], X)


def test_synthetic_sizes_and_classes():
    X, y = data.make_spirals(num_per_class=50, num_classes=4)
    assert X.shape == (200, 2) and np.bincount(y).tolist() == [50] * 4
    assert data.make_moons(num_samples=120)[0].shape == (120, 2)
    _, y = data.make_blobs(num_samples=90, num_classes=5)
    assert sorted(set(y.tolist())) == list(range(5))


def test_spirals_need_a_nonlinear_classifier():
    X, y = data.make_spirals()
    linear = LogisticRegression().fit(X, y).score(X, y)
    neighbours = KNeighborsClassifier(5).fit(X, y).score(X, y)
    assert linear < 0.7 < 0.9 < neighbours


@pytest.mark.parametrize("objects", ["shapes", "digits"])
def test_detection_canvas(objects):
    images_, boxes, labels, names = data.make_detection_canvas(30, size=48, max_objects=3, seed=4, objects=objects)
    assert images_.shape == (30, 48, 48) and images_.dtype == np.float32
    assert 0.0 <= images_.min() and images_.max() <= 1.0
    assert len(boxes) == len(labels) == 30 and len(names) == (3 if objects == "shapes" else 10)
    for image, image_boxes, image_labels in zip(images_, boxes, labels):
        assert image_boxes.dtype == np.float32 and image_labels.dtype == np.int64
        assert 1 <= len(image_boxes) == len(image_labels) <= 3
        assert ((image_labels >= 0) & (image_labels < len(names))).all()
        x1, y1, x2, y2 = image_boxes.T
        assert (x1 >= 0).all() and (y1 >= 0).all() and (x2 <= 48).all() and (y2 <= 48).all()
        assert (x2 > x1).all() and (y2 > y1).all()
        for i in range(len(image_boxes)):  # objects do not overlap, and their ink is inside the box
            for j in range(i):
                a, b = image_boxes[i], image_boxes[j]
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
            left, top, right, bottom = image_boxes[i].astype(int)
            assert image[top:bottom, left:right].max() >= 0.6
    again = data.make_detection_canvas(30, size=48, seed=4, objects=objects)
    np.testing.assert_array_equal(again[0], images_)
    assert all(np.array_equal(a, b) for a, b in zip(again[1], boxes))


def test_detection_canvas_rejects_unknown_objects():
    with pytest.raises(ValueError, match="shapes"):
        data.make_detection_canvas(2, objects="cars")


def test_detection_box_is_tight_around_a_square():
    images_, boxes, labels, _ = data.make_detection_canvas(20, seed=0, noise=0.0)
    index = next(i for i, l in enumerate(labels) if len(l) == 1 and l[0] == 0)  # one square alone
    x1, y1, x2, y2 = boxes[index][0].astype(int)
    bright = np.argwhere(images_[index] > 0)
    assert (bright.min(0).tolist(), (bright.max(0) + 1).tolist()) == ([y1, x1], [y2, x2])


def test_text_corpus_and_vocab_round_trip():
    text = data.load_text_corpus()
    assert len(text) > 100_000 and "def " in text and text == data.load_text_corpus()
    assert data.load_text_corpus(max_chars=50) == text[:50]
    vocab = data.CharVocab(text)
    assert vocab.size == len(set(text)) and "CharVocab(size=" in repr(vocab)
    ids = vocab.encode("for x in range(3):")
    assert ids.dtype == np.int64 and ids.shape == (18,)
    assert vocab.decode(ids) == "for x in range(3):"
    assert vocab.decode(torch.from_numpy(ids)) == "for x in range(3):"
    assert vocab.encode(" ")[0] < vocab.encode("a")[0]  # ids in sorted character order


def test_vocab_errors_name_the_problem():
    vocab = data.CharVocab("abc")
    with pytest.raises(ValueError, match=r"'xz' \(first at position 1\)"):
        vocab.encode("axbz")
    with pytest.raises(ValueError, match="out of range 0..2"):
        vocab.decode([0, 3])
    with pytest.raises(ValueError, match="non-empty"):
        data.CharVocab("")


def test_photo_colour_gray_and_downscaled():
    photo = data.load_photo()
    assert photo.shape == (600, 512, 3) and photo.dtype == np.float32
    assert 0.0 <= photo.min() and photo.max() <= 1.0 and photo.std() > 0.1
    gray = data.load_photo(gray=True)
    np.testing.assert_allclose(gray, photo @ np.array([0.299, 0.587, 0.114]), atol=1e-5)
    small = data.load_photo(gray=True, downscale=4)
    assert small.shape == (150, 128) and small.dtype == np.float32
    np.testing.assert_allclose(small[0, 0], gray[:4, :4].mean(), atol=1e-6)
    with pytest.raises(ValueError):
        data.load_photo(downscale=0)


def test_loader_batches_cast_and_cover_everything():
    X = np.arange(20, dtype=np.float64).reshape(10, 2)
    y = np.arange(10)
    loader = data.make_loader(X, y, batch_size=4, shuffle=False, device="cpu")
    batches = list(loader)
    assert [len(b[0]) for b in batches] == [4, 4, 2] and loader.pin_memory is False
    assert batches[0][0].dtype == torch.float32 and batches[0][1].dtype == torch.int64
    assert torch.equal(batches[0][1], torch.arange(4))


def test_loader_shuffle_is_seeded_and_reshuffles_each_epoch():
    X, y = np.zeros((50, 1), dtype=np.float32), np.arange(50)

    def order(loader):
        return torch.cat([b[1] for b in loader]).tolist()

    loader = data.make_loader(X, y, batch_size=8, seed=3, device="cpu")
    first, second = order(loader), order(loader)
    assert sorted(first) == list(range(50)) and first != list(range(50)) and first != second
    assert order(data.make_loader(X, y, batch_size=8, seed=3, device="cpu")) == first


def test_loader_without_labels_pinning_and_length_check():
    (batch,) = next(iter(data.make_loader(np.ones((5, 3)), batch_size=5, device="cpu")))
    assert batch.shape == (5, 3)
    assert data.make_loader(np.ones((5, 3)), np.ones(5), device="cuda").pin_memory is True
    assert data.make_loader(np.ones((5, 3)), np.ones(5), num_workers=0).num_workers == 0
    with pytest.raises(ValueError, match="same length"):
        data.make_loader(np.ones((5, 3)), np.ones(4))


def test_dataset_status_lists_every_dataset(data_dir):
    status = data.dataset_status()
    assert status["digits"] == "available offline" and status["cifar10"] == "needs download"
    assert set(status.values()) <= {"available offline", "cached", "needs download"}
    assert {"mnist1d", "text corpus", "photo", "detection canvas"} <= status.keys()


# --- CIFAR-10: a tiny tarball in the official format, served offline ------------------------

CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _fake_cifar_bytes(per_batch: int = 4) -> bytes:
    rng = np.random.default_rng(0)
    members = {}
    for index, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        pixels = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        pixels[0, 0] = index  # the red value of image 0's top-left pixel identifies the batch
        members[name] = {b"data": pixels, b"labels": [(index + k) % 10 for k in range(per_batch)]}
    members["batches.meta"] = {b"label_names": [n.encode() for n in CIFAR_NAMES]}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in members.items():
            payload = pickle.dumps(content, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


FAKE_TARBALL = _fake_cifar_bytes()


@pytest.fixture
def server():
    """A local http server on 127.0.0.1 serving FAKE_TARBALL (or the first `body_bytes` of it)."""
    settings = {"body_bytes": len(FAKE_TARBALL)}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(FAKE_TARBALL)))
            self.end_headers()
            self.wfile.write(FAKE_TARBALL[: settings["body_bytes"]])

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    settings["url"] = f"http://127.0.0.1:{httpd.server_port}/cifar-10-python.tar.gz"
    yield settings
    httpd.shutdown()
    httpd.server_close()


def test_cifar_reads_the_official_format(tmp_path):
    (tmp_path / cifar.TARBALL).write_bytes(FAKE_TARBALL)
    assert data.cifar10_available(tmp_path)
    splits = data.load_cifar10(root=tmp_path)
    assert splits.X_train.shape == (18, 32, 32, 3) and splits.X_val.shape == (2, 32, 32, 3)
    assert splits.X_test.shape == (4, 32, 32, 3) and splits.X_train.dtype == np.float32
    assert splits.y_train.dtype == np.int64 and splits.class_names == CIFAR_NAMES
    assert splits.X_train[0, 0, 0, 0] == 0.0 and splits.X_test[0, 0, 0, 0] == pytest.approx(5 / 255)
    assert splits.y_train[:4].tolist() == [0, 1, 2, 3] and splits.y_test.tolist() == [5, 6, 7, 8]
    with tarfile.open(tmp_path / cifar.TARBALL) as tar:  # rows are R plane, G plane, B plane
        raw = pickle.load(tar.extractfile("cifar-10-batches-py/data_batch_1"), encoding="bytes")[b"data"][1]
    np.testing.assert_allclose(splits.X_train[1, 2, 5], raw[[2 * 32 + 5, 1024 + 2 * 32 + 5, 2048 + 2 * 32 + 5]] / 255)


def test_cifar_reads_an_extracted_folder(tmp_path):
    with tarfile.open(fileobj=io.BytesIO(FAKE_TARBALL)) as tar:
        tar.extractall(tmp_path, filter="data")
    assert data.load_cifar10(root=tmp_path).X_test.shape == (4, 32, 32, 3)


def test_cifar_missing_says_how_to_get_it(tmp_path):
    assert not data.cifar10_available(tmp_path)
    with pytest.raises(data.DatasetUnavailable) as info:
        data.load_cifar10(root=tmp_path)
    message = str(info.value)
    assert "load_cifar10(download=True)" in message and "load_digits()" in message
    assert str(tmp_path) in message and cifar.CIFAR10_URL in message
    assert isinstance(info.value, RuntimeError)


def test_cifar_truncated_file_on_disk_is_reported(tmp_path):
    (tmp_path / cifar.TARBALL).write_bytes(FAKE_TARBALL[: len(FAKE_TARBALL) // 2])
    with pytest.raises(data.DatasetUnavailable, match="damaged"):
        data.load_cifar10(root=tmp_path)


def test_cifar_download_verifies_and_renames(tmp_path, server, monkeypatch):
    monkeypatch.setattr(cifar, "CIFAR10_URL", server["url"])
    monkeypatch.setattr(cifar, "CIFAR10_MD5", hashlib.md5(FAKE_TARBALL).hexdigest())
    splits = data.load_cifar10(root=tmp_path, download=True)
    assert splits.X_test.shape == (4, 32, 32, 3)
    assert [p.name for p in tmp_path.iterdir()] == [cifar.TARBALL]
    assert (tmp_path / cifar.TARBALL).read_bytes() == FAKE_TARBALL


def test_cifar_download_into_the_cache_updates_status(data_dir, server, monkeypatch):
    monkeypatch.setattr(cifar, "CIFAR10_URL", server["url"])
    monkeypatch.setattr(cifar, "CIFAR10_MD5", hashlib.md5(FAKE_TARBALL).hexdigest())
    assert data.dataset_status()["cifar10"] == "needs download"
    data.download_cifar10()
    assert data.dataset_status()["cifar10"] == "cached"


def test_cifar_download_with_bad_checksum_leaves_nothing(tmp_path, server):
    with pytest.raises(data.DatasetUnavailable, match="corrupt.*c58f30108f718f92721af3b95e74349a"):
        data.download_cifar10(root=tmp_path, url=server["url"])  # the published md5 cannot match
    assert list(tmp_path.iterdir()) == []


def test_cifar_download_cut_short_leaves_nothing(tmp_path, server):
    server["body_bytes"] = len(FAKE_TARBALL) // 3
    with pytest.raises(data.DatasetUnavailable, match="download"):
        data.download_cifar10(root=tmp_path, url=server["url"], md5=hashlib.md5(FAKE_TARBALL).hexdigest())
    assert list(tmp_path.iterdir()) == []


def test_cifar_download_offline_gives_the_fallback(tmp_path, monkeypatch):
    def no_network(url, timeout):
        assert timeout > 0
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(cifar.urllib.request, "urlopen", no_network)
    with pytest.raises(data.DatasetUnavailable, match="(?s)Could not download.*load_digits"):
        data.load_cifar10(root=tmp_path, download=True)
    assert list(tmp_path.iterdir()) == []


def test_cifar_download_interrupted_leaves_nothing(tmp_path, monkeypatch):
    class Interrupted(io.BytesIO):
        headers: dict = {}

        def read(self, size=-1):
            raise KeyboardInterrupt

    monkeypatch.setattr(cifar.urllib.request, "urlopen", lambda url, timeout: Interrupted())
    with pytest.raises(KeyboardInterrupt):
        data.download_cifar10(root=tmp_path)
    assert list(tmp_path.iterdir()) == []
