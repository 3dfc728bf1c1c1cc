"""One sample's frames, from a video file or a folder of frame images."""

from __future__ import annotations

import os

from harness.errors import MediaError
from harness.frames.folder import read_frame_folder
from harness.frames.video import read_frames
from harness.types import FrameProtocol, Frames, Sample


def load_frames(sample: Sample, protocol: FrameProtocol) -> Frames:
    """Decode the frames ``protocol`` selects from the sample's video or frame folder."""
    meta = sample.meta or {}
    apex = (float(meta["apex_start"]), float(meta["apex_end"])) if "apex_start" in meta and "apex_end" in meta \
        else None
    if os.path.isdir(sample.media):
        if protocol.audio_rate:
            raise MediaError(f"{sample.media}: a folder of frame images carries no sound, but the run asks for it "
                             f"(--audio on); run with --audio off, or point the task at the release's video clips")
        return read_frame_folder(sample.media, protocol, sample.id, sample.fps, apex)
    return read_frames(sample.media, protocol, sample.id, apex)
