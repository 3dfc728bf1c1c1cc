"""Publishing the leaderboard: a static site in a folder, on a git branch, or on the Hugging Face Hub.

The site is the viewer (``harness/viewer``: one HTML page, a small script and
a stylesheet, no build step and nothing remote), the board as
``leaderboard.json``, and one detail file per row under ``details/`` (per-class
recall, confusion matrix, source and protocol notes), for readers of the data
who do not use the viewer.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import shutil
import subprocess
import tempfile
from functools import partial
from importlib import resources
from pathlib import Path

from harness import leaderboard, results
from harness.errors import UsageError

VIEWER_FILES = ("index.html", "viewer.js", "viewer.css")
DETAIL_FIELDS = ("kind", "model", "task", "uar", "war", "macro_f1", "n", "frame_protocol", "frames_words",
                 "prompt_template", "per_class_recall", "class_support", "confusion", "source", "protocol",
                 "input", "answer_mapping", "status", "notes", "basis", "model_identity", "model_revision",
                 "backend", "backend_version", "harness_version", "harness_commit")


def build_site(board_path: str | Path, folder: str | Path) -> Path:
    """Write the static site for the board at ``board_path`` into ``folder``."""
    board = leaderboard.load_board(board_path)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    viewer = resources.files("harness.viewer")
    for name in VIEWER_FILES:
        (folder / name).write_text(viewer.joinpath(name).read_text(encoding="utf-8"), encoding="utf-8")
    results.write_json(folder / "leaderboard.json", board, "leaderboard")
    details = folder / "details"
    if details.exists():
        shutil.rmtree(details)
    details.mkdir()
    for row in board["rows"]:
        name = hashlib.sha256(row["key"].encode()).hexdigest()[:16]
        (details / f"{name}.json").write_text(
            json.dumps({k: row[k] for k in DETAIL_FIELDS if k in row}, indent=1, ensure_ascii=False) + "\n",
            encoding="utf-8")
    return folder


def publish(board_path: str | Path, target: str, message: str = "Publish the dfer-harness leaderboard") -> str:
    """``DIR``, ``git:REMOTE[#BRANCH]`` or ``hf:datasets/ORG/NAME``; returns where it went."""
    if target.startswith("git:"):
        remote, _, branch = target[4:].partition("#")
        return _publish_git(board_path, remote, branch or "gh-pages", message)
    if target.startswith("hf:"):
        return _publish_hub(board_path, target[3:], message)
    return str(build_site(board_path, target))


def _git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise UsageError(f"git {' '.join(args)} failed: {out.stderr.strip() or out.stdout.strip()}")
    return out.stdout


def _publish_git(board_path, remote: str, branch: str, message: str) -> str:
    with tempfile.TemporaryDirectory(prefix="harness-publish-") as tmp:
        work = Path(tmp) / "site"
        cloned = subprocess.run(["git", "clone", "-q", "--depth", "1", "--branch", branch, remote, str(work)],
                                capture_output=True, text=True)
        if cloned.returncode != 0:  # no such branch yet: start it
            work.mkdir()
            _git(work, "init", "-q")
            _git(work, "checkout", "-q", "-b", branch)
            _git(work, "remote", "add", "origin", remote)
        for child in work.iterdir():
            if child.name != ".git":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        build_site(board_path, work)
        (work / ".nojekyll").write_text("")  # GitHub Pages: serve the files as they are
        _git(work, "add", "-A")
        if not _git(work, "status", "--porcelain").strip():
            return f"{remote}#{branch} (unchanged)"
        _git(work, "-c", "user.name=dfer-harness", "-c", "user.email=harness@localhost", "commit", "-q", "-m", message)
        _git(work, "push", "-q", "origin", f"HEAD:{branch}")
    return f"{remote}#{branch}"


def _publish_hub(board_path, target: str, message: str) -> str:
    kind, _, repo_id = target.partition("/")
    if kind not in ("datasets", "spaces") or repo_id.count("/") != 1:
        raise UsageError(f"hf:{target}: expected hf:datasets/ORG/NAME (or hf:spaces/ORG/NAME)")
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise UsageError('publishing to the Hub needs huggingface_hub: pip install huggingface_hub') from None
    with tempfile.TemporaryDirectory(prefix="harness-publish-") as tmp:
        build_site(board_path, tmp)
        HfApi().upload_folder(folder_path=tmp, repo_id=repo_id, repo_type=kind[:-1], commit_message=message)
    return f"https://huggingface.co/{kind}/{repo_id}"


def serve(board_path: str | Path, port: int = 8000, host: str = "127.0.0.1") -> None:
    """Serve the site for local use until interrupted (the viewer fetches JSON: it needs HTTP)."""
    with tempfile.TemporaryDirectory(prefix="harness-site-") as tmp:
        build_site(board_path, tmp)
        handler = partial(http.server.SimpleHTTPRequestHandler, directory=tmp)
        with http.server.ThreadingHTTPServer((host, port), handler) as httpd:
            print(f"serving {board_path} at http://{host}:{httpd.server_address[1]}/ (Ctrl-C stops)")
            try:
                httpd.serve_forever()
            except KeyboardInterrupt:
                pass


def export_eval_results(board_path: str | Path, model: str, out: str | Path = ".eval_results",
                        source_url: str | None = None, dataset_ids: dict[str, str] | None = None) -> list[Path]:
    """Hugging Face ``.eval_results/*.yaml`` files for a model card: one file per task and frame
    protocol holding UAR and WAR (percent), with the source and the protocol in ``notes``. The Hub
    ties results to a dataset repository: ``dataset_ids`` maps task names to them (default: the
    task name itself, to be edited)."""
    import datetime as _dt

    import yaml

    rows = [r for r in leaderboard.load_board(board_path)["rows"]
            if r.get("kind", "measured") == "measured" and r["model"] == model and not r.get("partial")]
    if not rows:
        raise UsageError(f"the board has no complete measured row of model {model!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for r in rows:
        dataset = (dataset_ids or {}).get(r["task"].split(":")[0].split("/")[0], r["task"])
        date = r["created_at"][:10] if r.get("created_at") else _dt.date.today().isoformat()
        frames = r.get('frames_words') or r['frame_protocol']
        notes = (f"dfer-harness {r['harness_version']}; task {r['task']}; frames: {frames}; "
                 f"prompt {r['prompt_template']}; n={r['n']}")
        source = {"url": source_url or "https://github.com/", "name": "dfer-harness leaderboard"}
        entries = [{"dataset": {"id": dataset, "task_id": metric}, "value": round(100 * r[metric], 2), "date": date,
                    "source": source, "notes": notes} for metric in ("uar", "war")]
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{r['task']}_{r['frame_protocol']}_{r['prompt_template']}")
        path = out / f"{name}.yaml"
        path.write_text(yaml.safe_dump(entries, sort_keys=False, allow_unicode=True), encoding="utf-8")
        written.append(path)
    return written
