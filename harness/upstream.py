"""Library releases that change what a family sees, so that a user is told when theirs is one.

The same checkpoint and the same frames give a different prompt under some library releases, and so
different numbers. Each entry is read from the releases' published source (the wheels on PyPI), not
guessed; docs/timing.md shows the table. ``notes`` is what the ``hf`` plugin prints at load and
records with the model, and what ``harness check model`` reports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Change:
    package: str
    families: tuple[str, ...]  # harness family names it affects
    first: str  # the first release that shows it
    fixed: str | None  # the first release without it again (None: still there)
    what: str  # what the model sees differently, in words
    source: str  # where it was read

    def affects(self, version: str | None) -> bool:
        got = _parse(version)
        if got is None:
            return False
        return _parse(self.first) <= got and (self.fixed is None or got < _parse(self.fixed))


CHANGES: tuple[Change, ...] = (
    Change("transformers", ("qwen3-vl",), "5.10.0", "5.25.0",
           "an extra <|vision_start|> ... <|vision_end|> pair around all of a video's frames (each frame is already "
           "wrapped in its own pair); the released Qwen3-VL processor and 5.0-5.9 and 5.25 collapse the chat "
           "template's outer pair",
           "Qwen3VLProcessor in transformers/models/qwen3_vl/processing_qwen3_vl.py of the 5.9.0, 5.10.0, 5.10.1, "
           "5.24.0 and 5.25.0 wheels: 5.9.0 replaces the whole <|vision_start|><|video_pad|><|vision_end|> "
           "with the per-frame placeholder, 5.10.0-5.24.0 replace only <|video_pad|>, 5.25.0 "
           "(get_text_with_replacements) collapses the wrapper again"),
    Change("transformers", ("qwen2-vl", "qwen2.5-vl"), "5.3.0", None,
           "the text after a video restarts at the video's start plus its larger spatial side (max(h, w) / merge), "
           "not one past the video's largest position as in Qwen's own code, transformers 5.0-5.2 and vLLM: once the "
           "video's temporal positions run past that (Qwen2.5-VL at 16 frames: clips over about 6.9 s; Qwen2-VL: "
           "over 24 frames), the answer's positions overlap the video's and its scores move (docs/timing.md)",
           "get_rope_index in transformers/models/qwen2_vl/modeling_qwen2_vl.py and qwen2_5_vl/modeling_qwen2_5_vl.py "
           "of the 5.2.0 wheel (st_idx = llm_pos_ids_list[-1].max() + 1) and of the 5.3.0 and 5.25.0 wheels "
           "(current_pos += max(grid_thw[1], grid_thw[2]) // spatial_merge_size); measured against vLLM 0.32 in "
           "tests/vllm_cpu"),
)


def _parse(text: str | None) -> tuple[int, ...] | None:
    match = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", str(text or "").strip())
    return tuple(int(x or 0) for x in match.groups()) if match else None


def notes(family: str | None, versions: dict[str, str | None]) -> list[str]:
    """One warning per known change that the installed ``versions`` (package -> version) put in front of
    ``family``, saying what it sees and which releases do not show it."""
    out = []
    for change in CHANGES:
        version = versions.get(change.package)
        if family in change.families and change.affects(version):
            avoid = f"<{change.first} or >={change.fixed}" if change.fixed else f"<{change.first}"
            out.append(f"{change.package} {version} changes what {family} sees: {change.what}; numbers from this "
                       f"release are not comparable with {change.package}{avoid} (install one of those to match)")
    return out
