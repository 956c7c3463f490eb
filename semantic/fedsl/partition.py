"""Sample indices split over N clients: IID, Dirichlet non-IID over labels, label shards.

Every scheme returns ``num_clients`` sorted int64 index arrays that are
disjoint and together cover every sample exactly once; every client gets at
least one sample; the result is a function of the seed (numpy ``Generator``)::

    parts = partition_samples(labels, num_clients=10, scheme="dirichlet", dirichlet_alpha=0.5, seed=0)

* ``iid``: a random permutation cut into ``num_clients`` near-equal parts.
* ``dirichlet``: for every label, client proportions ``~ Dirichlet(alpha * 1_N)``
  (Hsu et al. 2019); small ``alpha`` skews each client to few labels, large
  ``alpha`` approaches IID. Draws are repeated (up to 100 times) until every
  client has a sample, then the largest clients give one sample to any empty one.
* ``shards``: samples sorted by label (random order within a label) cut into
  ``num_clients * shards_per_client`` near-equal shards, each client gets
  ``shards_per_client`` random shards (McMahan et al. 2017).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

__all__ = ["PARTITION_SCHEMES", "partition_samples", "partition_iid", "partition_dirichlet", "partition_shards",
           "label_proportions"]

PARTITION_SCHEMES = ("iid", "dirichlet", "shards")


def _check_clients(num_clients: int, num_samples: int) -> None:
    if isinstance(num_clients, bool) or not isinstance(num_clients, (int, np.integer)) or num_clients < 1:
        raise ValueError(f"fedsl.num_clients: {num_clients!r} is not allowed; must be an integer >= 1")
    if num_clients > num_samples:
        raise ValueError(f"fedsl.num_clients: {num_clients} clients but only {num_samples} samples; "
                         f"allowed: 1..{num_samples} (every client needs a sample)")


def partition_iid(num_samples: int, num_clients: int, seed: int = 0) -> list[np.ndarray]:
    """``num_clients`` random, near-equal parts of ``range(num_samples)``."""
    _check_clients(num_clients, num_samples)
    order = np.random.default_rng(seed).permutation(num_samples)
    return [np.sort(part).astype(np.int64) for part in np.array_split(order, num_clients)]


def partition_dirichlet(labels: Sequence[int], num_clients: int, dirichlet_alpha: float, seed: int = 0,
                        max_tries: int = 100) -> list[np.ndarray]:
    """Label-skewed parts: per label, client shares drawn from ``Dirichlet(dirichlet_alpha)``."""
    labels = np.asarray(labels)
    _check_clients(num_clients, len(labels))
    if isinstance(dirichlet_alpha, bool) or not isinstance(dirichlet_alpha, (int, float)) or not dirichlet_alpha > 0:
        raise ValueError(f"fedsl.dirichlet_alpha: {dirichlet_alpha!r} is not allowed; must be a number > 0")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    for _ in range(max_tries):
        parts: list[list[np.ndarray]] = [[] for _ in range(num_clients)]
        for c in classes:
            members = rng.permutation(np.flatnonzero(labels == c))
            shares = rng.dirichlet(np.full(num_clients, float(dirichlet_alpha)))
            cuts = (np.cumsum(shares)[:-1] * len(members)).astype(np.int64)
            for k, piece in enumerate(np.split(members, cuts)):
                parts[k].append(piece)
        result = [np.concatenate(p) for p in parts]
        if min(len(p) for p in result) >= 1:
            break
    for k in range(num_clients):  # still empty after max_tries: take one from the largest client
        if len(result[k]) == 0:
            donor = int(np.argmax([len(p) for p in result]))
            result[k], result[donor] = result[donor][-1:], result[donor][:-1]
    return [np.sort(p).astype(np.int64) for p in result]


def partition_shards(labels: Sequence[int], num_clients: int, shards_per_client: int = 2, seed: int = 0
                     ) -> list[np.ndarray]:
    """Each client gets ``shards_per_client`` shards of the label-sorted samples."""
    labels = np.asarray(labels)
    _check_clients(num_clients, len(labels))
    if isinstance(shards_per_client, bool) or not isinstance(shards_per_client, (int, np.integer)) \
            or shards_per_client < 1 or num_clients * shards_per_client > len(labels):
        raise ValueError(f"fedsl.shards_per_client: {shards_per_client!r} is not allowed; must be an integer "
                         f"in 1..{len(labels) // num_clients} ({len(labels)} samples, {num_clients} clients)")
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(len(labels))
    order = shuffled[np.argsort(labels[shuffled], kind="stable")]
    shards = np.array_split(order, num_clients * shards_per_client)
    assignment = rng.permutation(len(shards)).reshape(num_clients, shards_per_client)
    return [np.sort(np.concatenate([shards[s] for s in row])).astype(np.int64) for row in assignment]


def partition_samples(labels: Sequence[int], num_clients: int, scheme: str = "iid",
                      dirichlet_alpha: Optional[float] = None, shards_per_client: int = 2, seed: int = 0
                      ) -> list[np.ndarray]:
    """Dispatch on ``scheme`` (one of :data:`PARTITION_SCHEMES`); see the module doc."""
    if scheme == "iid":
        return partition_iid(len(labels), num_clients, seed)
    if scheme == "dirichlet":
        return partition_dirichlet(labels, num_clients, 0.5 if dirichlet_alpha is None else dirichlet_alpha, seed)
    if scheme == "shards":
        return partition_shards(labels, num_clients, shards_per_client, seed)
    raise ValueError(f"fedsl.partition: {scheme!r} is not allowed; allowed: {', '.join(PARTITION_SCHEMES)}")


def label_proportions(labels: Sequence[int], parts: Sequence[np.ndarray], num_classes: int) -> np.ndarray:
    """``[num_clients, num_classes]`` fraction of each client's samples per label."""
    labels = np.asarray(labels)
    counts = np.stack([np.bincount(labels[p], minlength=num_classes) for p in parts]).astype(np.float64)
    return counts / counts.sum(axis=1, keepdims=True)
