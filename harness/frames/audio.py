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

from itertools import chain
from math import gcd

import av
import numpy as np
from av.audio.resampler import AudioResampler

from harness.errors import MediaError
from harness.types import Audio

#: Silence added at either end of the span, at most, where the track starts late or ends early: AAC
#: priming and muxers shift a track by a few tens of milliseconds; more than this is a short track.
PAD_TOLERANCE_S = 0.1
#: A span starting more than this far into the track is decoded from a seek, not from the track's start.
SEEK_AFTER_S = 2.0
#: The seek goes this far before the span: the decoder settles over ``SETTLE_S`` from the first frame it
#: decodes there (a lossy codec's first frame after a seek lacks its overlap: AAC 1024 samples, Opus 80 ms
#: of pre-roll), the resampler's filter over the rest (a few ms); a seek that lands too late falls back
#: to decoding from the start.
SEEK_MARGIN_S = 0.5
SETTLE_S = 0.2
#: FFmpeg's down-mix into float samples is not normalised (stereo at full scale summed to 1.41, 7.1 to
#: 4.3): normalise its matrix so that no output sample is louder than the loudest channel (stereo: the
#: mean of the two; more channels: FFmpeg's standard weights, centre first, LFE left out, scaled to sum 1).
DOWNMIX = {"rematrix_maxval": "1.0"}


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


def _demux(container, stream):
    """The stream's packets from where the container stands (a seam the tests count packets through)."""
    return container.demux(stream)


def _decoded(packets, damaged: list[int]):
    """The frames of ``packets``, counting the damaged ones in ``damaged[0]``."""
    for packet in packets:
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            damaged[0] += 1
            continue
        yield from frames


def _channels(stream) -> int:
    return int(getattr(stream.codec_context, "channels", 0)
               or len(getattr(stream.codec_context.layout, "channels", ())) or 0)


def _trimmed(frame, skip: int):
    """``frame`` without its first ``skip`` samples (planar or packed), on the same clock."""
    data = frame.to_ndarray()
    width = 1 if frame.format.is_planar else len(frame.layout.channels)
    out = av.AudioFrame.from_ndarray(np.ascontiguousarray(data[:, skip * width:]), format=frame.format.name,
                                     layout=frame.layout.name)
    out.sample_rate = frame.sample_rate
    if frame.pts is not None and frame.time_base is not None:
        out.time_base = frame.time_base
        out.pts = frame.pts + round(skip / frame.sample_rate / frame.time_base)
    return out


class _SoughtTooLate(Exception):
    """The seek landed too close to (or past) the span for the decoder and resampler to settle."""


def read_audio(path: str, rate: int, start: float, end: float, origin: float, window: bool,
               aligned: bool = True, clip_end: float | None = None, seek: bool = True) -> Audio:
    """The sound of ``path`` from ``start`` to ``end`` seconds on the frames' clock, whose zero is the
    first displayed frame at ``origin`` seconds of the container's timeline; mono float32 at ``rate``.

    With ``seek`` (the default) only the stretch around the span is decoded: from a seek to
    ``SEEK_MARGIN_S`` before it (when it starts more than ``SEEK_AFTER_S`` into the track) to its end,
    and the samples are the whole-track decode's, bit for bit. ``seek=False`` decodes the whole track,
    start to end: the old path, the reference the tests and ``bench/audio_seek.py`` compare with."""
    try:
        with av.open(path) as container:
            tracks = container.streams.audio
            if not tracks:
                raise MediaError(f"{path}: no audio track, but the run asks for the sound (--audio on); "
                                 f"run with --audio off, or use the release's clips that keep their sound")
            if len(tracks) > 1:
                listed = ", ".join(
                    f"#{s.index}: {_channels(s)} channel{'' if _channels(s) == 1 else 's'}"
                    f"{', ' + s.language if getattr(s, 'language', None) else ''}"
                    f"{', default' if s.disposition & av.stream.Disposition.default else ''}" for s in tracks)
                raise MediaError(f"{path}: {len(tracks)} audio tracks ({listed}); which one the model should hear "
                                 f"is ambiguous, so this sample fails (keep one, e.g. ffmpeg -i CLIP -map 0:v "
                                 f"-map 0:a:N -c copy OUT, or run with --audio off)")
            stream = tracks[0]
            stream.codec_context.thread_count = 1
            source_rate = int(stream.codec_context.sample_rate or stream.rate or 0)
            source_channels = _channels(stream)
            try:
                samples, first, base, complete = _decode(container, stream, path, rate, source_rate,
                                                         start + origin, end + origin, seek)
            except _SoughtTooLate:
                container.seek(0)
                samples, first, base, complete = _decode(container, stream, path, rate, source_rate,
                                                         start + origin, end + origin, False)
    except MediaError:
        raise
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise MediaError(f"{path}: cannot decode the audio track: {exc}") from exc
    if not len(samples) and complete and not base:
        raise MediaError(f"{path}: the audio track holds no decodable sound")
    offset = (first - origin) if first is not None else 0.0  # where the track starts on the frames' clock
    i0, i1 = round((start - offset) * rate), round((end - offset) * rate)
    i1 = max(i1, i0 + 1)
    # ``samples`` are the whole track's from index ``base``; unless ``complete``, the track goes on past i1
    total = base + len(samples) if complete else max(i1, base + len(samples))
    overlap = max(0, min(i1, total) - max(i0, 0))  # samples of the span the track holds
    padded = (i1 - i0 - overlap) / rate
    # muxing offsets live at the clip's ends: there a span may be padded by the full tolerance; inside the
    # clip at most half of it may be silence
    at_edge = start <= 0.0 or (clip_end is not None and end >= clip_end - 1e-6)
    tolerance = PAD_TOLERANCE_S if at_edge else min(PAD_TOLERANCE_S, (end - start) / 2)
    if overlap == 0 or padded > tolerance:
        covers = (offset, offset + total / rate)
        raise MediaError(f"{path}: the audio track covers {covers[0]:.3f}-{covers[1]:.3f} s but the sampled frames "
                         f"span {start:.3f}-{end:.3f} s; {padded:.3f} s of their sound are missing (more than "
                         f"{tolerance:.3f} s), so this sample fails")
    before = max(0, -i0)
    cut = samples[max(0, i0) - base:max(0, min(i1, total)) - base]
    after = (i1 - i0) - before - len(cut)
    if before or after:
        cut = np.concatenate([np.zeros(before, np.float32), cut, np.zeros(after, np.float32)])
    if not np.all(np.isfinite(cut)):
        raise MediaError(f"{path}: the audio track decodes to non-finite samples")
    # the down-mix stays within the loudest channel, but a lossy codec may overshoot full scale a little
    cut = np.clip(cut, -1.0, 1.0)
    return Audio(samples=np.ascontiguousarray(cut, dtype=np.float32), rate=rate, start=float(start),
                 end=float(end), source_rate=source_rate, source_channels=source_channels, window=window,
                 padded_s=padded, aligned=aligned)


def _decode(container, stream, path: str, rate: int, source_rate: int, start: float, end: float,
            seek: bool) -> tuple[np.ndarray, float | None, int, bool]:
    """Decode, down-mix and resample the track for the span ``start``-``end`` (seconds on the container's
    timeline): (samples, the track's first timestamp, the whole-track output index of ``samples[0]``,
    whether the track's end was reached). Without ``seek``: every sample, from the track's start to its end.

    The whole decode's output sample k stands at ``first + k / rate``. A decode from a seek feeds the
    resampler from a source sample on that same grid (a multiple of ``grid`` source samples from the
    first; off it every sample would shift by a fraction of one), ``SETTLE_S`` past the first frame it
    decodes, and stops once the span's last sample is out of the resampler (final: what it puts out
    never depends on what comes later)."""
    g = gcd(source_rate, rate) if source_rate else rate
    grid = source_rate // g if source_rate else 1  # source samples per rate // g output samples
    damaged = [0]
    frames = _decoded(_demux(container, stream), damaged)
    pending, first = [], None
    for frame in frames:  # the track's first timestamp: where its sample 0 stands
        pending.append(frame)
        if frame.pts is not None and frame.time_base is not None:
            first = float(frame.pts * frame.time_base)
            break
    sought = (seek and first is not None and source_rate > 0
              and start - SEEK_MARGIN_S - first > SEEK_AFTER_S)
    if sought:
        tb = stream.time_base
        container.seek(int((start - SEEK_MARGIN_S) / tb), stream=stream, backward=True)
        frames = _decoded(_demux(container, stream), damaged)
    else:
        frames = chain(pending, frames)
    resampler = AudioResampler(format="flt", layout="mono", rate=rate, options=DOWNMIX)
    chunks: list[np.ndarray] = []
    base, have, feed_from, expect = 0, 0, None if sought else 0, None
    stop = round((end - first) * rate) + 1 if seek and first is not None else None
    complete = True
    for frame in frames:
        at = float(frame.pts * frame.time_base) if frame.pts is not None and frame.time_base is not None else None
        if first is None and at is not None:
            first = at
        if at is not None and expect is not None and abs(at - expect) > PAD_TOLERANCE_S:
            # joined as if continuous, the rest of the track would drift off the frames
            raise MediaError(f"{path}: the audio track jumps from {expect:.3f} s to {at:.3f} s "
                             f"(a gap or overlap of {at - expect:+.3f} s), so its sound cannot "
                             f"be placed on the frames' clock; this sample fails")
        expect = (at if at is not None else (expect or 0.0)) + frame.samples / (frame.sample_rate or source_rate or rate)
        if sought:
            if at is None:
                raise _SoughtTooLate
            n = round((at - first) * source_rate)  # the frame's first sample, counted from the track's
            if feed_from is None:
                feed_from = -(-(n + round(SETTLE_S * source_rate)) // grid) * grid
                base = feed_from // grid * (rate // g)
                if base > round((start - first) * rate) - round(0.05 * rate):
                    raise _SoughtTooLate
            if n + frame.samples <= feed_from:
                continue
            if n < feed_from:
                frame = _trimmed(frame, feed_from - n)
        for out in resampler.resample(frame):
            chunks.append(out.to_ndarray().reshape(-1))
            have += len(chunks[-1])
        if stop is not None and base + have >= stop:
            complete = False
            break
    if complete:
        chunks.extend(o.to_ndarray().reshape(-1) for o in resampler.resample(None))
    if damaged[0]:
        raise MediaError(f"{path}: {damaged[0]} damaged audio packet(s); the sound the model would hear has gaps, "
                         f"so this sample fails (re-encode the clip, or run with --audio off)")
    samples = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)
    return samples, first, base, complete
