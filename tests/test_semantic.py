"""The semantic pipeline end to end: the split model around the link,
training with the channel in the loop, checkpoints and resume, evaluation,
and the scenario runner with a ``semantic:`` section."""

import math
import typing

import numpy as np
import pytest
import torch

from tokenlink import load_scenario
from tokenlink.bridge import TokenLink
from tokenlink.bridge.config import TOKEN_LINK_MODES
from tokenlink.cli import main
from tokenlink.semantic.checkpoint import load_checkpoint
from tokenlink.semantic.compression import COMPRESSION_METHODS
from tokenlink.semantic.config import COMPRESSIONS, DATASET_NAMES, TRAIN_LINK_MODES, SemanticConfig
from tokenlink.semantic.data import DATASETS
from tokenlink.semantic.foundation import FoundationModel
from tokenlink.semantic.pipeline import INPUT_SCALES, TokenCommModel
from tokenlink.semantic.train import lr_factor, train
from tokenlink import semantic_run
from tokenlink.trace import read_trace

#: A tiny easy-VQA configuration: seconds per training.
TINY = {
    "name": "tiny",
    "link": {"mode": "analog"},
    "phy": {"snr_db": 10.0, "channel": {"model": "rayleigh"}},
    "run": {"seed": 3},
    "semantic": {
        "dataset": "easy_vqa", "train_questions": 96, "test_questions": 48, "num_tokens": 4,
        "encoder": {"width": 32, "pretrain_epochs": 1},
        "align": {"epochs": 1, "batch_size": 16, "max_steps": 3},
        "task": {"epochs": 1, "batch_size": 16, "max_steps": 4},
        "channel_bank_size": 64, "checkpoint_every": 2, "eval_batch_size": 48,
    },
}


@pytest.fixture(scope="module")
def foundation():
    return FoundationModel(lora_rank=4, dropout=0.0)


def _scenario(**semantic):
    data = {**TINY, "semantic": {**TINY["semantic"], **semantic}}
    return load_scenario(data)


def test_config_lists_the_choices_the_implementation_knows():
    assert DATASET_NAMES == DATASETS
    assert COMPRESSIONS == COMPRESSION_METHODS
    assert typing.get_args(SemanticConfig.model_fields["input_scale"].annotation) == INPUT_SCALES
    assert TRAIN_LINK_MODES == TOKEN_LINK_MODES


def test_ideal_link_equals_the_model_without_the_bridge(foundation):
    torch.manual_seed(0)
    link = TokenLink({"mode": "analog", "phy": {"channel": {"model": "awgn"}}})
    model = TokenCommModel({"image": (20, 16), "audio": (12, 8)}, foundation, num_answers=5, num_tokens=6,
                           compression="pool", link=link).eval()
    for receiver in model.receivers.values():  # receivers that are not the identity
        torch.nn.init.normal_(receiver.fc2.weight, std=0.05)
    encoded = {"image": torch.randn(3, 20, 16), "audio": torch.randn(3, 12, 8)}
    ids, mask = foundation.tokenize(["what colour is it?", "is there a circle?", "which shape?"])
    with torch.no_grad():
        without = model(encoded, ids, mask, ideal=True)
        noiseless = model(encoded, ids, mask, snr_db=float("inf"))
        noisy = model(encoded, ids, mask, snr_db=0.0)
    torch.testing.assert_close(noiseless, without, atol=1e-4, rtol=1e-4)
    assert (noisy - without).abs().max() > 1e-2  # the comparison can fail


def test_received_tokens_enter_minilm_at_the_scale_of_its_word_embeddings(foundation):
    words = foundation._base.get_input_embeddings().weight
    assert foundation.word_rms == pytest.approx(float(words.square().mean().sqrt()), rel=1e-6)
    assert 0.03 < foundation.word_rms < 0.1
    ids, mask = foundation.tokenize(["what colour is it?", "is there a circle?"])
    tokens = {"image": 2.0 * torch.randn(2, 5, foundation.d_model)}
    logits = {}
    for scale in ("words", "none"):
        torch.manual_seed(0)
        model = TokenCommModel({"image": (5, 8)}, foundation, num_answers=4, num_tokens=5, compression="none",
                               input_scale=scale).eval()
        seen = []
        hook = foundation.register_forward_pre_hook(lambda module, args, seen=seen: seen.append(args[0][0]))
        with torch.no_grad():
            logits[scale] = [model.answer({"image": tokens["image"] * c}, ids, mask) for c in (1.0, 10.0)]
        hook.remove()
        rms = seen[0].square().mean(dim=-1).sqrt()
        if scale == "words":   # every token at the word RMS, so its size no longer matters
            torch.testing.assert_close(rms, torch.full_like(rms, foundation.word_rms))
            torch.testing.assert_close(logits[scale][0], logits[scale][1], rtol=1e-4, atol=1e-5)
        else:                  # as received: 40x the word RMS; the position embeddings are drowned
            assert float(rms.mean()) > 20 * foundation.word_rms
    assert not torch.allclose(logits["words"][0], logits["none"][0], atol=1e-3)
    with pytest.raises(ValueError, match="semantic.input_scale: got 'unit'; allowed: words, none"):
        TokenCommModel({"image": (5, 8)}, foundation, num_answers=4, num_tokens=5, input_scale="unit")


def test_each_device_gets_its_own_channel_realization(foundation):
    link = TokenLink({"mode": "analog", "phy": {"channel": {"model": "rayleigh"}}})
    model = TokenCommModel({"a": (8, 8), "b": (8, 8)}, foundation, num_answers=2, num_tokens=8,
                           compression="none", link=link).eval()
    model.projections["b"].load_state_dict(model.projections["a"].state_dict())  # two identical devices
    x = torch.randn(2, 8, 8)
    with torch.no_grad():
        sent = model.device_tokens({"a": x, "b": x})
        passed = model.channel(sent, snr_db=30.0, return_metrics=True)
    assert passed.total_channel_uses == 2 * link.frame_size(8, foundation.d_model)["channel_uses"]
    assert torch.equal(sent["a"], sent["b"])
    assert not torch.allclose(passed.received["a"], passed.received["b"])  # different fading per device


def test_gradients_reach_the_device_through_the_analog_link(foundation):
    link = TokenLink({"mode": "analog", "phy": {"channel": {"model": "rayleigh"}}, "train_snr_db_range": (5, 15)})
    model = TokenCommModel({"image": (16, 8)}, foundation, num_answers=3, num_tokens=4, compression="attention",
                           link=link).train()
    ids, mask = foundation.tokenize(["what shape?"] * 2)
    loss = model({"image": torch.randn(2, 16, 8)}, ids, mask).logsumexp(-1).sum()
    loss.backward()
    assert model.projections["image"].linear.weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.compressors["image"].parameters())
    assert all(p.grad is None for p in link.parameters())  # the channel has nothing to train


def test_learning_rate_schedules_warm_up_then_hold_or_follow_half_a_cosine():
    assert [lr_factor("constant", 0, s, 10) for s in (0, 5, 9)] == [1.0, 1.0, 1.0]
    assert [lr_factor("constant", 4, s, 10) for s in (0, 1, 3, 4, 9)] == [0.25, 0.5, 1.0, 1.0, 1.0]
    cosine = [lr_factor("cosine", 2, s, 10) for s in range(10)]
    assert cosine[:3] == [0.5, 1.0, 1.0]                      # warm-up, then the top of the cosine
    assert cosine[6] == pytest.approx(0.5)                    # half way through the 8 decaying steps
    assert cosine[9] == pytest.approx(0.5 * (1 + math.cos(math.pi * 7 / 8)))
    assert all(a > b for a, b in zip(cosine[2:], cosine[3:], strict=False))


def test_training_resumes_to_the_same_weights_as_an_uninterrupted_run(tmp_path):
    # cosine schedule with warm-up: the resumed stage must pick up the schedule where it stopped
    task = {**TINY["semantic"]["task"], "schedule": "cosine", "warmup_steps": 1}
    scenario = _scenario(task=task)
    lrs = []
    key = semantic_run.training_key(scenario)

    semantic_run._CACHE.clear()
    model, data = semantic_run._build(scenario, "cpu", False)
    train(model, data, scenario.semantic, tmp_path / "a", seed=3, fingerprint=key)
    straight = load_checkpoint(tmp_path / "a")[0]

    class Stop(Exception):
        pass

    def stop_in_task(record):
        lrs.append(record["lr"])
        if record["stage"] == "task" and record["step"] == 2:
            raise Stop

    semantic_run._CACHE.clear()
    model, data = semantic_run._build(scenario, "cpu", False)
    with pytest.raises(Stop):
        train(model, data, scenario.semantic, tmp_path / "b", seed=3, fingerprint=key, on_step=stop_in_task)
    partial = load_checkpoint(tmp_path / "b")
    assert partial[1]["stage"] == "task" and not partial[1].get("finished")
    semantic_run._CACHE.clear()
    model, data = semantic_run._build(scenario, "cpu", False)  # a fresh process would do the same
    history = train(model, data, scenario.semantic, tmp_path / "b", seed=3, fingerprint=key)
    resumed = load_checkpoint(tmp_path / "b")[0]
    assert len(history["task"]["loss"]) == 4 and len(history["align"]["loss"]) == 3
    expected = [scenario.semantic.task.lr * lr_factor("cosine", 1, s, 4) for s in range(4)]
    assert lrs[3:] == pytest.approx(expected[:2]) and history["task"]["lr"] == pytest.approx(expected)
    assert lrs[:3] == pytest.approx([scenario.semantic.align.lr] * 3)    # align: constant by default
    seconds = history["align"]["time_s"] + history["task"]["time_s"]  # training time at each step, resume included
    assert len(seconds) == 7 and np.all(np.diff(seconds) > 0) and 0 < seconds[-1] <= history["time_s"]
    model_keys = [k for k in straight if k.startswith("model.")]
    assert model_keys and set(model_keys) == {k for k in resumed if k.startswith("model.")}
    for k in model_keys:
        torch.testing.assert_close(resumed[k], straight[k], rtol=1e-5, atol=1e-6, msg=k)
    with pytest.raises(ValueError, match="another configuration"):
        train(model, data, scenario.semantic, tmp_path / "b", seed=3, fingerprint="other")
    semantic_run._CACHE.clear()


def test_a_semantic_run_writes_accuracy_link_metrics_and_curves(tmp_path):
    scenario = load_scenario({**TINY, "sweep": {"grid": {"phy.snr_db": [0.0, 20.0]}}})
    from tokenlink.runner import run

    result = run(scenario, tmp_path / "t.h5", progress=False)
    trace = read_trace(result.trace_path)
    assert [p.complete for p in trace.points] == [True, True]
    for p in trace.points:
        m = p.metrics
        assert 0.0 <= m["accuracy"] <= 1.0 and m["questions"] == 48
        assert {"accuracy_color", "accuracy_shape", "accuracy_yes_no", "recall_at_1", "recall_at_5"} <= set(m)
        assert m["sample_correct"].shape == (48,) and m["sample_nmse"].shape == (48,)
        assert np.isclose(m["accuracy"], m["sample_correct"].mean())
        assert m["channel_uses_per_sample"] == 4 * 192  # K tokens x 384 values / 2 per channel use
        assert m["train_task_loss"].shape == (4,) and m["train_align_loss"].shape == (3,)
        assert m["train_task_time_s"].shape == (4,) and m["train_align_time_s"][-1] < m["train_task_time_s"][0]
    low, high = (p.metrics["nmse"] for p in trace.points)
    assert low > 5 * high  # the same model, the link at 0 vs 20 dB
    assert any(f.name == "accuracy_vs_snr.png" for f in result.figures)
    assert (tmp_path / "t_checkpoints").is_dir() and len(list((tmp_path / "t_checkpoints").iterdir())) == 1


def test_a_trained_model_is_evaluated_on_another_channel_without_training(tmp_path):
    from tokenlink.runner import run

    first = run(load_scenario(TINY), tmp_path / "train.h5", progress=False, plots=False)
    folder = next((tmp_path / "train_checkpoints").iterdir())
    import tokenlink.semantic.train as train_module

    calls = []
    real_train = train_module.train
    train_module.train = lambda *a, **k: calls.append(1) or real_train(*a, **k)
    try:
        other = load_scenario({**TINY, "semantic": {**TINY["semantic"], "checkpoint": str(folder)},
                               "sweep": {"grid": {"phy.channel.model": ["awgn", "tdl"]}}})
        result = run(other, tmp_path / "eval.h5", progress=False, plots=False)
    finally:
        train_module.train = real_train
    assert calls == []
    trace = read_trace(result.trace_path)
    assert [p.params["phy.channel.model"] for p in trace.points] == ["awgn", "tdl"]
    assert all("accuracy" in p.metrics for p in trace.points)
    assert not (tmp_path / "eval_checkpoints").exists()
    assert read_trace(first.trace_path).points[0].metrics["trained_steps"] == 7


def test_one_model_trained_over_the_analog_link_is_evaluated_over_both_links(tmp_path):
    from tokenlink.runner import run

    digital = {"quantizer": "scalar", "bits_per_value": 4, "calibration": "std", "calibration_param": 3.0}
    scenario = load_scenario({**TINY, "link": {"mode": "analog", "digital": digital},
                              "semantic": {**TINY["semantic"], "train_link_mode": "analog"},
                              "sweep": {"grid": {"link.mode": ["analog", "digital"]}}})
    result = run(scenario, tmp_path / "t.h5", progress=False, plots=False)
    assert len(list((tmp_path / "t_checkpoints").iterdir())) == 1  # trained once
    analog, dig = read_trace(result.trace_path).points
    assert analog.metrics["trained_steps"] == dig.metrics["trained_steps"] == 7
    assert "ber" not in analog.metrics and 0.0 <= dig.metrics["ber"] < 0.5
    assert dig.metrics["sample_ber"].shape == (48,)
    # 4-bit tokens need half the channel uses of analog ones (16-QAM: 4 bits per use, 2 values per use)
    assert dig.metrics["channel_uses_per_sample"] == 2 * analog.metrics["channel_uses_per_sample"]
    assert np.isfinite(dig.metrics["nmse"]) and dig.metrics["nmse"] != analog.metrics["nmse"]


def test_train_link_mode_makes_link_modes_share_a_training_key():
    def key(mode, train_mode):
        return semantic_run.training_key(load_scenario(
            {**TINY, "link": {"mode": mode}, "semantic": {**TINY["semantic"], "train_link_mode": train_mode}}))

    assert key("analog", "analog") == key("digital", "analog") != key("digital", "digital")
    assert key("analog", None) != key("digital", None)


@pytest.mark.parametrize("semantic, expected", [
    ({"num_tokens": 65}, "semantic.num_tokens"),
    ({"modalities": ["audio"]}, "semantic.modalities: 'audio' is not a modality of easy_vqa"),
    ({"dataset": "music_avqa"}, "music_avqa"),
    ({"dataset_options": {"colour": 1}}, "colour"),
    ({"checkpoint": "/nonexistent/ckpt"}, "semantic.checkpoint"),
])
def test_bad_semantic_input_is_one_line_exit_2_and_keeps_the_trace(tmp_path, capsys, semantic, expected):
    import yaml

    trace = tmp_path / "t.h5"
    trace.write_bytes(b"an existing trace")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**TINY, "semantic": {**TINY["semantic"], **semantic}}))
    assert main(["run", str(path), "-o", str(trace), "--overwrite"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err and "Traceback" not in err
    assert trace.read_bytes() == b"an existing trace"
    assert not (tmp_path / "t_checkpoints").exists()


def test_scenario_schema_errors_for_the_semantic_section(tmp_path):
    from tokenlink import ScenarioError

    with pytest.raises(ScenarioError, match="semantic.datset: unknown field 'datset'.*did you mean 'dataset'"):
        load_scenario({"link": {"mode": "analog"}, "semantic": {"datset": "mnist"}})
    with pytest.raises(ScenarioError, match="link.mode"):
        load_scenario({"semantic": {"dataset": "mnist"}})  # bits mode has no token link
    with pytest.raises(ScenarioError, match="semantic.train_snr_db"):
        load_scenario({"link": {"mode": "analog"}, "semantic": {"train_snr_db": [20, 0]}})


def test_training_key_ignores_the_test_snr_and_eval_only_fields():
    a = _scenario()
    b = load_scenario({**TINY, "phy": {**TINY["phy"], "snr_db": -3.0},
                       "semantic": {**TINY["semantic"], "test_questions": 7, "eval_batch_size": 5}})
    c = _scenario(num_tokens=8)
    assert semantic_run.training_key(a) == semantic_run.training_key(b) != semantic_run.training_key(c)


def test_checkpoints_are_safetensors_not_pickles(tmp_path):
    from tokenlink.semantic.checkpoint import CHECKPOINT_FILE, save_checkpoint

    save_checkpoint(tmp_path, {"w": torch.ones(2)}, {"stage": "align"})
    raw = (tmp_path / CHECKPOINT_FILE).read_bytes()
    assert not raw.startswith(b"\x80") and b"PK" != raw[:2]  # neither a pickle nor a torch zip
    tensors, meta = load_checkpoint(tmp_path)
    assert meta == {"stage": "align"} and torch.equal(tensors["w"], torch.ones(2))
    (tmp_path / CHECKPOINT_FILE).write_bytes(b"\x80\x04garbage")
    with pytest.raises(ValueError, match="not a readable tokenlink checkpoint"):
        load_checkpoint(tmp_path)



def _music_avqa_folder(root, num_videos=(12, 4)):
    """A small MUSIC-AVQA folder in the official format (json/ + feats/vggish, feats/res18)."""
    import json

    rng = np.random.default_rng(0)
    instruments = ["piano", "violin", "cello", "flute"]
    (root / "json").mkdir(parents=True)
    for folder in ("vggish", "res18"):
        (root / "feats" / folder).mkdir(parents=True)
    video = 0
    for split, count in zip(("train", "test"), num_videos, strict=True):
        records = []
        for _ in range(count):
            vid = f"{video:08d}"
            video += 1
            inst = instruments[video % len(instruments)]
            np.save(root / "feats" / "vggish" / f"{vid}.npy", rng.standard_normal((60, 128)).astype(np.float32))
            np.save(root / "feats" / "res18" / f"{vid}.npy", rng.standard_normal((60, 512)).astype(np.float32))
            for qid, (kind, content, values, answer) in enumerate([
                (["Audio", "Counting"], "How many instruments are sounding in the video?", [], "one"),
                (["Audio-Visual", "Existential"], "Is the <Object> in the video always playing?", [inst], "yes"),
                (["Visual", "Location"], "Where is the <Object>?", [inst], "left" if video % 2 else "right"),
            ]):
                records.append({"video_id": vid, "question_id": 100 * video + qid, "type": json.dumps(kind),
                                "question_content": content, "templ_values": json.dumps(values),
                                "question_deleted": 0, "anser": answer})
        (root / "json" / f"avqa-{split}.json").write_text(json.dumps(records))


def test_the_papers_setting_runs_on_music_avqa_format_files(tmp_path):
    """Users with MUSIC-AVQA's annotations and pre-extracted features run the
    same pipeline: two feature devices (VGGish audio, ResNet-18 video)."""
    from tokenlink.runner import run

    _music_avqa_folder(tmp_path / "avqa")
    scenario = load_scenario({
        **TINY, "name": "avqa",
        "semantic": {**TINY["semantic"], "dataset": "music_avqa", "data_root": str(tmp_path / "avqa"),
                     "train_questions": None, "test_questions": None},
    })
    metrics = run(scenario, tmp_path / "avqa.h5", progress=False, plots=False).points[0].metrics
    semantic_run._CACHE.clear()
    assert metrics["questions"] == 12 and metrics["items"] == 4
    assert {"accuracy_audio_counting", "accuracy_visual_location", "recall_at_1_audio", "recall_at_1_video"} <= set(
        metrics)
    assert metrics["channel_uses_per_sample"] == 2 * 4 * 192  # two devices, K = 4 tokens of 384 values


def test_ctrl_c_during_training_then_resume_gives_the_uninterrupted_numbers(tmp_path, monkeypatch):
    import tokenlink.semantic.train as train_module
    from tokenlink.runner import run

    scenario = load_scenario({**TINY, "sweep": {"grid": {"phy.snr_db": [5.0, 15.0]}}})
    straight = run(scenario, tmp_path / "a.h5", progress=False, plots=False)
    semantic_run._CACHE.clear()

    real_step, calls = train_module._task_step, []

    def interrupted_step(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(train_module, "_task_step", interrupted_step)
    with pytest.raises(KeyboardInterrupt):
        run(scenario, tmp_path / "b.h5", progress=False, plots=False)
    assert read_trace(tmp_path / "b.h5").attrs["status"] == "interrupted"
    monkeypatch.setattr(train_module, "_task_step", real_step)
    semantic_run._CACHE.clear()  # as in a new process
    resumed = run(scenario, tmp_path / "b.h5", resume=True, progress=False, plots=False)
    semantic_run._CACHE.clear()
    assert resumed.status == "complete" and len(resumed.points) == 2
    for a, b in zip(straight.points, resumed.points, strict=True):
        assert a.metrics["accuracy"] == b.metrics["accuracy"]
        np.testing.assert_array_equal(a.metrics["sample_correct"], b.metrics["sample_correct"])
        np.testing.assert_allclose(a.metrics["sample_nmse"], b.metrics["sample_nmse"], rtol=1e-5)
        np.testing.assert_allclose(a.metrics["train_task_loss"], b.metrics["train_task_loss"], rtol=1e-5)


def test_semantic_points_draw_shadowing_per_test_question(tmp_path):
    from tokenlink.phy.snr import LinkBudget
    from tokenlink.runner import run

    scenario = load_scenario({**TINY, "phy": {**TINY["phy"], "snr_type": "link_budget",
                                              "link_budget": {"distance_m": 150.0, "shadowing_std_db": 6.0}},
                              "sweep": {"grid": {"phy.link_budget.shadowing": ["off", "per_frame"]}}})
    result = run(scenario, tmp_path / "t.h5", progress=False, plots=False)
    assert len(list((tmp_path / "t_checkpoints").iterdir())) == 1  # the test SNR does not train
    off, shadowed = (p.metrics for p in read_trace(result.trace_path).points)
    mean = LinkBudget(distance_m=150.0).mean_snr_db()
    assert off["esno_db"] == shadowed["esno_db"] == pytest.approx(mean)
    np.testing.assert_array_equal(off["sample_esno_db"], np.full(48, mean))
    assert off["esno_db_std"] == 0.0
    drawn = shadowed["sample_esno_db"]
    assert drawn.shape == (48,) and len(set(drawn)) == 48
    assert abs(drawn.mean() - mean) < 4 * 6.0 / math.sqrt(48) and abs(drawn.std() - 6.0) < 4 * 6.0 / math.sqrt(96)
    assert shadowed["esno_db_std"] == pytest.approx(drawn.std())
    assert shadowed["nmse"] != off["nmse"]
