"""``harness merge``: shard results (``--shard i/N --log-samples``) into one results document.

The per-sample logs of all shards are put back in the split's order and the
metrics are recomputed by the same code as a run's, so the merged document
has exactly the metrics of an unsharded run. Shards must come from the same
model, tasks and settings, and every shard 0..N-1 must be there once.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from harness import results, samplelog
from harness.errors import DataError
from harness.evaluator import RunOutput

# Settings that must agree between shards (everything but the shard itself).
SAME = ("tasks", "model", "model_args", "limit", "seed", "frames", "prompt", "choice_order", "choice_seed",
        "strategy", "bootstrap_rounds", "reasoning_tags", "answer_format", "audio")


def _files(inputs: list[Path]) -> list[Path]:
    files: list[Path] = []
    for p in inputs:
        if p.is_dir():
            found = sorted(p.glob("results_*.json"))
            if not found:
                raise DataError(f"{p}: no results_*.json in this folder")
            files.extend(found)
        else:
            files.append(p)
    return files


def merge(inputs: list[Path], out_dir: Path, command: list[str] | None = None) -> RunOutput:
    files = _files(inputs)
    docs = [(f, results.load(f)) for f in files]
    first_path, first = docs[0]
    shards: dict[int, Path] = {}
    counts = set()
    for path, doc in docs:
        shard = doc["config"].get("shard")
        if not shard:
            raise DataError(f"{path}: not a shard (run with --shard i/N)")
        if doc.get("aborted"):
            raise DataError(f"{path}: this shard's run was aborted; rerun it (its answers are cached) and merge again")
        i, n = (int(x) for x in shard.split("/"))
        counts.add(n)
        if i in shards:
            raise DataError(f"{path}: shard {shard} given twice (also {shards[i]})")
        shards[i] = path
        if doc["harness"]["version"] != first["harness"]["version"]:
            raise DataError(f"{path}: made by harness {doc['harness']['version']}, but {first_path} by "
                            f"{first['harness']['version']}; shards of different harness versions cannot be "
                            f"merged into one result (rerun the odd shard with the same version)")
        if doc["model"]["identity"] != first["model"]["identity"]:
            raise DataError(f"{path}: model {doc['model']['identity']} differs from {first_path}'s "
                            f"{first['model']['identity']}")
        for key in SAME:
            if doc["config"].get(key) != first["config"].get(key):
                raise DataError(f"{path}: config.{key} = {doc['config'].get(key)!r} differs from "
                                f"{first_path}'s {first['config'].get(key)!r}")
    if len(counts) != 1:
        raise DataError(f"shards of different totals: {sorted(counts)}")
    total = counts.pop()
    missing = sorted(set(range(total)) - set(shards))
    if missing:
        raise DataError(f"missing shard(s) {', '.join(f'{i}/{total}' for i in missing)} of {total}")

    out_dir = Path(out_dir)
    stamp = _dt.datetime.now(_dt.timezone.utc)
    run_id = f"{results.slug(first['config']['model'])}_{stamp.strftime('%Y%m%dT%H%M%S')}_merged{total}"
    seed, rounds = first["config"]["seed"], first["config"].get("bootstrap_rounds", 1000)
    document = {**first, "schema_version": results.RESULTS_SCHEMA_VERSION, "run_id": run_id,
                "created_at": stamp.isoformat(timespec="seconds"),
                "command": command or first["command"],
                "config": {**first["config"], "shard": None,
                           "merged_from": [p.name for _, p in sorted(shards.items())],
                           # repeating the merged run (--config RESULTS.json) evaluates every shard at once
                           **({"resolved": {**first["config"]["resolved"], "shard": None}}
                              if isinstance(first["config"].get("resolved"), dict) else {})},
                "tasks": {}, "aggregates": {}}
    document.pop("timings", None)  # each shard's command had its own start-up; the sums are per task
    sample_paths: dict[str, Path] = {}
    failed = 0
    for key, head in first["tasks"].items():
        rows: list[samplelog.SampleRow] = []
        timings = {"wall_s": 0.0, "decode_s": 0.0, "model_s": 0.0, "model_load_s": 0.0, "loop_s": 0.0}
        held: dict[int, Path] = {}  # index -> the shard whose log holds it
        for path, doc in docs:
            if key not in doc["tasks"]:
                raise DataError(f"{path}: has no task {key!r} (other shards do)")
            part = samplelog.samples_of(path, doc["tasks"][key], key)
            for row in part:
                if row["index"] in held:
                    raise DataError(f"{path}: task {key!r}: sample {row['id']!r} has index {row['index']}, which "
                                    f"{held[row['index']]}'s log also holds; were the shards made with the same "
                                    f"settings?")
                held[row["index"]] = path
            rows.extend(part)
            for t in timings:
                timings[t] += doc["tasks"][key]["timings"].get(t, 0.0)
        rows.sort(key=lambda r: r["index"])
        ids = [r["id"] for r in rows]
        if len(set(ids)) != len(ids):
            raise DataError(f"task {key!r}: a sample appears in two shards; were the shards made with "
                            f"the same settings?")
        merged = {k: head[k] for k in ("name", "spec", "version", "params", "split", "plugin", "classes",
                                       "frame_protocol", "prompt", "training_prior", "strategy") if k in head}
        modes = {m for _, doc in docs for m in doc["tasks"][key].get("answer_modes", [])}
        if modes:
            merged["answer_modes"] = sorted(modes)
        merged.update(samplelog.summarize(rows, tuple(head["classes"]), seed, rounds, head["name"],
                                          head["version"], head["counts"]["total"],
                                          head["frame_protocol"].get("nominal_fps")))
        if head["frame_protocol"].get("audio_rate"):  # what the merged samples were sent, recounted
            merged["audio"] = samplelog.audio_summary(rows, head["frame_protocol"]["audio_rate"])
        merged["timings"] = {k: round(v, 4) for k, v in timings.items()}
        path = out_dir / f"samples_{run_id}_{results.slug(key)}.jsonl"
        samplelog.write_samples(path, rows)
        merged["samples_file"] = path.name
        sample_paths[key] = path
        failed += merged["counts"]["failed"]
        document["tasks"][key] = merged
    for spec in first.get("aggregates", {}):
        keys = [k for k, t in document["tasks"].items() if t["spec"] == spec]
        document["aggregates"][spec] = samplelog.aggregate([document["tasks"][k] for k in keys], keys)
    results_path = out_dir / f"results_{run_id}.json"
    results.write_json(results_path, document, "results")
    return RunOutput(document, results_path, sample_paths, failed)
