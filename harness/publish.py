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
import subprocess
import tempfile
from functools import partial
from importlib import resources
from pathlib import Path

from harness import leaderboard, results
from harness.errors import UsageError

VIEWER_FILES = ("index.html", "viewer.js", "viewer.css")
DETAIL_FIELDS = ("kind", "model", "task", "uar", "war", "macro_f1", "uar_std", "war_std", "splits", "n", "frame_protocol",
                 "modality", "trained_on", "trained_on_words", "frames_words", "prompt_template", "per_class_recall",
                 "class_support", "confusion", "source", "protocol", "input", "answer_mapping", "status", "notes",
                 "basis", "per_split", "counts_source", "model_identity", "model_revision", "backend",
                 "backend_version", "harness_version", "harness_commit")
#: The list of files publishing wrote into a target, with their SHA-256: only these are ever replaced
#: or removed by a later publish, and only while their content is still what was written.
MANIFEST = ".dfer-harness-site.json"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def site_files(board_path: str | Path, nojekyll: bool = False) -> dict[str, bytes]:
    """Every file of the site for the board at ``board_path``, by path relative to the site's root."""
    board = leaderboard.load_board(board_path)
    viewer = resources.files("harness.viewer")
    files = {name: viewer.joinpath(name).read_bytes() for name in VIEWER_FILES}
    results.validate(board, "leaderboard")
    files["leaderboard.json"] = results.json_bytes(Path("leaderboard.json"), board, indent=1, ensure_ascii=False) + b"\n"
    for row in board["rows"]:
        name = hashlib.sha256(row["key"].encode()).hexdigest()[:16]
        files[f"details/{name}.json"] = (json.dumps({k: row[k] for k in DETAIL_FIELDS if k in row}, indent=1,
                                                    ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
    if nojekyll:
        files[".nojekyll"] = b""  # GitHub Pages: serve the files as they are
    return files


def _read_manifest(folder: Path) -> dict[str, str] | None:
    """The files an earlier publish wrote into ``folder`` (None: it holds no manifest of ours)."""
    path = folder / MANIFEST
    if not path.is_file() or path.is_symlink():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        files = data["files"]
        if data.get("generator") != "dfer-harness" or not isinstance(files, dict):
            return None
        return {str(k): str(v) for k, v in files.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _file_digest(path: Path) -> str | None:
    try:
        return None if path.is_symlink() or not path.is_file() else _digest(path.read_bytes())
    except OSError:
        return None


def write_site(folder: str | Path, files: dict[str, bytes], force: bool = False,
               ignore: tuple[str, ...] = ()) -> list[str]:
    """Write ``files`` into ``folder`` touching only what publishing owns.

    A folder that is new, empty, or holds the manifest of an earlier publish is written to; any other
    non-empty folder is refused unless ``force`` (the site is then added beside what is there). A
    file of the site's that exists but was not written by publishing is refused unless ``force``
    (it is then overwritten). Files of an earlier publish that the site no longer has are removed
    only while unchanged; nothing else is ever deleted. Returns the files kept that were left alone
    (changed since they were published). ``ignore``: names at the top level that are not content
    (``.git``)."""
    folder = Path(folder)
    try:
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"{folder}: exists and is not a folder; publish into a folder")
        owned = _read_manifest(folder) if folder.is_dir() else None
        present = [p.name for p in folder.iterdir() if p.name not in ignore] if folder.is_dir() else []
        if owned is None and present and not force:
            raise UsageError(f"{folder} is not empty ({len(present)} entries, e.g. {sorted(present)[0]!r}) and holds no "
                             f"{MANIFEST}, so it was not written by 'harness leaderboard publish'. Publish into a new "
                             f"or empty folder, or pass --force to add the site beside what is there (files of the "
                             f"same name are overwritten; nothing is deleted)")
        owned = owned or {}
        for rel in files:
            target = folder / rel
            for parent in list(Path(rel).parents)[:-1]:
                if (folder / parent).is_symlink() or ((folder / parent).exists() and not (folder / parent).is_dir()):
                    raise UsageError(f"{folder / parent}: not a plain folder; the site cannot be written under it")
            if target.is_symlink() or target.is_dir():
                raise UsageError(f"{target}: is a link or a folder where the site has a file; move it away first")
            if target.exists() and not force and owned.get(rel) != _file_digest(target) and rel != MANIFEST:
                why = "was changed since it was published" if rel in owned else "was not written by publish"
                raise UsageError(f"{target} exists and {why}; move it away, or pass --force to overwrite it")
        folder.mkdir(parents=True, exist_ok=True)
        for rel, data in files.items():
            results.write_bytes_atomic(folder / rel, data)
        kept = []
        for rel, digest in owned.items():
            if rel in files:
                continue
            target = folder / rel
            if _file_digest(target) == digest:
                target.unlink()
                parent = target.parent
                while parent != folder and not any(parent.iterdir()):
                    parent.rmdir()
                    parent = parent.parent
            elif target.exists() or target.is_symlink():
                kept.append(rel)  # changed by someone since: no longer the site's to delete
        manifest = {"generator": "dfer-harness", "note": "files written by 'harness leaderboard publish'; "
                    "only these are replaced or removed by a later publish",
                    "files": {rel: _digest(data) for rel, data in sorted(files.items())}}
        results.write_bytes_atomic(folder / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())
    except OSError as exc:
        raise UsageError(f"cannot write the site to {folder}: {exc.strerror or exc}") from None
    return kept


def build_site(board_path: str | Path, folder: str | Path, force: bool = False, nojekyll: bool = False) -> Path:
    """Write the static site for the board at ``board_path`` into ``folder`` (see :func:`write_site`)."""
    write_site(folder, site_files(board_path, nojekyll=nojekyll), force=force)
    return Path(folder)


def publish(board_path: str | Path, target: str, message: str = "Publish the dfer-harness leaderboard",
            force: bool = False) -> str:
    """``DIR``, ``git:REMOTE[#BRANCH]`` or ``hf:datasets/ORG/NAME``; returns where it went. Only the
    site's own files are written or removed (see :func:`write_site`); ``force`` adds the site to a
    non-empty folder or branch that publishing did not create. A board whose rows fail their checks
    (a measured row that disagrees with its own confusion matrix, :func:`leaderboard.check_rows`) is
    refused before any target is touched."""
    leaderboard.load_board(board_path)  # DataError names the row and the field; nothing is published
    if target.startswith("git:"):
        remote, _, branch = target[4:].partition("#")
        return _publish_git(board_path, remote, branch or "gh-pages", message, force)
    if target.startswith("hf:"):
        return _publish_hub(board_path, target[3:], message)
    return str(build_site(board_path, target, force=force))


def _git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise UsageError(f"git {' '.join(args)} failed: {_one_line(out.stderr or out.stdout)}")
    return out.stdout


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.splitlines() if line.strip()) or "no message"


def check_git_target(remote: str, branch: str) -> None:
    """A usable ``git:REMOTE#BRANCH`` (checked before anything is built)."""
    if not remote.strip():
        raise UsageError("--to git:REMOTE[#BRANCH]: the remote is missing (e.g. git:git@github.com:ORG/NAME.git#gh-pages)")
    if remote.startswith("-") or branch.startswith("-"):
        raise UsageError(f"--to git:{remote}#{branch}: a remote or branch cannot start with '-'")
    ok = subprocess.run(["git", "check-ref-format", "--branch", branch], capture_output=True, text=True)
    if ok.returncode != 0:
        raise UsageError(f"--to git:{remote}#{branch}: {branch!r} is not a valid branch name")


def _publish_git(board_path, remote: str, branch: str, message: str, force: bool = False) -> str:
    check_git_target(remote, branch)
    files = site_files(board_path, nojekyll=True)
    with tempfile.TemporaryDirectory(prefix="harness-publish-") as tmp:
        work = Path(tmp) / "site"
        heads = subprocess.run(["git", "ls-remote", "--heads", "--", remote, f"refs/heads/{branch}"],
                               capture_output=True, text=True)
        if heads.returncode != 0:
            raise UsageError(f"git ls-remote {remote} failed: {_one_line(heads.stderr or heads.stdout)}")
        if heads.stdout.strip():
            _git(Path(tmp), "clone", "-q", "--depth", "1", "--branch", branch, "--", remote, str(work))
        else:  # no such branch yet: start it
            work.mkdir()
            _git(work, "init", "-q")
            _git(work, "checkout", "-q", "-b", branch)
            _git(work, "remote", "add", "origin", remote)
        try:
            write_site(work, files, force=force, ignore=(".git",))
        except UsageError as exc:
            raise UsageError(str(exc).replace(str(work), f"branch {branch} of {remote}")) from None
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


def check_port(port: int) -> None:
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port}: a TCP port is 0..65535 (0: any free port)")


def serve(board_path: str | Path, port: int = 8000, host: str = "127.0.0.1") -> None:
    """Serve the site for local use until interrupted (the viewer fetches JSON: it needs HTTP)."""
    check_port(port)
    with tempfile.TemporaryDirectory(prefix="harness-site-") as tmp:
        build_site(board_path, tmp)
        handler = partial(http.server.SimpleHTTPRequestHandler, directory=tmp)
        try:
            server = http.server.ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise UsageError(f"cannot serve at {host}:{port}: {exc.strerror or exc}") from None
        with server as httpd:
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
