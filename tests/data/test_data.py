"""Datasets and the mini-batch iterator."""

import jax
import numpy as np
import pytest

from funcnet.data import and_, batches, digits, iris, make_dataset, num_batches, xor


def test_truth_tables():
    np.testing.assert_array_equal(xor().y, [0, 1, 1, 0])
    np.testing.assert_array_equal(and_().y, [0, 0, 0, 1])
    assert xor().x.dtype == np.float32 and xor().x.shape == (4, 2)


def test_digits_split_is_fixed_stratified_and_scaled():
    train, test = digits()
    assert len(train) + len(test) == 1797
    assert len(test) == 360
    assert train.x.shape[1:] == (64,) and train.x.dtype == np.float32
    assert train.x.min() >= 0.0 and train.x.max() <= 1.0
    assert set(np.unique(test.y)) == set(range(10))
    again, _ = digits()
    np.testing.assert_array_equal(train.x, again.x)


def test_iris_is_standardised_with_train_statistics():
    train, test = iris()
    assert (len(train), len(test)) == (120, 30)
    np.testing.assert_allclose(train.x.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(train.x.std(axis=0), 1.0, atol=1e-5)
    assert np.bincount(test.y).tolist() == [10, 10, 10]


def test_batches_cover_every_example_once_in_a_key_determined_order():
    data = make_dataset(np.arange(10.0)[:, None], np.arange(10))
    seen = np.concatenate([y for _, y in batches(data, 3, key=jax.random.key(0))])
    assert sorted(seen.tolist()) == list(range(10))
    assert seen.tolist() != list(range(10))
    again = np.concatenate([y for _, y in batches(data, 3, key=jax.random.key(0))])
    np.testing.assert_array_equal(seen, again)
    dropped = [len(y) for _, y in batches(data, 3, key=jax.random.key(0), drop_remainder=True)]
    assert dropped == [3, 3, 3] == [3] * num_batches(10, 3, drop_remainder=True)
    rest = np.concatenate([y for _, y in batches(data, 3, key=jax.random.key(0), start=2)])
    np.testing.assert_array_equal(rest, seen[6:])  # the same order, from the third batch on


def test_batch_errors():
    data = make_dataset(np.zeros((4, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="batches: expected a positive integer batch_size, got 0"):
        next(batches(data, 0))
    with pytest.raises(ValueError, match="expected batch_size <= 4"):
        next(batches(data, 5, drop_remainder=True))
    with pytest.raises(ValueError, match="batches: expected a non-negative integer start, got -1"):
        next(batches(data, 2, start=-1))
    with pytest.raises(ValueError, match=r"got shapes \(4, 2\) and \(3,\)"):
        make_dataset(np.zeros((4, 2)), np.zeros(3))


def test_mnist1d_is_generated_with_the_default_arguments():
    from funcnet.data import mnist1d

    train, test = mnist1d()
    assert train.x.shape == (4000, 40) and test.x.shape == (1000, 40)
    assert train.x.dtype == np.float32 and train.y.dtype == np.int32
    assert set(np.unique(train.y)) == set(range(10))
    again, _ = mnist1d()
    np.testing.assert_array_equal(train.x, again.x)  # procedural, seeded: the same every time


def test_digits_as_images_need_no_reshape():
    (train, test), (flat, _) = digits(images=True), digits()
    assert train.x.shape == (1437, 8, 8, 1) and test.x.shape == (360, 8, 8, 1)
    np.testing.assert_array_equal(train.x.reshape(-1, 64), flat.x)
    np.testing.assert_array_equal(train.y, flat.y)
    with pytest.raises(TypeError, match="digits: expected images to be a bool, got 'yes'"):
        digits(images="yes")


def test_dataset_replace_keeps_the_other_field():
    data = make_dataset(np.zeros((5, 3), np.float32), np.arange(5))
    replaced = data._replace(y=np.ones(5))
    assert len(replaced) == 5
    assert replaced.x is data.x and replaced.y.tolist() == [1.0] * 5


def test_dataset_replace_and_unpacking_keep_the_fields():
    data = make_dataset(np.zeros((5, 3), np.float32), np.arange(5))
    replaced = data._replace(y=np.ones(5))
    assert len(replaced) == 5
    assert replaced.x is data.x and replaced.y.tolist() == [1.0] * 5
    x, y = data
    assert x is data.x and y is data.y
