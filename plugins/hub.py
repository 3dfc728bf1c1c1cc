"""Checkpoints from the Hugging Face hub or a local folder, shared by the ``hf`` and ``vllm`` plugins.

Offline first: a local folder or the local hub cache is used without any
network; the hub is tried only when one quick connection succeeds, so an
offline machine fails in seconds with a message that says how to bring the
checkpoint (:class:`harness.CheckpointUnavailable`). Nothing here imports
torch or loads weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from harness.errors import CheckpointUnavailable


def hub_reachable(timeout: float = 5.0) -> bool:
    """One quick TCP connect to the hub, so that an offline machine fails in seconds, not minutes."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def from_pretrained(loader, name: str, **kwargs):
    """``loader.from_pretrained`` from the local cache first, then the hub if it is reachable."""
    if Path(name).expanduser().is_dir():
        return loader.from_pretrained(str(Path(name).expanduser()), **kwargs)
    try:
        return loader.from_pretrained(name, local_files_only=True, **kwargs)
    except OSError as local_error:
        if not hub_reachable():
            raise unavailable(name, str(local_error)) from None
    try:
        return loader.from_pretrained(name, **kwargs)
    except OSError as exc:
        raise CheckpointUnavailable(f"checkpoint {name!r} could not be loaded: {exc}") from None


def cuda_present() -> bool:
    """Whether an NVIDIA driver is present, without importing torch (listing and cached reruns stay light)."""
    return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidiactl")


def describe(name: str, revision: str | None) -> tuple[str | None, str, bool]:
    """(revision, model type, present here) without loading the model: for a local folder a hash
    of its files, for a hub checkpoint in the local cache its commit hash."""
    local = Path(name).expanduser()
    config = local / "config.json" if local.is_dir() else None
    rev = revision
    if config is None:
        try:
            from huggingface_hub import try_to_load_from_cache
            found = try_to_load_from_cache(name, "config.json", revision=revision)
        except Exception:  # no hub library, or a malformed name: described after loading
            found = None
        if isinstance(found, str):
            config = Path(found)
            rev = config.parent.name  # .../snapshots/<commit>/config.json
    elif not revision:
        h = hashlib.sha256()
        for f in sorted(local.iterdir()):
            if f.is_file():
                h.update(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}\n".encode())
        rev = f"local-{h.hexdigest()[:16]}"
    try:
        family = json.loads(config.read_text()).get("model_type", "unknown") if config else "unknown"
    except (OSError, ValueError):
        family = "unknown"
    return rev, family, config is not None and config.is_file()


def local_folder(name: str, revision: str | None = None) -> Path | None:
    """The folder holding a checkpoint's files here (a local folder, or its snapshot in the hub cache), or
    None when it is not here."""
    local = Path(name).expanduser()
    if local.is_dir():
        return local
    try:
        from huggingface_hub import try_to_load_from_cache
        found = try_to_load_from_cache(name, "config.json", revision=revision if revision and
                                       not revision.startswith("local-") else None)
    except Exception:  # no hub library, or a malformed name
        return None
    return Path(found).parent if isinstance(found, str) else None


def declared_video_size(name: str, revision: str | None) -> dict[str, Any] | None:
    """The video processor's pixel bounds as the checkpoint's files declare them (read without
    loading anything): ``{"min_pixels", "max_pixels", "source"}``, or None when no file says."""
    local = Path(name).expanduser()
    for filename, section in (("video_preprocessor_config.json", None), ("processor_config.json", "video_processor"),
                              ("preprocessor_config.json", None)):
        path = local / filename if local.is_dir() else None
        if path is None:
            try:
                from huggingface_hub import try_to_load_from_cache
                found = try_to_load_from_cache(name, filename, revision=revision if revision and
                                               not revision.startswith("local-") else None)
            except Exception:
                found = None
            path = Path(found) if isinstance(found, str) else None
        if path is None or not path.is_file():
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        data = data.get(section, {}) if section else data
        size = data.get("size") or {}
        low = size.get("shortest_edge", data.get("min_pixels"))
        high = size.get("longest_edge", data.get("max_pixels"))
        if low is not None or high is not None:
            return {"min_pixels": low, "max_pixels": high, "source": filename}
    return None


def unavailable(name: str, detail: str = "") -> CheckpointUnavailable:
    """The error for a checkpoint that is neither here nor reachable, saying how to bring it."""
    return CheckpointUnavailable(
        f"checkpoint {name!r} is not in the local Hugging Face cache and the hub cannot be reached "
        f"from this machine. Fetch it where there is network (`hf download {name}`, then copy "
        f"~/.cache/huggingface), or pass pretrained=/path/to/a/local/folder." + (f" ({detail})" if detail else ""))
