"""An easy-VQA scenario trained in a few seconds (64 questions, 2 + 3 steps), for tests that train."""

from __future__ import annotations

import copy
from typing import Any


def tiny_easy_vqa(**semantic: Any) -> dict[str, Any]:
    """The scenario as plain data, with ``semantic`` fields added or replaced."""
    data = {
        "link": {"mode": "analog"},
        "phy": {"snr_db": 10.0, "grid": {"fft_size": 72}, "channel": {"model": "awgn"}},
        "run": {"seed": 3},
        "semantic": {
            "train_questions": 64, "test_questions": 40, "num_tokens": 4, "eval_batch_size": 40,
            "train_snr_db": 10.0, "channel_bank_size": 16,
            "align": {"epochs": 1, "batch_size": 16, "max_steps": 2},
            "task": {"epochs": 1, "batch_size": 16, "max_steps": 3},
        },
    }
    data["semantic"].update(copy.deepcopy(semantic))
    return data
