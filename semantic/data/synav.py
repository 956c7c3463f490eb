"""SynAV: a generated audio-visual question-answering set modelled on MUSIC-AVQA.

Each clip is ``frames`` RGB frames (``size`` x ``size``) and a mono waveform
(``duration_s`` at ``sample_rate_hz``) showing and sounding 1-3 objects. An
object has

* visual attributes, only in the frames: shape (circle, square, triangle,
  diamond), colour (6), size (small, large) and position (left, middle,
  right column; distinct per clip);
* audio attributes, only in the waveform: instrument (piano, violin, flute,
  trumpet, clarinet; distinct per clip; a timbre = harmonic profile,
  envelope, vibrato, breath noise), pitch (low 196 Hz, mid 392 Hz, high
  784 Hz, +-0.5 semitone detune) and loudness (soft, medium, loud: note RMS
  0.03 / 0.06 / 0.12, 6 dB apart);
* a note: onset frame (distinct per clip) and length in frames. The object
  is drawn at full colour while its note sounds and dimmed (40 % of its
  colour over the background) otherwise, so the only link between an object
  and its sound is timing: the object pulses exactly when its note plays.

Questions follow MUSIC-AVQA's types: existential, counting, location,
temporal, comparative and audio_visual; answers come from one fixed
vocabulary (:data:`ANSWER_VOCAB`). Yes/no answers are balanced per template
by construction. Five colour x instrument pairs (:data:`HELD_OUT_PAIRS`)
never occur in train; in test, ``held_out_fraction`` of the clips contain
one (compositional generalisation).

Everything is numpy, seeded per clip (``SeedSequence([seed, split, clip])``),
so a clip does not depend on how many clips are generated.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np

from .base import QASplit, cached_split, check_option_range, multi_hot

__all__ = [
    "load_synav",
    "modality_captions",
    "split_modality_captions",
    "SynAVConfig",
    "SynAVObject",
    "sample_scene",
    "render_frames",
    "render_waveform",
    "synth_note",
    "SHAPES",
    "COLOURS",
    "SIZES",
    "POSITIONS",
    "INSTRUMENTS",
    "PITCHES",
    "LOUDNESS",
    "HELD_OUT_PAIRS",
    "QUESTION_TYPES",
    "ANSWER_VOCAB",
    "AUDIO_NOISE_RMS",
]

GENERATOR_VERSION = 1
SHAPES = ("circle", "square", "triangle", "diamond")
COLOURS = ("red", "green", "blue", "yellow", "purple", "cyan")
COLOUR_RGB = np.array([(225, 45, 45), (45, 190, 70), (60, 100, 235), (235, 215, 50), (165, 75, 220), (50, 205, 215)],
                      dtype=np.float32)
SIZES = ("small", "large")
SIZE_RADIUS = (0.09, 0.14)  # object radius as a fraction of the frame size
POSITIONS = ("left", "middle", "right")
INSTRUMENTS = ("piano", "violin", "flute", "trumpet", "clarinet")
PITCHES = ("low", "mid", "high")
PITCH_HZ = (196.0, 392.0, 784.0)  # G3, G4, G5
LOUDNESS = ("soft", "medium", "loud")
LOUDNESS_RMS = (0.03, 0.06, 0.12)  # 6 dB steps; sums reach the +-1 clip only in rare clips
#: (colour, instrument) pairs absent from train, present in test.
HELD_OUT_PAIRS = (("red", "violin"), ("green", "flute"), ("blue", "piano"), ("yellow", "trumpet"),
                  ("purple", "clarinet"))
QUESTION_TYPES = ("existential", "counting", "location", "temporal", "comparative", "audio_visual")
NUMBER_WORDS = ("zero", "one", "two", "three")
ANSWER_VOCAB = ("yes", "no") + NUMBER_WORDS + POSITIONS + COLOURS + SHAPES + INSTRUMENTS
MAX_OBJECTS = 3
BACKGROUND_RGB = np.array([28.0, 28.0, 32.0], dtype=np.float32)
SILENT_LEVEL = 0.4  # a silent object's colour: background + 0.4 (colour - background)
VIDEO_NOISE_LEVELS = 4  # uniform grey pixel noise in [-4, 4]
AUDIO_NOISE_RMS = 0.002
SPLIT_IDS = {"train": 0, "test": 1}


@dataclass(frozen=True)
class Timbre:
    """How an instrument sounds: harmonic amplitudes (harmonic 1, 2, ...), attack [s],
    exponential decay time constant [s] (`None`: sustained), vibrato depth
    (relative frequency deviation at 5.5 Hz), breath noise (relative RMS)."""

    harmonics: tuple[float, ...]
    attack_s: float
    decay_s: Optional[float]
    vibrato_depth: float
    breath: float


TIMBRES = {
    "piano": Timbre((1.0, 0.55, 0.35, 0.22, 0.15, 0.1, 0.07, 0.05), 0.004, 0.25, 0.0, 0.0),
    "violin": Timbre(tuple(1.0 / k for k in range(1, 11)), 0.05, None, 0.006, 0.0),
    "flute": Timbre((1.0, 0.2, 0.08, 0.03), 0.04, None, 0.003, 0.15),
    "trumpet": Timbre((0.45, 0.75, 1.0, 0.9, 0.7, 0.5, 0.35, 0.22, 0.12), 0.025, None, 0.0, 0.0),
    "clarinet": Timbre((1.0, 0.0, 0.45, 0.0, 0.3, 0.0, 0.18, 0.0, 0.1), 0.03, None, 0.0, 0.0),
}


@dataclass(frozen=True)
class SynAVConfig:
    """What a SynAV split depends on.

    :param frames: frames per clip ``T`` (4-64)
    :param size: frame height = width [pixels] (32-256)
    :param sample_rate_hz: waveform sampling rate [Hz] (4000-48000)
    :param duration_s: clip duration [s] (0.25-10); frame ``t`` covers
        ``[t, t + 1) * duration_s / frames``
    :param seed: generator seed
    :param questions_per_clip: questions generated per clip (1-20)
    :param held_out_fraction: fraction of test clips forced to contain a held-out pair (0-1)
    """

    frames: int = 8
    size: int = 64
    sample_rate_hz: int = 16000
    duration_s: float = 1.0
    seed: int = 0
    questions_per_clip: int = 6
    held_out_fraction: float = 0.5

    @property
    def num_samples(self) -> int:
        """Waveform samples per clip ``S``."""
        return int(round(self.sample_rate_hz * self.duration_s))


@dataclass(frozen=True)
class SynAVObject:
    """One object of a clip; attribute fields are indices into the vocabularies
    (:data:`SHAPES`, :data:`COLOURS`, ...)."""

    shape: int
    colour: int
    size: int
    position: int
    x_px: int
    y_px: int
    instrument: int
    pitch: int
    loudness: int
    detune_semitones: float
    onset_frame: int
    num_frames_on: int

    def active(self, frames: int) -> np.ndarray:
        """bool ``[frames]``: whether the note sounds (and the object is lit) in each frame."""
        t = np.arange(frames)
        return (t >= self.onset_frame) & (t < self.onset_frame + self.num_frames_on)

    @property
    def description(self) -> str:
        """``"red circle"``: unique within a clip (colours are distinct)."""
        return f"{COLOURS[self.colour]} {SHAPES[self.shape]}"


# ---------------------------------------------------------------------- scenes
_HELD_OUT_INDEX = {(COLOURS.index(c), INSTRUMENTS.index(i)) for c, i in HELD_OUT_PAIRS}


def sample_scene(rng: np.random.Generator, config: SynAVConfig, allow_held_out: bool,
                 force_held_out: bool = False) -> list[SynAVObject]:
    """1-3 objects with distinct positions, instruments, colours and onset frames.

    :param allow_held_out: whether a held-out (colour, instrument) pair may occur (train: no)
    :param force_held_out: make the first object a held-out pair
    """
    num_objects = int(rng.integers(1, MAX_OBJECTS + 1))
    positions = rng.choice(len(POSITIONS), num_objects, replace=False)
    instruments = list(rng.choice(len(INSTRUMENTS), num_objects, replace=False))
    colours: list[int] = []
    if force_held_out:
        colour, instrument = sorted(_HELD_OUT_INDEX)[int(rng.integers(len(_HELD_OUT_INDEX)))]
        others = [i for i in range(len(INSTRUMENTS)) if i != instrument]
        instruments = [instrument] + list(rng.choice(others, num_objects - 1, replace=False))
        colours = [colour]
    for instrument in instruments[len(colours):]:
        allowed = [c for c in range(len(COLOURS)) if c not in colours
                   and (allow_held_out or (c, instrument) not in _HELD_OUT_INDEX)]
        colours.append(int(rng.choice(allowed)))
    onsets = rng.choice(config.frames - 1, num_objects, replace=False)
    note_frames = max(1, round(config.frames / 4))
    objects = []
    for k in range(num_objects):
        size = int(rng.integers(len(SIZES)))
        radius = _radius_px(size, config.size)
        x = (positions[k] + 0.5) * config.size / 3 + rng.uniform(-2, 2)
        y = rng.uniform(radius + 1, config.size - radius - 2)
        objects.append(SynAVObject(
            shape=int(rng.integers(len(SHAPES))), colour=colours[k], size=size, position=int(positions[k]),
            x_px=int(np.clip(round(x), radius, config.size - 1 - radius)), y_px=int(round(y)),
            instrument=int(instruments[k]), pitch=int(rng.integers(len(PITCHES))),
            loudness=int(rng.integers(len(LOUDNESS))), detune_semitones=float(rng.uniform(-0.5, 0.5)),
            onset_frame=int(onsets[k]),
            num_frames_on=int(min(rng.integers(note_frames, note_frames + 2), config.frames - onsets[k])),
        ))
    return objects


# ---------------------------------------------------------------------- video
def _radius_px(size_index: int, frame_size: int) -> int:
    """Object radius [pixels] for a size class and frame size."""
    return int(round(SIZE_RADIUS[size_index] * frame_size))


_STENCILS: dict[tuple[int, int], np.ndarray] = {}


def _stencil(shape: int, radius_px: int) -> np.ndarray:
    """bool ``[2r+1, 2r+1]`` mask of a shape of radius ``r`` pixels centred in the square."""
    key = (shape, radius_px)
    if key not in _STENCILS:
        r = float(radius_px)
        y, x = np.mgrid[-radius_px:radius_px + 1, -radius_px:radius_px + 1].astype(np.float32)
        if SHAPES[shape] == "circle":
            mask = x ** 2 + y ** 2 <= r ** 2
        elif SHAPES[shape] == "square":
            mask = (np.abs(x) <= 0.8 * r) & (np.abs(y) <= 0.8 * r)
        elif SHAPES[shape] == "triangle":  # apex up, base at the bottom
            mask = (y <= 0.8 * r) & (np.abs(x) <= (y + r) * 0.6)
        else:  # diamond
            mask = np.abs(x) + np.abs(y) <= r
        _STENCILS[key] = mask
    return _STENCILS[key]


def render_frames(objects: list[SynAVObject], config: SynAVConfig, rng: np.random.Generator) -> np.ndarray:
    """The clip's frames, uint8 ``[T, H, W, 3]``: dark background with grey noise; each
    object at full colour in the frames where its note sounds, dimmed otherwise.
    Uses only the visual fields and the note timing of ``objects``."""
    frames, size = config.frames, config.size
    canvas = np.broadcast_to(BACKGROUND_RGB, (frames, size, size, 3)).copy()
    for obj in objects:
        radius = _radius_px(obj.size, size)
        mask = _stencil(obj.shape, radius)
        level = np.where(obj.active(frames), 1.0, SILENT_LEVEL).astype(np.float32)
        colour = BACKGROUND_RGB + level[:, None] * (COLOUR_RGB[obj.colour] - BACKGROUND_RGB)  # [T, 3]
        y0, x0 = obj.y_px - radius, obj.x_px - radius
        view = canvas[:, y0:y0 + 2 * radius + 1, x0:x0 + 2 * radius + 1]
        view[:, mask] = colour[:, None, :]
    noise = rng.integers(-VIDEO_NOISE_LEVELS, VIDEO_NOISE_LEVELS + 1, size=(frames, size, size, 1), dtype=np.int16)
    return np.clip(canvas + noise, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------- audio
def synth_note(instrument: str, f0_hz: float, num_samples: int, sample_rate_hz: int,
               rng: np.random.Generator) -> np.ndarray:
    """One note of an instrument, float32 ``[num_samples]`` with RMS 1.

    Harmonics above 0.45 ``sample_rate_hz`` are left out (no aliasing); the
    envelope is a linear attack, an exponential decay (piano) or sustain,
    and a 10 ms linear release.
    """
    timbre = TIMBRES[instrument]
    t = np.arange(num_samples, dtype=np.float64) / sample_rate_hz
    vibrato = 1.0 + timbre.vibrato_depth * np.sin(2 * np.pi * 5.5 * t)
    phase = 2 * np.pi * f0_hz * np.cumsum(vibrato) / sample_rate_hz
    amplitudes = np.array(timbre.harmonics)
    order = np.arange(1, len(amplitudes) + 1)
    keep = (order * f0_hz < 0.45 * sample_rate_hz) & (amplitudes > 0)
    wave = amplitudes[keep] @ np.sin(order[keep, None] * phase[None, :])
    if timbre.breath:
        wave = wave + timbre.breath * np.sqrt(0.5 * np.sum(amplitudes[keep] ** 2)) * rng.standard_normal(num_samples)
    envelope = np.minimum(1.0, t / timbre.attack_s)
    if timbre.decay_s is not None:
        envelope = envelope * np.exp(-t / timbre.decay_s)
    release = max(1, int(0.01 * sample_rate_hz))
    envelope[-release:] *= np.linspace(1.0, 0.0, min(release, num_samples))
    wave = wave * envelope
    rms = np.sqrt(np.mean(wave ** 2))
    return (wave / max(rms, 1e-12)).astype(np.float32)


def note_span(obj: SynAVObject, config: SynAVConfig) -> tuple[int, int]:
    """First and one-past-last waveform sample of an object's note."""
    per_frame = config.num_samples / config.frames
    start = int(round(obj.onset_frame * per_frame))
    stop = int(round((obj.onset_frame + obj.num_frames_on) * per_frame))
    return start, stop


def render_waveform(objects: list[SynAVObject], config: SynAVConfig, rng: np.random.Generator) -> np.ndarray:
    """The clip's mono waveform, float32 ``[S]`` in [-1, 1]: each object's note
    (instrument timbre, pitch, loudness) over its frames, plus white noise
    (RMS 0.002). Uses only the audio fields and the note timing of ``objects``."""
    wave = AUDIO_NOISE_RMS * rng.standard_normal(config.num_samples)
    for obj in objects:
        start, stop = note_span(obj, config)
        f0_hz = PITCH_HZ[obj.pitch] * 2.0 ** (obj.detune_semitones / 12.0)
        note = synth_note(INSTRUMENTS[obj.instrument], f0_hz, stop - start, config.sample_rate_hz, rng)
        wave[start:stop] += LOUDNESS_RMS[obj.loudness] * note
    return np.clip(wave, -1.0, 1.0).astype(np.float32)


# ------------------------------------------------------------------ questions
class _Balancer:
    """Per template, alternate the wanted yes/no answer (random start): balanced by construction."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng, self.state = rng, {}

    def want_yes(self, key: str) -> bool:
        self.state[key] = (not self.state[key]) if key in self.state else bool(self.rng.integers(2))
        return self.state[key]

    def snapshot(self) -> dict:
        return dict(self.state)

    def restore(self, state: dict) -> None:
        self.state = state


def _pick(rng: np.random.Generator, items: list):
    return items[int(rng.integers(len(items)))]


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def _q_existential(objs, rng, bal):
    present = {o.instrument for o in objs}
    if rng.integers(2):
        want = bal.want_yes("exist_instrument")
        pool = sorted(present) if want else [i for i in range(len(INSTRUMENTS)) if i not in present]
        inst = _pick(rng, pool)
        return f"is a {INSTRUMENTS[inst]} playing?", _yes_no(inst in present)
    want = bal.want_yes("exist_object")
    seen = {(o.colour, o.shape) for o in objs}
    if want:
        colour, shape = _pick(rng, sorted(seen))
    else:
        colour, shape = _pick(rng, [(c, s) for c in range(len(COLOURS)) for s in range(len(SHAPES))
                                    if (c, s) not in seen])
    return f"is there a {COLOURS[colour]} {SHAPES[shape]}?", _yes_no((colour, shape) in seen)


def _q_counting(objs, rng, bal):
    template = int(rng.integers(3))
    if template == 0:
        return "how many instruments are playing?", NUMBER_WORDS[len(objs)]
    if template == 1:
        pitch = int(rng.integers(len(PITCHES)))
        return f"how many instruments play a {PITCHES[pitch]} note?", NUMBER_WORDS[sum(o.pitch == pitch for o in objs)]
    size = int(rng.integers(len(SIZES)))
    return f"how many {SIZES[size]} objects are there?", NUMBER_WORDS[sum(o.size == size for o in objs)]


def _q_location(objs, rng, bal):
    obj = _pick(rng, objs)
    template = int(rng.integers(3))
    if template == 0:
        return f"where is the {INSTRUMENTS[obj.instrument]}?", POSITIONS[obj.position]
    if template == 1:
        return f"where is the {obj.description}?", POSITIONS[obj.position]
    return f"which instrument is on the {POSITIONS[obj.position]}?", INSTRUMENTS[obj.instrument]


def _q_temporal(objs, rng, bal):
    by_onset = sorted(objs, key=lambda o: o.onset_frame)
    template = int(rng.integers(4))
    if template == 0:
        return "which instrument plays first?", INSTRUMENTS[by_onset[0].instrument]
    if template == 1:
        return "which instrument plays last?", INSTRUMENTS[by_onset[-1].instrument]
    if template == 2:
        early, late = sorted(rng.choice(len(by_onset), 2, replace=False))
        a, b = (by_onset[early], by_onset[late]) if bal.want_yes("before") else (by_onset[late], by_onset[early])
        return (f"does the {INSTRUMENTS[a.instrument]} play before the {INSTRUMENTS[b.instrument]}?",
                _yes_no(a.onset_frame < b.onset_frame))
    which = ("first", "last")[int(rng.integers(2))]
    obj = by_onset[0] if which == "first" else by_onset[-1]
    return f"where is the instrument that plays {which}?", POSITIONS[obj.position]


def _pairs(objs, field_name):
    return [(a, b) for a in objs for b in objs if getattr(a, field_name) > getattr(b, field_name)]


def _q_comparative(objs, rng, bal):
    louder, higher = _pairs(objs, "loudness"), _pairs(objs, "pitch")
    templates = ([0, 1, 3] if louder else []) + ([2] if higher else [])
    template = _pick(rng, templates)
    if template == 2:
        hi, lo = _pick(rng, higher)
        a, b = (hi, lo) if bal.want_yes("higher") else (lo, hi)
        return f"is the {INSTRUMENTS[a.instrument]} higher than the {INSTRUMENTS[b.instrument]}?", _yes_no(a is hi)
    loud, soft = _pick(rng, louder)
    if template == 1:
        a, b = (loud, soft) if rng.integers(2) else (soft, loud)
        return (f"which is louder, the {INSTRUMENTS[a.instrument]} or the {INSTRUMENTS[b.instrument]}?",
                INSTRUMENTS[loud.instrument])
    a, b = (loud, soft) if bal.want_yes(f"louder{template}") else (soft, loud)
    if template == 0:
        return f"is the {INSTRUMENTS[a.instrument]} louder than the {INSTRUMENTS[b.instrument]}?", _yes_no(a is loud)
    return f"is the {a.description} louder than the {b.description}?", _yes_no(a is loud)


def _q_audio_visual(objs, rng, bal):
    obj = _pick(rng, objs)
    template = int(rng.integers(4))
    if template == 0:
        return f"what colour is the object playing the {INSTRUMENTS[obj.instrument]}?", COLOURS[obj.colour]
    if template == 1:
        return f"what shape is playing the {INSTRUMENTS[obj.instrument]}?", SHAPES[obj.shape]
    if template == 2:
        return f"which instrument does the {obj.description} play?", INSTRUMENTS[obj.instrument]
    if bal.want_yes("plays"):
        inst = obj.instrument
    else:
        others = [o.instrument for o in objs if o is not obj]
        inst = _pick(rng, others) if others else _pick(rng, [i for i in range(len(INSTRUMENTS)) if i != obj.instrument])
    return f"is the {obj.description} playing the {INSTRUMENTS[inst]}?", _yes_no(inst == obj.instrument)


_QUESTION_MAKERS: dict[str, Callable] = {
    "existential": _q_existential, "counting": _q_counting, "location": _q_location,
    "temporal": _q_temporal, "comparative": _q_comparative, "audio_visual": _q_audio_visual,
}


def _valid_types(objs: list[SynAVObject]) -> list[str]:
    types = ["existential", "counting", "location", "audio_visual"]
    if len(objs) >= 2:
        types.append("temporal")
        if _pairs(objs, "loudness") or _pairs(objs, "pitch"):
            types.append("comparative")
    return [t for t in QUESTION_TYPES if t in types]


def clip_questions(objs: list[SynAVObject], count: int, rng: np.random.Generator,
                   balancer: _Balancer) -> list[tuple[str, str, str]]:
    """Up to ``count`` distinct ``(question, type, answer)`` about one clip; the type is drawn
    uniformly among those the clip supports (temporal and comparative need two objects)."""
    types = _valid_types(objs)
    out: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for _ in range(4 * count):
        if len(out) == count:
            break
        qtype = _pick(rng, types)
        state = balancer.snapshot()
        question, answer = _QUESTION_MAKERS[qtype](objs, rng, balancer)
        if question in seen:
            balancer.restore(state)  # a rejected duplicate must not count towards the yes/no balance
        else:
            seen.add(question)
            out.append((question, qtype, answer))
    return out


_WHERE = {"left": "on the left", "middle": "in the middle", "right": "on the right"}


def _seen(o) -> str:
    """What the frames show of an object: ``"the small red circle on the left"``."""
    return f"the {SIZES[o.size]} {o.description} {_WHERE[POSITIONS[o.position]]}"


def _heard(o) -> str:
    """What the audio carries of an object: ``"a loud low violin"``."""
    return f"a {LOUDNESS[o.loudness]} {PITCHES[o.pitch]} {INSTRUMENTS[o.instrument]}"


def caption(objs: list[SynAVObject]) -> str:
    """``"a loud low violin: the small red circle on the left, then ..."`` (objects by onset)."""
    return ", then ".join(f"{_heard(o)}: {_seen(o)}" for o in sorted(objs, key=lambda o: o.onset_frame))


def modality_captions(objs: list[SynAVObject]) -> dict[str, str]:
    """What each modality can know of a clip, objects by onset as in :func:`caption`: ``{"video":
    "the small red circle on the left, then ...", "audio": "a loud low violin, then ..."}``."""
    ordered = sorted(objs, key=lambda o: o.onset_frame)
    return {"video": ", then ".join(map(_seen, ordered)), "audio": ", then ".join(map(_heard, ordered))}


def split_modality_captions(split: QASplit) -> dict[str, list[str]]:
    """:func:`modality_captions` of every clip of a SynAV split, from its object table
    (``item_meta``, so cached splits have them too): modality -> ``[num_items]`` captions."""
    meta = split.item_meta
    missing = [name for name in ("num_objects", *_CAPTION_FIELDS) if name not in meta]
    if missing:
        raise ValueError(f"QASplit {split.name}/{split.split}: field 'item_meta' lacks {', '.join(missing)}; "
                         "allowed: a SynAV split (its object table names what each modality shows)")
    out: dict[str, list[str]] = {"video": [], "audio": []}
    for i in range(split.num_items):
        objs = [_MetaObject(**{name: int(meta[name][i, k]) for name in _CAPTION_FIELDS})
                for k in range(int(meta["num_objects"][i]))]
        for modality, text in modality_captions(objs).items():
            out[modality].append(text)
    return out


@dataclass(frozen=True)
class _MetaObject:
    """The fields of a :class:`SynAVObject` its captions name (rebuilt from ``item_meta``)."""

    shape: int
    colour: int
    size: int
    position: int
    instrument: int
    pitch: int
    loudness: int
    onset_frame: int

    description = SynAVObject.description


_CAPTION_FIELDS = tuple(f for f in _MetaObject.__dataclass_fields__)


# ---------------------------------------------------------------------- split
_META_FIELDS = ("shape", "colour", "size", "position", "x_px", "y_px", "instrument", "pitch", "loudness",
                "onset_frame", "num_frames_on")
VIDEO_ATTRIBUTES = list(COLOURS) + list(SHAPES) + list(POSITIONS) + list(SIZES)
AUDIO_ATTRIBUTES = list(INSTRUMENTS) + list(PITCHES) + list(LOUDNESS)


def _clip_rngs(config: SynAVConfig, split: str, clip: int) -> tuple[np.random.Generator, ...]:
    """Independent scene / video / audio generators of one clip."""
    children = np.random.SeedSequence([config.seed, SPLIT_IDS[split], clip]).spawn(3)
    return tuple(np.random.default_rng(child) for child in children)


def generate_split(split: str, num_clips: int, config: SynAVConfig) -> QASplit:
    """Generate a SynAV split (no cache); see :func:`load_synav`."""
    start_s = time.perf_counter()
    video = np.empty((num_clips, config.frames, config.size, config.size, 3), dtype=np.uint8)
    audio = np.empty((num_clips, config.num_samples), dtype=np.float32)
    question_rng = np.random.default_rng(np.random.SeedSequence([config.seed, SPLIT_IDS[split], 1 << 30]))
    balancer = _Balancer(question_rng)
    scenes, questions, qtypes, answers, items = [], [], [], [], []
    num_forced = int(round(config.held_out_fraction * num_clips)) if split == "test" else 0
    for clip in range(num_clips):
        scene_rng, video_rng, audio_rng = _clip_rngs(config, split, clip)
        objs = sample_scene(scene_rng, config, allow_held_out=(split == "test"), force_held_out=clip < num_forced)
        video[clip] = render_frames(objs, config, video_rng)
        audio[clip] = render_waveform(objs, config, audio_rng)
        for question, qtype, answer in clip_questions(objs, config.questions_per_clip, question_rng, balancer):
            questions.append(question)
            qtypes.append(qtype)
            answers.append(ANSWER_VOCAB.index(answer))
            items.append(clip)
        scenes.append(objs)
    item_meta = _item_meta(scenes)
    return QASplit(
        name="synav",
        split=split,
        media={"video": video, "audio": audio},
        media_kind={"video": "frames", "audio": "waveform"},
        captions=[caption(objs) for objs in scenes],
        questions=questions,
        question_types=qtypes,
        answers=np.array(answers, dtype=np.int64),
        item_index=np.array(items, dtype=np.int64),
        answer_vocab=list(ANSWER_VOCAB),
        attributes=_attributes(scenes),
        attribute_names={"video": list(VIDEO_ATTRIBUTES), "audio": list(AUDIO_ATTRIBUTES)},
        sample_rate_hz=config.sample_rate_hz,
        info={
            "generator": "tokenlink.semantic.data.synav", "generator_version": GENERATOR_VERSION,
            "config": dict(vars(config)),
            "num_clips": num_clips, "held_out_pairs": [f"{c} {i}" for c, i in HELD_OUT_PAIRS],
            "num_clips_with_held_out_pair": int(item_meta["held_out"].sum()),
            "generate_s": round(time.perf_counter() - start_s, 3),
            "vocab": {"shape": list(SHAPES), "colour": list(COLOURS), "size": list(SIZES), "position": list(POSITIONS),
                      "instrument": list(INSTRUMENTS), "pitch": list(PITCHES), "loudness": list(LOUDNESS)},
        },
        item_meta=item_meta,
    )


def _item_meta(scenes: list[list[SynAVObject]]) -> dict[str, np.ndarray]:
    """Per-clip object table: ``num_objects`` [N], ``held_out`` bool [N], each object field int64 [N, 3] (-1: none)."""
    meta = {name: np.full((len(scenes), MAX_OBJECTS), -1, dtype=np.int64) for name in _META_FIELDS}
    for i, objs in enumerate(scenes):
        for k, obj in enumerate(objs):
            for name in _META_FIELDS:
                meta[name][i, k] = getattr(obj, name)
    meta["num_objects"] = np.array([len(objs) for objs in scenes], dtype=np.int64)
    meta["held_out"] = np.array([any((o.colour, o.instrument) in _HELD_OUT_INDEX for o in objs) for objs in scenes])
    return meta


def _attributes(scenes: list[list[SynAVObject]]) -> dict[str, np.ndarray]:
    """video: colours + shapes + positions + sizes seen; audio: instruments + pitches + loudness heard."""
    offsets_v = np.cumsum([0, len(COLOURS), len(SHAPES), len(POSITIONS)])
    offsets_a = np.cumsum([0, len(INSTRUMENTS), len(PITCHES)])
    video_rows = ([offsets_v[0] + o.colour, offsets_v[1] + o.shape, offsets_v[2] + o.position, offsets_v[3] + o.size]
                  for objs in scenes for o in objs)
    audio_rows = ([offsets_a[0] + o.instrument, offsets_a[1] + o.pitch, offsets_a[2] + o.loudness]
                  for objs in scenes for o in objs)
    per_object_v = multi_hot(video_rows, len(VIDEO_ATTRIBUTES))
    per_object_a = multi_hot(audio_rows, len(AUDIO_ATTRIBUTES))
    owner = np.repeat(np.arange(len(scenes)), [len(objs) for objs in scenes])
    video = np.zeros((len(scenes), len(VIDEO_ATTRIBUTES)), dtype=np.float32)
    audio = np.zeros((len(scenes), len(AUDIO_ATTRIBUTES)), dtype=np.float32)
    np.maximum.at(video, owner, per_object_v)
    np.maximum.at(audio, owner, per_object_a)
    return {"video": video, "audio": audio}


def _check_options(split: str, num_clips: int, config: SynAVConfig) -> None:
    check_option_range("synav", f"num_{split}_clips", num_clips, 1, 1_000_000)
    check_option_range("synav", "frames", config.frames, 4, 64)
    check_option_range("synav", "size", config.size, 32, 256)
    check_option_range("synav", "sample_rate_hz", config.sample_rate_hz, 4000, 48000)
    check_option_range("synav", "duration_s", config.duration_s, 0.25, 10.0, kind=float)
    check_option_range("synav", "seed", config.seed, 0, 2 ** 63 - 1)
    check_option_range("synav", "questions_per_clip", config.questions_per_clip, 1, 20)
    check_option_range("synav", "held_out_fraction", config.held_out_fraction, 0.0, 1.0, kind=float)


def load_synav(split: str, root: Union[str, Path, None] = None, num_train_clips: int = 3000,
               num_test_clips: int = 600, frames: int = 8, size: int = 64, sample_rate_hz: int = 16000,
               duration_s: float = 1.0, seed: int = 0, questions_per_clip: int = 6,
               held_out_fraction: float = 0.5, cache: bool = True) -> QASplit:
    """A SynAV split, generated once and cached (npz) under ``cache_dir("datasets", root)``.

    :param split: ``"train"`` (``num_train_clips`` clips) or ``"test"`` (``num_test_clips``)
    :param root: cache root to use instead of ``$TOKENLINK_CACHE``
    :output: ``"video"`` uint8 ``[N, frames, size, size, 3]`` (kind ``frames``);
        ``"audio"`` float32 ``[N, round(sample_rate_hz * duration_s)]`` in
        [-1, 1] (kind ``waveform``); about ``questions_per_clip * N``
        questions; 24 answers; attributes video ``[N, 15]`` (colours, shapes,
        positions, sizes), audio ``[N, 11]`` (instruments, pitches, loudness);
        ``item_meta``: the object table of every clip
    """
    config = SynAVConfig(frames=frames, size=size, sample_rate_hz=sample_rate_hz, duration_s=float(duration_s),
                         seed=seed, questions_per_clip=questions_per_clip, held_out_fraction=float(held_out_fraction))
    num_clips = num_train_clips if split == "train" else num_test_clips
    _check_options(split, num_clips, config)
    key = {"dataset": "synav", "split": split, "num_clips": num_clips, "generator_version": GENERATOR_VERSION,
           **vars(config)}
    return cached_split(key, lambda: generate_split(split, num_clips, config), use_cache=cache, root=root)
