"""Shared by the FedSL training tests: a separable generated image set and history comparisons."""

import numpy as np
import torch

from tokenlink.semantic.fedsl.data import ImageSet


def quadrants(n: int, seed: int, classes: int = 4) -> ImageSet:
    """A separable image set: class k lights up quadrant k of a 32 x 32 image, plus noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    images = 0.1 * torch.rand(n, 3, 32, 32, generator=g)
    for k in range(classes):
        r, c = divmod(k, 2)
        images[labels == k, :, r * 16:(r + 1) * 16, c * 16:(c + 1) * 16] += 0.8
    return ImageSet("quadrants", "train", images, labels, tuple(str(k) for k in range(classes)))


DATA = (quadrants(96, 0), quadrants(32, 1))
BASE = dict(num_clients=3, rounds=3, local_steps=2, batch_size=16, width=1 / 16, cut_layer=2, train_samples=None,
            test_samples=None, interval_rounds=2, lr=0.05)
LIGHT = dict(pruning={"kind": "magnitude", "rate": 0.3}, gradient_bits=8, drop_rate=0.25)


def curves(history: dict) -> dict:
    """The history without the wall-clock entries (they differ between runs)."""
    return {k: v for k, v in history.items() if k not in ("time_s",)}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(np.asarray(a[k]), np.asarray(b[k]), equal_nan=True)
                                        for k in a)


def assert_one_line_naming(message: str, field: str) -> None:
    """A scenario error is one line that names ``field`` (at its start or after a space)."""
    assert message.startswith(f"{field}:") or f" {field}:" in message, message
    assert "\n" not in message
