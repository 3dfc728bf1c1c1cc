"""The response cache: a model's answer to an exact request, in SQLite (WAL mode).

The key covers everything that can change an answer: the model's identity
(id, revision, dtype, output-affecting arguments), the frame protocol and a
hash of the frames' content, the exact messages, the candidates and their
order, the mode, the seed where the model samples, and a cache format
version. Entries are written batch by batch in one transaction, so a killed
run loses at most the batch in flight; rerunning the same command is the
resume. An entry that does not parse is a miss, counted and reported; a damaged file is moved
aside and replaced by a fresh cache (see :class:`ResponseCache`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import sys
import threading
import time
from pathlib import Path

from harness.errors import HarnessError
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
        # what the model was told about time: a model whose identity leaves out its time family is still
        # never answered from another family's times
        **({"told": request.told.record()} if request.told is not None else {}),
        "seed": request.seed if sampling else None,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


_COLUMNS = ["key", "model", "created", "payload"]


class _Damaged(sqlite3.DatabaseError):
    """The file opens, but its integrity check or its table layout says it is not a sound cache."""


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    """Whether ``exc`` says the file is damaged (not a database, a corrupted page, a torn file), as
    opposed to a passing condition such as a lock held by another process, which is never "repaired"."""
    if isinstance(exc, _Damaged):
        return True
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc).lower()
    return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in text or "not a database" in text


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _warn(message: str) -> None:
    print(f"harness: warning: {message}", file=sys.stderr, flush=True)


class ResponseCache:
    """One SQLite file shared by every run on this machine; safe for concurrent processes.

    A damaged file (truncated, overwritten, a corrupted page, a folder in its place) is detected when
    it is opened (SQLite's ``quick_check``) or when a read or write meets the damage: the file is moved
    aside (``responses.sqlite.damaged-TIME-PID``, kept for inspection), the console says so, and the
    command goes on with a fresh cache, whose answers are recomputed, never invented. Entries that do
    not parse are misses, recomputed, and reported on the console and in the results."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        # The scheduler's prefetch thread looks answers up while the main thread stores them.
        self.lock = threading.RLock()
        self.corrupt: list[str] = []
        self.moved_aside: list[Path] = []  # damaged files this instance moved out of the way
        self._reported_corrupt = 0
        self.db, self._opened = self._open()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), timeout=60, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, "
                       "created REAL NOT NULL, payload TEXT NOT NULL)")
            db.execute("CREATE INDEX IF NOT EXISTS responses_model ON responses (model)")
            columns = [row[1] for row in db.execute("PRAGMA table_info(responses)")]
            if columns != _COLUMNS:
                raise _Damaged(f"its responses table has the columns {columns}, not {_COLUMNS}")
            verdict = [row[0] for row in db.execute("PRAGMA quick_check")]
            if verdict != ["ok"]:
                raise _Damaged(f"integrity check: {'; '.join(map(str, verdict[:3]))}")
        except BaseException:
            db.close()
            raise
        return db

    def _open(self) -> tuple[sqlite3.Connection, tuple[int, int] | None]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HarnessError(f"{self.path.parent}: cannot hold the response cache: {exc.strerror or exc} "
                               f"(choose another --cache-dir, or run with --no-cache)") from None
        for _ in range(3):
            seen = _inode(self.path)
            if self.path.is_dir() or (self.path.exists() and not self.path.is_file()):
                self._move_aside("a folder or other non-file is in its place", seen)
                continue
            try:
                db = self._connect()
            except sqlite3.DatabaseError as exc:
                if not _is_damage(exc):
                    raise HarnessError(f"{self.path}: cannot open the response cache: {exc} (run with --no-cache "
                                       f"to go on without it)") from None
                self._move_aside(str(exc), seen)
                continue
            return db, _inode(self.path)
        raise HarnessError(f"{self.path}: the response cache is damaged again after being moved aside; "
                           f"run with --no-cache and check the disk")

    def _move_aside(self, reason: str, seen: tuple[int, int] | None) -> None:
        """Move the damaged file (and its WAL and shared-memory files) aside, unless another process
        already replaced it (then the file there now is a new one, not the damaged one)."""
        if seen is not None and _inode(self.path) != seen:
            return
        aside = self.path.with_name(f"{self.path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.path}{suffix}")
            if not (source.exists() or source.is_symlink()):
                continue
            try:
                os.replace(source, Path(f"{aside}{suffix}"))
            except FileNotFoundError:
                pass  # moved by another process at the same moment
            except OSError as exc:
                raise HarnessError(f"{self.path}: the response cache is damaged ({reason}) and cannot be moved "
                                   f"aside ({exc.strerror or exc}); remove it (its answers are recomputed) or run "
                                   f"with --no-cache") from None
        self.moved_aside.append(aside)
        _warn(f"the response cache {self.path} is damaged ({reason}); moved it aside to {aside.name} and "
              f"started a fresh one: its answers are recomputed, never taken from the damaged file")

    def _recover(self, exc: sqlite3.DatabaseError) -> None:
        """Damage met mid-run: set the damaged file aside and continue on a fresh cache."""
        with self.lock:
            with contextlib.suppress(sqlite3.Error):
                self.db.close()
            self._move_aside(str(exc), self._opened)
            self.db, self._opened = self._open()

    def _guarded(self, work, fallback=None):
        """``work()``; on damage, recover and try once more on the fresh cache (``fallback()`` instead,
        when given: a lookup on a fresh cache finds nothing)."""
        try:
            return work()
        except sqlite3.DatabaseError as exc:
            if not _is_damage(exc):
                raise
            self._recover(exc)
        return fallback() if fallback is not None else work()

    def get_many(self, keys: list[str]) -> dict[str, Response]:
        found: dict[str, Response] = {}

        def select() -> list:
            rows = []
            for start in range(0, len(keys), 500):
                part = keys[start:start + 500]
                marks = ",".join("?" * len(part))
                rows += self.db.execute(f"SELECT key, payload FROM responses WHERE key IN ({marks})", part).fetchall()
            return rows

        with self.lock:
            rows = self._guarded(select, fallback=list)
        torn = 0
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
                torn += 1
                with self.lock:
                    self.corrupt.append(key)  # a torn or edited entry: never trusted, recomputed
        if torn:
            with self.lock:
                first = self._reported_corrupt == 0
                self._reported_corrupt += torn
            if first:
                _warn(f"{torn} entr{'y' if torn == 1 else 'ies'} of the response cache {self.path} did not parse; "
                      f"recomputed, not trusted (the results count them as corrupt_cache_entries)")
        return found

    def put_many(self, model: str, items: list[tuple[str, Response]]) -> None:
        rows = [(key, model, time.time(), json.dumps({"text": r.text, "scores": r.scores, "variants": r.variants,
                                                     "meta": r.meta}, allow_nan=False))
                for key, r in items]

        def insert() -> None:
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)", rows)

        with self.lock:
            self._guarded(insert)

    def info(self) -> list[tuple[str, int]]:
        with self.lock:
            return self._guarded(lambda: list(self.db.execute(
                "SELECT model, COUNT(*) FROM responses GROUP BY model ORDER BY model")))

    def clear(self, model: str | None = None) -> int:
        def delete() -> int:
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                if model is None:
                    cur = self.db.execute("DELETE FROM responses")
                else:
                    cur = self.db.execute("DELETE FROM responses WHERE model = ?", (model,))
            self.db.execute("VACUUM")
            return cur.rowcount

        with self.lock:
            return self._guarded(delete, fallback=lambda: 0)

    def close(self) -> None:
        self.db.close()
