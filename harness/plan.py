"""Planning a run: every name, parameter, frame protocol and template checked before any work.

A run's settings (:class:`RunConfig`) become one :class:`Plan` per task: the
task built, its frame protocol and prompt template settled, its request
strategy built. Anything wrong is a usage error here, before a clip is
decoded or a model loaded.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from harness.context import Context
from harness.errors import CapabilityError, UsageError
from harness.frames.sampling import parse_frames, stable_seed
from harness.host import Entry, Host
from harness.model import Model
from harness.params import TaskSpec, parse_tasks
from harness.request_rules import ANSWER_FORMATS
from harness.strategy import Strategy
from harness.task import Task
from harness.types import FrameProtocol

CHOICE_ORDERS = ("fixed", "shuffled")
AUDIO_SETTINGS = ("off", "on")


@dataclass
class RunConfig:
    """Everything ``harness run`` was asked: the tasks, the model and how to run them."""

    tasks: list[TaskSpec]
    model: str
    model_args: dict[str, Any] = field(default_factory=dict)
    limit: int | None = None
    seed: int = 0
    batch_size: int | None = None  # requests per model call (None: the model's own)
    output_path: Path = Path("results")
    log_samples: bool = False
    decode_workers: int | None = None  # None: in-process for small tasks, else one per core
    strict: bool = False
    progress: bool = True
    command: list[str] = field(default_factory=list)
    cache_dir: Path | None = None  # None: the host's context
    data_dir: Path | None = None  # None: the host's context
    bootstrap: int = 1000
    frames: str | None = None  # a --frames preset applied to each task's default protocol
    audio: str = "off"  # on: each clip's sound goes with its frames, at the model's rate (part of the protocol)
    prompt: str | None = None  # template name; None: the task's default
    choice_order: str = "fixed"
    choice_seed: int | None = None  # the seed of shuffled choice orders (default: seed)
    strategy: str | None = None  # a request strategy with parameters, e.g. "msce:k=4" (default: frames + prompt)
    reasoning_tags: str | None = None  # reasoning stripped before parsing (None: the model's preset, else the default)
    answer_format: str = "free"  # free | choice | json: generated answers constrained while decoding
    overlap_reports: tuple[str, ...] = ()  # `harness data overlap` reports to check the training data against
    training_data: tuple[str, ...] = ()  # what the model was trained on, as task or task/split names
    frame_cache: bool = True
    response_cache: bool = True
    shard: tuple[int, int] | None = None  # (i, N): evaluate shard i of N
    prefetch: bool = True  # prepare the next batch in a thread while the model runs
    started: float | None = None  # perf_counter() when the command started (default: when evaluate() is called)
    resolved: dict | None = None  # every option of `harness run` as resolved (command line and --config file)


@dataclass
class Plan:
    """A task resolved for this run: its protocol and template are settled."""

    spec: TaskSpec
    entry: Entry
    task: Task
    protocol: FrameProtocol
    template_name: str
    strategy: Strategy | None = None


def context_of(host: Host, config: RunConfig) -> Context:
    """The host's context, with the run's own cache and data folders where it names them."""
    return replace(host.context, cache_dir=config.cache_dir or host.context.cache_dir,
                   data_dir=config.data_dir or host.context.data_dir)


#: Upper bounds of a run's numbers: beyond them a value is a typo, not a plan (and would hang or exhaust memory).
MAX_BOOTSTRAP = 1_000_000
MAX_DECODE_WORKERS = 1024
MAX_SEED = 2 ** 63 - 1


def _whole(name: str, value, low: int, high: int | None = None) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise UsageError(f"{name} must be a whole number, got {value!r}")
    if value < low or (high is not None and value > high):
        raise UsageError(f"{name} must be {f'between {low} and {high}' if high is not None else f'at least {low}'}, "
                         f"got {value}")


def check_folder(path, what: str, create: bool = True) -> None:
    """``path`` can be (or become) a folder this process writes in: it is not a file, and its nearest
    existing ancestor is a folder that accepts a new entry (tried with a probe that is removed at
    once). ``create=False`` only checks that an existing ``path`` is a folder."""
    try:
        text = str(path)
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{what} {path!r}: not valid UTF-8; results record their paths as text, so name a folder "
                         f"whose name is UTF-8") from None
    if "\0" in text:
        raise UsageError(f"{what}: a path cannot hold a NUL byte")
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{what} {folder}: exists and is not a folder")
    if not create:
        return
    probe = folder
    while not probe.exists() and not probe.is_symlink() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise UsageError(f"{what} {folder}: {probe} is not a folder, so the folder cannot be made")
    try:
        Path(tempfile.mkdtemp(prefix=".harness-probe-", dir=probe)).rmdir()
    except OSError as exc:
        raise UsageError(f"{what} {folder}: cannot write in {probe}: {exc.strerror or exc}") from None


def check_config(config: RunConfig) -> None:
    """A run's own settings, checked before any task is built, model loaded or clip decoded: every
    number in range, the frame preset typed, the reasoning tags parsed, the output and cache folders
    writable (a usage error naming the option otherwise)."""
    from harness.frames.sampling import frame_changes
    from harness.parsing import AnswerParser, reasoning_tags

    _whole("--limit", config.limit, 1)
    _whole("--batch-size", config.batch_size, 1)
    _whole("--bootstrap", config.bootstrap, 0, MAX_BOOTSTRAP)
    _whole("--decode-workers", config.decode_workers, 0, MAX_DECODE_WORKERS)
    _whole("--seed", config.seed, 0, MAX_SEED)
    _whole("the choice seed", config.choice_seed, 0, MAX_SEED)
    if config.shard is not None:
        i, n = config.shard
        _whole("--shard N", n, 1)
        _whole("--shard i", i, 0, n - 1)
    if config.frames:
        frame_changes(config.frames)
    if config.reasoning_tags is not None:
        try:
            AnswerParser(("a", "b"), {}, reasoning_tags=reasoning_tags(config.reasoning_tags))
        except (TypeError, ValueError, AttributeError) as exc:
            raise UsageError(f"--reasoning-tags {config.reasoning_tags}: {exc}") from None
    check_folder(config.output_path, "--output-path")
    if config.cache_dir is not None:
        check_folder(config.cache_dir, "--cache-dir")


def _check_task_rate(spec: TaskSpec, task: Task) -> None:
    """A task's frame rate (``fps=`` of frame folders) is a positive, finite number or none."""
    fps = getattr(task, "fps", None)
    if fps is None:
        return
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
        raise UsageError(f"task {spec}: fps must be a positive, finite number of frames per second (or none), "
                         f"got {fps!r}")


def plan_run(host: Host, config: RunConfig) -> tuple[list[Plan], Entry]:
    """Check the run's settings, look up every name and build every task before any work starts."""
    check_config(config)
    if config.choice_order not in CHOICE_ORDERS:
        raise UsageError(f"--choice-order must be one of {', '.join(CHOICE_ORDERS)}")
    if config.answer_format not in ANSWER_FORMATS:
        raise UsageError(f"--answer-format must be one of {', '.join(ANSWER_FORMATS)}")
    if config.audio not in AUDIO_SETTINGS:
        raise UsageError(f"--audio must be one of {', '.join(AUDIO_SETTINGS)}, got {config.audio!r}")
    if config.audio == "on" and config.strategy and config.strategy != "default":
        raise UsageError(f"--audio on sends a clip's sound with its video; the request strategy {config.strategy} "
                         f"builds its own requests (still frames, captions), which carry no sound: run it with "
                         f"--audio off")
    model_entry = host.entry("model", config.model)
    context = context_of(host, config)
    check_folder(context.cache_dir, "the cache folder (--cache-dir or $HARNESS_CACHE)")
    plans = []
    for spec in config.tasks:
        entry = host.entry("task", spec.name)
        task = entry.build(dict(spec.params), context)
        _check_task_rate(spec, task)
        protocol = parse_frames(config.frames, task.frame_protocol) if config.frames else task.frame_protocol
        task.prepare()
        if not task.has_time_base and protocol.nominal_fps is None:
            # Media without a time base get one stated, recorded clock (in the protocol's name),
            # the same for every backend: never a library's invented default.
            protocol = replace(protocol, nominal_fps=task.nominal_fps)
        if protocol.needs_time_base and not task.has_time_base:
            raise UsageError(f"task {spec}: its media has no time base (no real frame rate), so "
                             f"--frames {protocol.name} cannot be used; choose uniform or segment sampling")
        if config.audio == "on" and not task.has_audio:
            raise UsageError(f"task {spec}: its media carry no sound track (the task declares none: FERV39k's clips, "
                             f"frame folders and the synthetic task without sound=true have none), so --audio on cannot "
                             f"be used; run it with --audio off")
        template = config.prompt or task.default_template
        if template not in task.prompt_templates:
            raise UsageError(f"task {spec} has no prompt template {template!r}; it has "
                             f"{', '.join(task.prompt_templates)}")
        strategy = build_strategy(host, config.strategy, context)
        if strategy is not None:
            protocol = strategy.protocol(protocol)
        plans.append(Plan(spec, entry, task, protocol, template, strategy))
    return plans, model_entry


def with_audio(plans: list[Plan], config: RunConfig, model: Model) -> None:
    """Settle the sound in every plan's protocol once the model is built (``--audio on``): its track
    decoded mono at the rate the model takes; a model that takes no sound is refused before any work."""
    if config.audio != "on":
        return
    rate = model.audio_rate()
    if not rate:
        raise CapabilityError(f"model {config.model} takes no sound, so --audio on cannot be used: its answers "
                              f"would be deaf while the protocol says they heard (omni models take it: "
                              f"'harness list models'); run it with --audio off")
    model.check_audio()  # e.g. the engine's or server's release, before any clip is decoded
    for plan in plans:
        plan.protocol = replace(plan.protocol, audio_rate=int(rate))


def build_strategy(host: Host, text: str | None, context: Context) -> Strategy | None:
    """The ``--strategy name:k=v,...`` request strategy (None: the default, frames plus prompt)."""
    if not text or text == "default":
        return None
    spec = parse_tasks(text)[0]
    entry = host.entry("strategy", spec.name)
    try:
        return entry.build(dict(spec.params), context)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--strategy {text}: {exc}") from None


def shown_choices(classes: tuple[str, ...], order: str, seed: int, sample_id: str) -> tuple[str, ...]:
    """The candidates in the order one sample's prompt shows them (``shuffled``: seeded per sample)."""
    if order == "fixed":
        return classes
    rng = np.random.default_rng(stable_seed(seed, "choices", sample_id))
    return tuple(classes[i] for i in rng.permutation(len(classes)))


def in_shard(task: str, sample_id: str, shard: tuple[int, int] | None) -> bool:
    """Stable assignment of a sample to one of N shards, from the task name and sample id."""
    return shard is None or stable_seed("shard", task, sample_id) % shard[1] == shard[0]
