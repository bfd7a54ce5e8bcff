"""Image loaders: sklearn digits split, CIFAR-10 binary reader on tiny files."""

import numpy as np
import pytest
import torch

from spdnas.data.splits import stratified_train_test as stratified_split
from spdnas.data.images import (
    CIFAR10_RECORD,
    digits_arrays,
    load_cifar10_binary,
    load_digits_images,
    read_cifar10_file,
)


def test_digits_split_reproducible_and_stratified():
    from sklearn.datasets import load_digits

    a, b, c = load_digits_images(0), load_digits_images(0), load_digits_images(1)
    assert torch.equal(a["x_train"], b["x_train"]) and torch.equal(a["y_test"], b["y_test"])
    assert not torch.equal(a["y_train"], c["y_train"])
    n = len(load_digits().target)
    assert len(a["y_train"]) + len(a["y_test"]) == n == 1797
    assert len(a["y_test"]) == int(np.ceil(0.25 * n))
    assert a["x_train"].shape[1:] == (1, 8, 8) and a["x_train"].dtype == torch.float32
    assert a["info"] == {"name": "digits", "in_channels": 1, "image_size": 8, "num_classes": 10}
    # stratified: every class in both splits, proportions close
    tr = np.bincount(a["y_train"].numpy(), minlength=10) / len(a["y_train"])
    te = np.bincount(a["y_test"].numpy(), minlength=10) / len(a["y_test"])
    assert np.abs(tr - te).max() < 0.01
    # the split partitions all samples
    tr_idx, te_idx = stratified_split(load_digits().target, 0.25, 0)
    assert sorted(np.concatenate([tr_idx, te_idx]).tolist()) == list(range(n))
    # standardised with train statistics
    assert abs(float(a["x_train"].mean())) < 1e-5 and abs(float(a["x_train"].std()) - 1) < 1e-3


def test_digits_arrays_equal_sklearn():
    from sklearn.datasets import load_digits

    images, target = digits_arrays()
    ref = load_digits()
    np.testing.assert_array_equal(images, ref.images)
    np.testing.assert_array_equal(target, ref.target)


def test_digits_upsampling_is_nearest_neighbour():
    a8, a16 = load_digits_images(3), load_digits_images(3, image_size=16)
    assert a16["x_train"].shape[1:] == (1, 16, 16) and a16["info"]["image_size"] == 16
    up = a8["x_train"].repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    assert torch.allclose(up, a16["x_train"], atol=1e-5)


@pytest.mark.parametrize("kw", [{"seed": -1}, {"test_fraction": 1.0}, {"image_size": 12}, {"image_size": 0}])
def test_digits_bad_arguments(kw):
    with pytest.raises(ValueError):
        load_digits_images(**{"seed": 0, **kw})


def _write_batch(path, labels, rng):
    recs = np.zeros((len(labels), CIFAR10_RECORD), dtype=np.uint8)
    recs[:, 0] = labels
    recs[:, 1:] = rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8)
    path.write_bytes(recs.tobytes())
    return recs


def _make_cifar(root, n_train=(3, 2), n_test=4, seed=0):
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    train = [_write_batch(folder / f"data_batch_{i + 1}.bin", rng.integers(0, 10, k), rng)
             for i, k in enumerate(n_train)]
    test = _write_batch(folder / "test_batch.bin", rng.integers(0, 10, n_test), rng)
    return folder, np.concatenate(train), test


def test_cifar10_binary_roundtrip(tmp_path):
    folder, train, test = _make_cifar(tmp_path)
    x, y = read_cifar10_file(folder / "data_batch_1.bin")
    assert x.shape == (3, 3, 32, 32) and x.dtype == np.uint8
    np.testing.assert_array_equal(y, train[:3, 0])
    # channel-major layout: red plane first, row-major within a plane
    np.testing.assert_array_equal(x[1, 0, 0, :], train[1, 1:33])
    np.testing.assert_array_equal(x[1, 2, 31, 31], train[1, -1])
    for root in (tmp_path, folder):  # parent or the batches folder itself
        d = load_cifar10_binary(root)
        assert d["x_train"].shape == (5, 3, 32, 32) and d["x_test"].shape == (4, 3, 32, 32)
        np.testing.assert_array_equal(d["y_train"].numpy(), train[:, 0])
        np.testing.assert_array_equal(d["y_test"].numpy(), test[:, 0])
        assert d["info"] == {"name": "cifar10", "in_channels": 3, "image_size": 32, "num_classes": 10}
    # standardisation uses train statistics per channel
    raw = train[:, 1:].reshape(-1, 3, 32, 32) / 255.0
    ref = (raw - raw.mean(axis=(0, 2, 3), keepdims=True)) / raw.std(axis=(0, 2, 3), keepdims=True)
    np.testing.assert_allclose(load_cifar10_binary(tmp_path)["x_train"].numpy(), ref, atol=1e-5)
    capped = load_cifar10_binary(tmp_path, max_train=4, max_test=1)
    assert len(capped["y_train"]) == 4 and len(capped["y_test"]) == 1


def test_cifar10_truncated_and_bad_label_raise(tmp_path):
    folder, _, _ = _make_cifar(tmp_path)
    f = folder / "data_batch_2.bin"
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(ValueError, match="data_batch_2.bin"):
        load_cifar10_binary(tmp_path)
    f.write_bytes(b"")
    with pytest.raises(ValueError, match="truncated"):
        load_cifar10_binary(tmp_path)
    rec = bytearray(CIFAR10_RECORD)
    rec[0] = 12
    f.write_bytes(bytes(rec))
    with pytest.raises(ValueError, match="label"):
        load_cifar10_binary(tmp_path)


def test_cifar10_missing_folder_explains_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="cifar-10-binary.tar.gz") as e:
        load_cifar10_binary(tmp_path / "nope")
    assert "root=" in str(e.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="test_batch.bin"):
        load_cifar10_binary(tmp_path / "empty")
    with pytest.raises(ValueError, match="max_train"):
        folder, _, _ = _make_cifar(tmp_path / "ok")
        load_cifar10_binary(folder, max_train=0)
