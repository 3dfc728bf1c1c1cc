"""The synthetic task's sound track, and the reader the listening control hears it with.

A clip with sound carries faint noise throughout and, in some clips, a **cue**: a pure tone whose
pitch names an emotion (one pitch per class), playing while the face moves (onset to offset). By
the clip's class the cue **agrees** with the face, **contradicts** it (the tone of another class)
or is **absent** (noise only), so a model that trusts its ears is helped on some classes, hurt on
others and unchanged on the rest: effects the ``modality`` probe must find. The plan is fixed and
stated per clip in its metadata (``sound_cue``, ``sound_class``): the ground truth of the probe.
"""

from __future__ import annotations

from typing import Any

import av
import numpy as np

#: The cue's pitch for each class (Hz): far apart, below 4 kHz (AAC keeps them, a 16 kHz model hears them).
CUE_HZ = {"happy": 440.0, "sad": 587.0, "neutral": 784.0, "angry": 1047.0, "surprise": 1397.0,
          "disgust": 1865.0, "fear": 2489.0}
#: By the clip's class: what its cue does, and the class its tone names (None: no tone).
SOUND_CUES: dict[str, tuple[str, str | None]] = {
    "happy": ("agrees", "happy"), "angry": ("agrees", "angry"), "sad": ("agrees", "sad"),
    "disgust": ("contradicts", "angry"), "fear": ("contradicts", "sad"),
    "surprise": ("absent", None), "neutral": ("absent", None)}
RATE = 44100  # the written track's rate (stereo): models get it resampled, mono
TONE, NOISE = 0.3, 0.02  # amplitudes
FADE_S = 0.01
HEARD = 30.0  # a cue is heard when its pitch carries this many times the spectrum's median power


def cue_of(label: str) -> dict[str, Any]:
    """The sound metadata of a clip of class ``label``."""
    cue, heard = SOUND_CUES[label]
    return {"sound_cue": cue, "sound_class": heard}


def render_sound(clip: dict[str, Any], seed: int, index: int, seconds: float) -> np.ndarray:
    """The clip's stereo track (2, N) at :data:`RATE`: seeded noise, and its cue's tone from onset to
    offset (the right channel a little quieter)."""
    n = int(round(seconds * RATE))
    rng = np.random.default_rng([seed, 7, index])
    track = NOISE * rng.standard_normal(n)
    heard = SOUND_CUES[clip["label"]][1]
    if heard is not None:
        a, b = int(clip["onset_start"] * RATE), min(n, int(clip["offset_end"] * RATE))
        t = np.arange(b - a) / RATE
        envelope = np.minimum(1.0, np.minimum(t, t[-1] - t) / FADE_S) if len(t) else t
        track[a:b] += TONE * envelope * np.sin(2 * np.pi * CUE_HZ[heard] * t)
    track = np.clip(track, -1.0, 1.0)
    return np.stack([track, 0.8 * track]).astype(np.float32)


def hear_cue(samples: np.ndarray, rate: int) -> tuple[str | None, float]:
    """The class whose pitch the sound carries, and how clearly (power over the spectrum's median);
    None when no pitch stands out (noise only, or too short a span to hear it)."""
    if len(samples) < rate // 50:  # under 20 ms: no pitch can be told
        return None, 0.0
    power = np.abs(np.fft.rfft(samples * np.hanning(len(samples)))) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1.0 / rate)
    floor = float(np.median(power)) or 1e-12
    best, clarity = None, 0.0
    for label, hz in CUE_HZ.items():
        if hz >= rate / 2:
            continue
        band = power[(freqs > hz * 0.97) & (freqs < hz * 1.03)]
        level = float(band.max()) / floor if len(band) else 0.0
        if level > clarity:
            best, clarity = label, level
    return (best, clarity) if clarity >= HEARD else (None, clarity)


def write_track(path: str, tracks: list[np.ndarray], rate: int = 44100, codec: str = "aac",
                format: str | None = None) -> str:
    """A container holding only sound: one stream per array in ``tracks`` (each (channels, N) float in
    [-1, 1]; 1, 2, 6 or 8 channels), encoded with ``codec`` (``aac``; ``pcm_f32le`` in ``mkv`` keeps
    the samples exact). Written chunk by chunk, so a long track never sits in memory twice."""
    layouts = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}
    step = 1024  # AAC's frame size
    with av.open(path, "w", format=format) as container:
        streams = []
        for track in tracks:
            stream = container.add_stream(codec, rate=rate)
            stream.layout = layouts[track.shape[0]]
            stream.codec_context.thread_count = 1
            streams.append(stream)
        for stream, track in zip(streams, tracks):
            sample_format = "fltp" if codec == "aac" else "flt"
            for at in range(0, track.shape[1], step):
                chunk = np.asarray(track[:, at:at + step], dtype=np.float32)
                if sample_format == "flt":  # packed: (1, N * channels), interleaved
                    chunk = chunk.T.reshape(1, -1)
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format=sample_format,
                                                   layout=stream.layout.name)
                frame.sample_rate, frame.pts = rate, at
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    return path
