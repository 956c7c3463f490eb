"""Sample indices over clients: IID, Dirichlet non-IID, label shards (tokenlink.semantic.fedsl.partition)."""

import numpy as np
import pytest

from tokenlink.semantic.fedsl.partition import (label_proportions, partition_dirichlet,
                                                partition_iid, partition_samples, partition_shards)

LABELS = np.repeat(np.arange(10), 100)  # 1000 samples, 100 per label


def test_iid_partition_covers_every_index_exactly_once_in_near_equal_parts():
    parts = partition_iid(1003, 10, seed=0)
    assert sorted(np.concatenate(parts).tolist()) == list(range(1003))
    assert {len(p) for p in parts} == {100, 101}


@pytest.mark.parametrize("scheme, options", [("iid", {}), ("dirichlet", {"dirichlet_alpha": 0.05}),
                                             ("dirichlet", {"dirichlet_alpha": 1.0}),
                                             ("shards", {"shards_per_client": 2})])
def test_every_scheme_covers_every_index_once_and_gives_every_client_a_sample(scheme, options):
    parts = partition_samples(LABELS, 20, scheme=scheme, seed=3, **options)
    assert len(parts) == 20
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(LABELS)))
    assert min(len(p) for p in parts) >= 1


def test_dirichlet_gives_every_client_a_sample_even_when_draws_leave_some_empty():
    labels = np.repeat(np.arange(2), 6)  # 12 samples, 12 clients, tiny alpha: most draws leave clients empty
    parts = partition_dirichlet(labels, 12, dirichlet_alpha=0.01, seed=0, max_tries=1)
    assert sorted(len(p) for p in parts) == [1] * 12


def test_dirichlet_with_large_alpha_is_near_iid_and_with_small_alpha_is_skewed():
    near_iid = label_proportions(LABELS, partition_dirichlet(LABELS, 5, 1000.0, seed=1), 10)
    assert np.abs(near_iid - 0.1).max() < 0.06
    skewed = label_proportions(LABELS, partition_dirichlet(LABELS, 5, 0.05, seed=1), 10)
    assert skewed.max(axis=1).mean() > 0.5  # most of a client's samples from one label


def test_label_shards_give_each_client_at_most_its_number_of_shards_in_labels():
    parts = partition_shards(LABELS, 10, shards_per_client=2, seed=0)  # 20 shards of 50: one label each
    assert all(len(np.unique(LABELS[p])) <= 2 for p in parts)
    assert {len(p) for p in parts} == {100}


def test_partitions_are_deterministic_per_seed():
    for scheme in ("iid", "dirichlet", "shards"):
        a = partition_samples(LABELS, 7, scheme=scheme, seed=5)
        b = partition_samples(LABELS, 7, scheme=scheme, seed=5)
        c = partition_samples(LABELS, 7, scheme=scheme, seed=6)
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
        assert not all(np.array_equal(x, y) for x, y in zip(a, c))


@pytest.mark.parametrize("alpha", [0.0, -1.0])
def test_dirichlet_alpha_not_positive_raises_naming_dirichlet_alpha(alpha):
    with pytest.raises(ValueError, match=r"fedsl\.dirichlet_alpha.*> 0"):
        partition_dirichlet(LABELS, 4, alpha)


@pytest.mark.parametrize("scheme", ["iid", "dirichlet", "shards"])
def test_more_clients_than_samples_raises_naming_num_clients(scheme):
    with pytest.raises(ValueError, match=r"fedsl\.num_clients.*allowed: 1\.\.5"):
        partition_samples(np.arange(5), 6, scheme=scheme)


def test_too_many_shards_raises_naming_shards_per_client():
    with pytest.raises(ValueError, match=r"fedsl\.shards_per_client"):
        partition_shards(np.arange(10), 5, shards_per_client=3)
