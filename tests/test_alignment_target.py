"""semantic.align.target: each modality aligned to the caption of what it alone can know (per_modality)
or to the item's one caption (joint, paper A)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from tokenlink.scenario import load_scenario
from tokenlink.semantic.data import load_dataset, modality_captions
from tokenlink.semantic.data.synav import COLOURS, INSTRUMENTS, LOUDNESS, PITCHES, SHAPES
from tokenlink.semantic_run import training_config

from tiny_semantic import tiny_easy_vqa

SYNAV = {"num_train_clips": 8, "num_test_clips": 30}


def test_synav_per_modality_captions_split_the_joint_caption_by_what_each_modality_carries():
    split = load_dataset("synav", "test", **SYNAV)
    captions = modality_captions(split, ("video", "audio"))
    assert len(captions["video"]) == len(captions["audio"]) == split.num_items
    for joint, video, audio in zip(split.captions, captions["video"], captions["audio"], strict=True):
        # the joint caption is "<heard>: <seen>" per object, in the same order as the two per-modality captions
        assert joint == ", then ".join(f"{a}: {v}" for a, v in zip(audio.split(", then "), video.split(", then "),
                                                                     strict=True))
        assert not any(word in video.split() for word in (*INSTRUMENTS, *PITCHES, *LOUDNESS))
        assert not any(word in audio.split() for word in (*COLOURS, *SHAPES))


def test_one_modality_keeps_its_captions_and_other_data_sets_say_what_is_allowed():
    split = load_dataset("synav", "train", **SYNAV)
    assert modality_captions(split, ("audio",)) == {"audio": split.captions}
    other = dataclasses.replace(split, name="music_avqa")
    with pytest.raises(ValueError) as error:
        modality_captions(other, ("video", "audio"))
    text = str(error.value)
    assert "\n" not in text and text.startswith("semantic.align.target: 'per_modality'") and "synav" in text


def test_the_target_enters_the_training_key_only_when_it_is_not_the_default():
    align = tiny_easy_vqa()["semantic"]["align"]
    joint = training_config(load_scenario(tiny_easy_vqa()))
    assert "target" not in joint["semantic"]["align"]  # keys as before the field existed: checkpoints stay found
    assert training_config(load_scenario(tiny_easy_vqa(align={**align, "target": "joint"}))) == joint
    per = training_config(load_scenario(tiny_easy_vqa(align={**align, "target": "per_modality"})))
    assert per["semantic"]["align"]["target"] == "per_modality" and per != joint
    with pytest.raises(Exception, match="target"):
        load_scenario(tiny_easy_vqa(align={"target": "captions"}))


def test_alignment_uses_each_modality_s_own_target():
    from tokenlink.semantic.foundation import FoundationModel
    from tokenlink.semantic.pipeline import TokenCommModel

    torch.manual_seed(0)
    model = TokenCommModel({"video": (8, 8), "audio": (8, 8)}, FoundationModel(lora_rank=0), num_answers=3,
                           num_tokens=8, compression="none", link=None)
    d = model.d_model
    tokens = {m: torch.randn(6, 8, d) for m in ("video", "audio")}
    first, second = torch.nn.functional.normalize(torch.randn(2, 6, d), dim=-1)
    joint, _ = model.alignment(tokens, first, 1.0)
    same, _ = model.alignment(tokens, {"video": first, "audio": first}, 1.0)
    torch.testing.assert_close(same, joint)
    mixed, parts = model.alignment(tokens, {"video": first, "audio": second}, 1.0)
    _, video_parts = model.alignment(tokens, first, 1.0)
    _, audio_parts = model.alignment(tokens, second, 1.0)
    assert parts["video/info_nce"] == pytest.approx(video_parts["video/info_nce"])  # video against its own
    assert parts["audio/info_nce"] == pytest.approx(audio_parts["audio/info_nce"])  # audio against its own
    assert parts["audio/info_nce"] != pytest.approx(video_parts["audio/info_nce"])
    expected = sum(parts[f"{m}/info_nce"] + parts[f"{m}/mse"] for m in ("video", "audio")) / 2
    assert float(mixed) == pytest.approx(expected, rel=1e-5)


def test_a_synav_model_trains_and_is_scored_against_per_modality_captions(tmp_path):
    from tokenlink.runner import run
    from tokenlink.trace import read_trace

    scenario = {
        "link": {"mode": "analog"}, "phy": {"snr_db": 10.0, "grid": {"fft_size": 72}, "channel": {"model": "awgn"}},
        "run": {"seed": 2},
        "semantic": {"dataset": "synav", "dataset_options": {"num_train_clips": 48, "num_test_clips": 24},
                     "train_questions": 64, "test_questions": 40, "num_tokens": 4, "encoder": {"pretrain_epochs": 1},
                     "align": {"epochs": 1, "batch_size": 16, "max_steps": 2, "target": "per_modality"},
                     "task": {"epochs": 1, "batch_size": 16, "max_steps": 2}, "train_snr_db": 10.0,
                     "channel_bank_size": 16, "eval_batch_size": 40},
    }
    result = run(scenario, tmp_path / "t.h5", progress=False, plots=False)
    m = read_trace(result.trace_path).complete_points[0].metrics
    assert np.isfinite(m["train_align_loss"]).all() and m["train_align_loss"].shape == (2,)
    for modality in ("video", "audio"):
        assert 0.0 <= m[f"recall_at_1_{modality}"] <= m[f"recall_at_5_{modality}"] <= 1.0
