"""What a model is told about time: one function, and every backend calls it.

The truth is the sampled frames' own times (``Frames.timestamps``: decoded
presentation times, a frame folder's declared rate, or the protocol's stated
nominal clock for media without a time base). :func:`tell` turns them into
what a model family receives, so the same clip and protocol give the same
time positions through transformers, vLLM in-process and a vLLM server:

- **Qwen2.5-VL** encodes time as one number per video: seconds per temporal
  patch (``second_per_grid_ts``, two frames per patch), which transformers
  and vLLM derive from ``VideoMetadata.sampled_fps``; times count from the
  first sampled frame. We state the metadata so
  that this number is the *actual* mean spacing of the sampled frames (a
  dense window of 16 frames spans 0.64 s, not the whole clip). Spacing that is
  not regular cannot be represented: such requests are marked approximate,
  with the largest error in seconds.
- **Qwen3-VL** (and any other family) writes per-frame times into the prompt,
  computed as ``frames_indices / fps``. We state the times exactly on a
  millisecond clock (``fps=1000``, indices in milliseconds).
- **Qwen2-VL** takes no time input at all: only the frame order reaches it.
- **Order-only families** (LLaVA-OneVision, LLaVA-NeXT-Video, Video-LLaVA, InternVL,
  MiniCPM-V, PerceptionLM, InstructBLIP-Video) take no time input either. They are handed the
  exact millisecond clock (as Qwen3-VL is), which their processors do not read, and are recorded
  as told nothing (``conveys_time`` false).

Which model types take which input is declared here (``family_of``); how each family's
processor is driven is in ``harness.plugins.families``.

Frames are always *told* in ascending time, whatever order they are shown
in: a reversed or shuffled ablation is told a natural clip at the sampled
spacing, so the permutation cannot be read back from the prompt or the
position ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.errors import MediaError
from harness.types import Frames

TICKS_PER_SECOND = 1000  # the clock per-frame times are stated on (exact to a millisecond)

QWEN25 = "qwen2.5-vl"
QWEN3 = "qwen3-vl"
QWEN2 = "qwen2-vl"
GENERIC = "generic"
ORDER = "order-only"

_FAMILIES = {"qwen2_5_vl": QWEN25, "qwen2.5-vl": QWEN25, "qwen2_5_omni": QWEN25, "qwen2_5_omni_thinker": QWEN25,
             "qwen2.5-omni": QWEN25, "qwen3_omni_moe": QWEN25, "qwen3_omni_moe_thinker": QWEN25, "qwen3-omni": QWEN25,
             "qwen3_vl": QWEN3, "qwen3_vl_moe": QWEN3, "qwen3-vl": QWEN3,
             "qwen2_vl": QWEN2, "qwen2-vl": QWEN2}
# Model types whose processors take no time input: only the frame order reaches them.
_ORDER_ONLY = ("llava_onevision", "llava_next_video", "video_llava", "internvl", "minicpmv4_6", "perception_lm",
               "instructblipvideo")
_FAMILIES.update({t: ORDER for t in _ORDER_ONLY})
_FAMILIES.update({t.replace("_", "-"): ORDER for t in _ORDER_ONLY})
_FAMILIES[ORDER] = ORDER


def family_of(name: str | None) -> str:
    """The timing family of a model type (``config.model_type``) or a checkpoint name."""
    if not name:
        return GENERIC
    key = str(name).lower()
    if key in _FAMILIES:
        return _FAMILIES[key]
    for marker, family in (("qwen3-vl", QWEN3), ("qwen3_vl", QWEN3), ("qwen2.5-vl", QWEN25),
                           ("qwen2_5_vl", QWEN25), ("qwen2-vl", QWEN2), ("qwen2_vl", QWEN2),
                           ("qwen2.5-omni", QWEN25), ("qwen2_5_omni", QWEN25), ("qwen3-omni", QWEN25),
                           ("qwen3_omni", QWEN25)):
        if marker in key:
            return family
    # served or hub names: llava-hf/LLaVA-NeXT-Video-7B-hf, OpenGVLab/InternVL3-8B-hf, ...
    flat = key.replace("_", "-")
    for marker in ("llava-onevision", "llava-next-video", "video-llava", "internvl", "minicpm-v", "perception-lm",
                   "instructblip"):
        if marker in flat:
            return ORDER
    return GENERIC


@dataclass(frozen=True)
class Told:
    """What one family is told about one request's frames."""

    family: str
    times: list[float]  # seconds told for each presented frame (ascending, whatever the order shown;
    # from the first sampled frame for Qwen2.5-VL, from the clip's first frame otherwise)
    metadata: dict[str, Any]  # VideoMetadata fields: transformers, vLLM's video item, media_io_kwargs
    conveys_time: bool  # False: the family takes no time input (order only)
    max_error_s: float  # largest gap between a told time and the frame's true time
    exact: bool  # within half a source frame of the truth
    time_base: str  # decoded | declared | nominal

    def record(self) -> dict[str, Any]:
        """The per-sample record of what was told (results' per-sample log)."""
        return {"family": self.family, "times": [round(t, 4) for t in self.times],
                "exact": self.exact, "max_error_s": round(self.max_error_s, 4),
                "time_base": self.time_base, "conveys_time": self.conveys_time}


def tell(frames: Frames, family: str) -> Told:
    """The time positions ``family`` receives for ``frames``: the one place this is decided."""
    if frames.timestamps is None or not frames.fps:
        raise MediaError("these frames have no clock (media without a time base and no nominal rate): "
                         "state one with --frames nominal=R, or give the task its real fps")
    truth = sorted(float(t) for t in frames.timestamps)
    k = len(truth)
    period = 1.0 / frames.fps  # the source's mean frame period (or the nominal one)
    tolerance = 0.5 * period + 1e-6
    duration = frames.duration if frames.duration else truth[-1] + period
    if family in (QWEN25, QWEN2):
        spacing = (truth[-1] - truth[0]) / (k - 1) if k > 1 and truth[-1] > truth[0] else period
        # One number per video, counted from the first sampled frame: the start is not conveyed.
        told = [j * spacing for j in range(k)]
        metadata = {"fps": 1.0 / spacing, "frames_indices": list(range(k)), "total_num_frames": k,
                    "duration": k * spacing}
        error = max(abs(a - (b - truth[0])) for a, b in zip(told, truth))
        conveys = family == QWEN25
    else:
        ticks = [int(round(t * TICKS_PER_SECOND)) for t in truth]
        told = [t / TICKS_PER_SECOND for t in ticks]
        metadata = {"fps": float(TICKS_PER_SECOND), "frames_indices": ticks,
                    "total_num_frames": max(int(round(duration * TICKS_PER_SECOND)), ticks[-1] + 1),
                    "duration": duration}
        error = max(abs(a - b) for a, b in zip(told, truth))
        conveys = family != ORDER
    if not conveys:
        error = 0.0
    return Told(family=family, times=told, metadata=metadata, conveys_time=conveys,
                max_error_s=error, exact=error <= tolerance, time_base=frames.time_base)


def summarize(rows: list[dict], nominal_fps: float | None) -> dict[str, Any]:
    """A task's ``timing`` field from its per-sample rows (what each was told, header rates):
    the evaluator and ``harness merge`` both call it."""
    told = [r["told"] for r in rows if r.get("told")]
    out: dict[str, Any] = {"nominal_fps": nominal_fps,
                           "header_disagreements": sum(1 for r in rows if r.get("header_fps"))}
    if told:
        out.update(family=told[0]["family"], time_bases=sorted({t["time_base"] for t in told}),
                   approximate_samples=sum(1 for t in told if not t["exact"]),
                   max_error_s=max(t["max_error_s"] for t in told), conveys_time=told[0]["conveys_time"])
    return out
