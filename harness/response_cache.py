"""The response cache: a model's answer to an exact request, in SQLite (WAL mode).

The key covers everything that can change an answer: the model's identity
(id, revision, dtype, output-affecting arguments), the frame protocol and a
hash of the frames' content, the exact messages, the candidates and their
order, the mode, the seed where the model samples, and a cache format
version. Entries are written batch by batch in one transaction, so a killed
run loses at most the batch in flight; rerunning the same command is the
resume. An entry that does not parse is a miss, counted and reported.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path

from harness.types import Request, Response

CACHE_VERSION = 1


def request_key(identity: dict, protocol: dict, request: Request, sampling: bool = False) -> str:
    frames = request.frames
    payload = {
        "v": CACHE_VERSION, "model": identity, "protocol": protocol,
        "frames": [frames.content_digest(), list(frames.array.shape), list(frames.indices), frames.fps,
                   frames.total_frames],
        "messages": request.messages, "choices": list(request.choices),
        "answer_keys": list(request.answer_keys), "mode": request.mode,
        **({"answer_format": request.answer_format} if request.answer_format != "free" else {}),
        "seed": request.seed if sampling else None,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class ResponseCache:
    """One SQLite file shared by every run on this machine; safe for concurrent processes."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The scheduler's prefetch thread looks answers up while the main thread stores them.
        self.lock = threading.RLock()
        self.db = sqlite3.connect(str(self.path), timeout=60, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, "
                        "created REAL NOT NULL, payload TEXT NOT NULL)")
        self.db.execute("CREATE INDEX IF NOT EXISTS responses_model ON responses (model)")
        self.corrupt: list[str] = []

    def get_many(self, keys: list[str]) -> dict[str, Response]:
        found: dict[str, Response] = {}
        with self.lock:
            rows = []
            for start in range(0, len(keys), 500):
                part = keys[start:start + 500]
                marks = ",".join("?" * len(part))
                rows += self.db.execute(f"SELECT key, payload FROM responses WHERE key IN ({marks})", part).fetchall()
        for key, payload in rows:
            try:
                data = json.loads(payload)
                found[key] = Response(text=data["text"], scores=data.get("scores"),
                                      variants=dict(data.get("variants") or {}),
                                      meta=dict(data.get("meta") or {}))
                if not (found[key].text is None or isinstance(found[key].text, str)):
                    raise TypeError("text is not a string")
            except (ValueError, KeyError, TypeError, AttributeError):
                found.pop(key, None)
                with self.lock:
                    self.corrupt.append(key)  # a torn or edited entry: never trusted, recomputed
        return found

    def put_many(self, model: str, items: list[tuple[str, Response]]) -> None:
        rows = [(key, model, time.time(), json.dumps({"text": r.text, "scores": r.scores, "variants": r.variants,
                                                     "meta": r.meta}, allow_nan=False))
                for key, r in items]
        with self.lock, self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)", rows)

    def info(self) -> list[tuple[str, int]]:
        return list(self.db.execute("SELECT model, COUNT(*) FROM responses GROUP BY model ORDER BY model"))

    def clear(self, model: str | None = None) -> int:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            if model is None:
                cur = self.db.execute("DELETE FROM responses")
            else:
                cur = self.db.execute("DELETE FROM responses WHERE model = ?", (model,))
        self.db.execute("VACUUM")
        return cur.rowcount

    def close(self) -> None:
        self.db.close()
