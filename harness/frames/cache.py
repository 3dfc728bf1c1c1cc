"""The frame cache: it holds decoded, resized frames keyed by the clip's identity
(path, size, modification time) and the frame protocol, so a second model on
the same task decodes nothing. Entries are written to a temporary file and
renamed, so two processes filling it at once never see half an entry; an
unreadable entry is a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from harness.types import Audio, FrameProtocol, Frames, Sample

CACHE_VERSION = 2  # 2: decoded presentation times, time base, duration
AUDIO_VERSION = 2  # entries with sound (--audio on): how the track is cut, placed and downmixed (2: mono is the
# channels' weighted mean, no louder than the loudest, not their sum); pictures-only keys never carry it


class FrameCache:
    """A folder of ``.npz`` entries, one per (clip, protocol)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def key(self, sample: Sample, protocol: FrameProtocol) -> str | None:
        try:
            st = os.stat(sample.media)
        except OSError:
            return None  # a missing clip is never cached: decoding reports it
        identity = {"v": CACHE_VERSION, "path": os.path.abspath(sample.media), "size": st.st_size,
                    "mtime": st.st_mtime_ns, "fps": sample.fps, "protocol": protocol.to_dict(),
                    # seeded orders and random segments depend on the sample id
                    "id": sample.id}
        if protocol.audio_rate:
            identity["audio_v"] = AUDIO_VERSION
        if os.path.isdir(sample.media):
            identity["files"] = len(os.listdir(sample.media))
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def has(self, sample: Sample, protocol: FrameProtocol) -> bool:
        key = self.key(sample, protocol)
        return key is not None and self._path(key).is_file()

    def get(self, key: str) -> Frames | None:
        path = self._path(key)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                sound = meta.get("audio")
                audio = Audio(samples=data["audio"], **sound) if sound is not None else None
                return Frames(array=data["array"], indices=meta["indices"],
                              timestamps=meta["timestamps"], fps=meta["fps"],
                              total_frames=meta["total_frames"], time_base=meta["time_base"],
                              duration=meta["duration"], header_fps=meta["header_fps"],
                              digest=meta.get("digest"), audio=audio)
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError):
            return None

    def put(self, key: str, frames: Frames) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = json.dumps({"indices": frames.indices, "timestamps": frames.timestamps,
                           "fps": frames.fps, "total_frames": frames.total_frames,
                           "time_base": frames.time_base, "duration": frames.duration,
                           "header_fps": frames.header_fps, "digest": frames.content_digest(),
                           "audio": None if frames.audio is None else {
                               k: getattr(frames.audio, k) for k in ("rate", "start", "end", "source_rate",
                                                                     "source_channels", "window", "padded_s", "aligned")}})
        arrays = {"array": frames.array, "meta": np.array(meta)}
        if frames.audio is not None:  # the sound beside the frames, in the same entry
            arrays["audio"] = frames.audio.samples
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
