"""``hf-dataset``: a task backed by a Hugging Face ``datasets`` dataset.

    harness run --tasks hf-dataset:path=/data/my_ds,split=test,media_column=video,label_column=label ...

``path`` is a folder saved with ``save_to_disk``, a folder or file that
``load_dataset`` reads (csv, json, parquet), or a hub dataset the user can
access. The class list comes from a ``ClassLabel`` label column, else from
``classes=happy|sad|...``. Media columns hold paths relative to
``media_root`` (default: the dataset's folder); a ``Video`` column is read
without decoding, for its path. ``datasets`` is imported only when the task
is used: ``pip install "dfer-harness[datasets]"``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import harness
from harness.context import Context
from harness.emotions import SYNONYMS
from harness.errors import DataError, UsageError
from harness.manifest import ManifestTask, Row, build_samples
from harness.release import check_params
from harness.types import FrameProtocol

PARAMS = ("path", "name", "split", "revision", "media_column", "label_column", "id_column", "classes",
          "media_root", "fps")


def _load(path: str, name: str | None, split: str, revision: str | None):
    try:
        import datasets
    except ImportError:
        raise UsageError('hf-dataset needs the datasets library: pip install "dfer-harness[datasets]"') from None
    local = Path(path).expanduser()
    try:
        if (local / "dataset_info.json").is_file() or (local / "dataset_dict.json").is_file():
            loaded = datasets.load_from_disk(str(local))
            if isinstance(loaded, datasets.DatasetDict):
                if split not in loaded:
                    raise UsageError(f"hf-dataset {path}: no split {split!r}; it has {', '.join(loaded)}")
                loaded = loaded[split]
            return loaded
        if local.is_file():
            builder = {".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}.get(local.suffix)
            if builder is None:
                raise UsageError(f"hf-dataset {path}: unknown file type {local.suffix!r}")
            return datasets.load_dataset(builder, data_files={split: str(local)}, split=split)
        return datasets.load_dataset(path, name, split=split, revision=revision)
    except UsageError:
        raise
    except Exception as exc:  # the library raises many kinds; name the dataset and the cause
        raise DataError(f"hf-dataset {path} (split {split!r}): cannot load: {type(exc).__name__}: {exc}") from None


class HFDatasetTask(ManifestTask):
    name = "hf-dataset"
    description = "A Hugging Face datasets dataset with a video-path column and a label column"
    aliases = SYNONYMS
    frame_protocol = FrameProtocol(strategy="segment", num_frames=16)

    def __init__(self, params: dict, context: Context):
        check_params(self.name, params, PARAMS)
        if "path" not in params:
            raise UsageError("hf-dataset needs path=... (a saved dataset folder, a data file, or a hub id)")
        self.path = str(params["path"])
        self.config_name = params.get("name")
        self.split = str(params.get("split", "test"))
        self.revision = params.get("revision")
        self.media_column = str(params.get("media_column", "video"))
        self.label_column = str(params.get("label_column", "label"))
        self.id_column = params.get("id_column")
        self.fps = float(params["fps"]) if params.get("fps") not in (None, "none") else None
        self.classes = tuple(c for c in str(params.get("classes", "")).split("|") if c)
        local = Path(self.path).expanduser()
        default_root = local if local.is_dir() else local.parent if local.is_file() else Path.cwd()
        self.media_root = Path(str(params.get("media_root", default_root))).expanduser()
        self.embedded_dir = Path(context.cache_dir) / "hf-dataset-media"

    def params(self) -> dict:
        return {"path": self.path, "name": self.config_name, "split": self.split, "revision": self.revision,
                "media_column": self.media_column, "label_column": self.label_column,
                "classes": "|".join(self.classes), "media_root": str(self.media_root), "fps": self.fps}

    def _read(self):
        ds = _load(self.path, self.config_name, self.split, self.revision)  # says how to install datasets
        import datasets

        where = f"hf-dataset {self.path} ({self.split})"
        for column in (self.media_column, self.label_column, self.id_column):
            if column and column not in ds.column_names:
                raise DataError(f"{where}: no column {column!r}; it has {', '.join(ds.column_names)}")
        feature = ds.features[self.media_column]
        if isinstance(feature, datasets.Video):
            ds = ds.cast_column(self.media_column, datasets.Video(decode=False))
        label_feature = ds.features[self.label_column]
        if isinstance(label_feature, datasets.ClassLabel):
            names = tuple(label_feature.names)
            if self.classes and self.classes != names:
                raise UsageError(f"{where}: classes= {self.classes} differs from the dataset's ClassLabel {names}")
            self.classes = names
        if len(self.classes) < 2:
            raise UsageError(f"{where}: the label column is not a ClassLabel; give the class list as "
                             f"classes=happy|sad|... (fixed order, at least two)")
        self.aliases = {word: c for word, c in SYNONYMS.items() if c in self.classes}
        rows = []
        for i, record in enumerate(ds):
            media = record[self.media_column]
            if isinstance(media, dict):  # an undecoded Video feature: a path, or bytes stored in the dataset
                media = self._embedded(media)
            label = record[self.label_column]
            if isinstance(label_feature, datasets.ClassLabel):
                label = label_feature.int2str(label)
            rows.append(Row(media=media, label=label, id=record[self.id_column] if self.id_column else None,
                            where=f"{where}[{i}]"))
        return build_samples(rows, self.classes, self.media_root, fps=self.fps,
                             absolute_ok=isinstance(feature, datasets.Video))


    def _embedded(self, media: dict) -> str | None:
        """The clip's path; a clip stored as bytes in the dataset is written once to the cache."""
        path, data = media.get("path"), media.get("bytes")
        if data is None or (path and Path(path).is_absolute() and Path(path).exists()):
            return path
        digest = hashlib.sha256(data).hexdigest()[:32]
        target = self.embedded_dir / f"{digest}{Path(path or 'clip.mp4').suffix or '.mp4'}"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        return str(target)


@harness.hookimpl
def harness_register_tasks(register):
    register("hf-dataset", HFDatasetTask, description=HFDatasetTask.description)
