"""A clip's sound track with PyAV: decoded from the same container as its frames, down-mixed to mono,
resampled to the model family's rate and cut to the span the sampled frames cover.

Under ``--audio off`` (the default) nothing here runs. Under ``--audio on`` a clip whose sound is
missing or damaged is a failed sample with its reason (:class:`harness.errors.MediaError`), never a
silent deaf answer.

Alignment: the frames' clock counts from the clip's first displayed frame; the track may start a
little before or after it (encoder priming, muxing). Its samples are placed on the frames' clock by
its own first timestamp (a track whose timestamps jump is refused: joined as if continuous it would
drift), and a span the track does not reach is padded with silence only up to ``PAD_TOLERANCE_S``
at the clip's ends (where muxing offsets are) and up to half the span inside it (recorded as
``padded_s``); beyond that, or when the span holds none of the track, the clip fails.
"""

from __future__ import annotations

import av
import numpy as np
from av.audio.resampler import AudioResampler

from harness.errors import MediaError
from harness.types import Audio

#: Silence added at either end of the span, at most, where the track starts late or ends early: AAC
#: priming and muxers shift a track by a few tens of milliseconds; more than this is a short track.
PAD_TOLERANCE_S = 0.1


def frames_span(timestamps: list[float], period: float, duration: float | None,
                covers_clip: bool) -> tuple[float, float, bool]:
    """The stretch of the clip the sampled frames stand for, and whether it is less than the whole clip.

    A protocol that samples the whole clip (``covers_clip``: uniform, segment, ``fps`` and ``all``, whose
    frames spread over it, seeded picks included) stands for the whole clip once it shows two frames or
    more: its sound is the clip's, start to end. Otherwise (dense, apex, a single frame) the frames
    stand for their own stretch: from the earliest to the latest plus one native frame ``period``, a
    window unless that reaches both ends. Reversed or shuffled frames cover the same span: the sound
    stays in time order."""
    times = sorted(set(timestamps))
    if covers_clip and len(times) >= 2 and duration is not None:
        return 0.0, float(duration), False
    start, end = times[0], times[-1] + period
    if duration is not None:
        end = min(end, duration)
    whole = start <= period / 2 and (duration is None or end >= duration - period / 2)
    return start, end, not whole


def read_audio(path: str, rate: int, start: float, end: float, origin: float, window: bool,
               aligned: bool = True, clip_end: float | None = None) -> Audio:
    """The sound of ``path`` from ``start`` to ``end`` seconds on the frames' clock, whose zero is the
    first displayed frame at ``origin`` seconds of the container's timeline; mono float32 at ``rate``."""
    try:
        with av.open(path) as container:
            if not container.streams.audio:
                raise MediaError(f"{path}: no audio track, but the run asks for the sound (--audio on); "
                                 f"run with --audio off, or use the release's clips that keep their sound")
            stream = container.streams.audio[0]
            stream.codec_context.thread_count = 1
            source_rate = int(stream.codec_context.sample_rate or stream.rate or 0)
            source_channels = int(getattr(stream.codec_context, "channels", 0)
                                  or len(getattr(stream.codec_context.layout, "channels", ())) or 0)
            resampler = AudioResampler(format="flt", layout="mono", rate=rate)
            chunks: list[np.ndarray] = []
            first, damaged, heard_s = None, 0, 0.0
            for packet in container.demux(stream):
                try:
                    decoded = packet.decode()
                except av.error.InvalidDataError:
                    damaged += 1
                    continue
                for frame in decoded:
                    if frame.pts is not None and frame.time_base is not None:
                        at = float(frame.pts * frame.time_base)
                        if first is None:
                            first = at
                        elif abs(at - (first + heard_s)) > PAD_TOLERANCE_S:
                            # joined as if continuous, the rest of the track would drift off the frames
                            raise MediaError(f"{path}: the audio track jumps from {first + heard_s:.3f} s to {at:.3f} s "
                                             f"(a gap or overlap of {at - first - heard_s:+.3f} s), so its sound cannot "
                                             f"be placed on the frames' clock; this sample fails")
                    heard_s += frame.samples / (frame.sample_rate or source_rate or rate)
                    chunks.extend(o.to_ndarray().reshape(-1) for o in resampler.resample(frame))
            chunks.extend(o.to_ndarray().reshape(-1) for o in resampler.resample(None))
    except MediaError:
        raise
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise MediaError(f"{path}: cannot decode the audio track: {exc}") from exc
    if damaged:
        raise MediaError(f"{path}: {damaged} damaged audio packet(s); the sound the model would hear has gaps, "
                         f"so this sample fails (re-encode the clip, or run with --audio off)")
    samples = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)
    if not len(samples):
        raise MediaError(f"{path}: the audio track holds no decodable sound")
    offset = (first - origin) if first is not None else 0.0  # where the track starts on the frames' clock
    i0, i1 = round((start - offset) * rate), round((end - offset) * rate)
    i1 = max(i1, i0 + 1)
    overlap = max(0, min(i1, len(samples)) - max(i0, 0))  # samples of the span the track holds
    padded = (i1 - i0 - overlap) / rate
    # muxing offsets live at the clip's ends: there a span may be padded by the full tolerance; inside the
    # clip at most half of it may be silence
    at_edge = start <= 0.0 or (clip_end is not None and end >= clip_end - 1e-6)
    tolerance = PAD_TOLERANCE_S if at_edge else min(PAD_TOLERANCE_S, (end - start) / 2)
    if overlap == 0 or padded > tolerance:
        covers = (offset, offset + len(samples) / rate)
        raise MediaError(f"{path}: the audio track covers {covers[0]:.3f}-{covers[1]:.3f} s but the sampled frames "
                         f"span {start:.3f}-{end:.3f} s; {padded:.3f} s of their sound are missing (more than "
                         f"{tolerance:.3f} s), so this sample fails")
    before = max(0, -i0)
    cut = samples[max(0, i0):max(0, min(i1, len(samples)))]
    after = (i1 - i0) - before - len(cut)
    if before or after:
        cut = np.concatenate([np.zeros(before, np.float32), cut, np.zeros(after, np.float32)])
    if not np.all(np.isfinite(cut)):
        raise MediaError(f"{path}: the audio track decodes to non-finite samples")
    return Audio(samples=np.ascontiguousarray(cut), rate=rate, start=float(start), end=float(end),
                 source_rate=source_rate, source_channels=source_channels, window=window, padded_s=padded,
                 aligned=aligned)
