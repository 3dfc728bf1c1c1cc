"""The plugin host: the only module that touches pluggy.

It loads the built-in plugins and every installed distribution's ``harness``
entry points one at a time (a plugin that fails to import or register is
reported and skipped, never fatal), then asks each plugin to register its
tasks and models. Nothing heavy is imported here: factories run later.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable, Iterable

import pluggy

from harness import hookspecs
from harness.context import Context
from harness.errors import UsageError
from harness.params import Param, check_args

BUILTIN_DIST = "dfer-harness"
ENTRY_POINT_GROUP = "harness"
ALLOW_ENV = "HARNESS_PLUGINS"


@dataclass(frozen=True)
class PluginInfo:
    """Where a plugin came from: recorded in every result."""

    name: str
    module: str
    dist: str | None
    version: str | None
    builtin: bool

    def to_dict(self) -> dict:
        return {"name": self.name, "module": self.module, "dist": self.dist,
                "version": self.version, "builtin": self.builtin}


@dataclass(frozen=True)
class Entry:
    """A registered task, model, probe or strategy: a name, a lazy factory, its declared
    parameters (None: the plugin checks its own) and its provider."""

    kind: str
    name: str
    factory: Callable
    description: str
    plugin: PluginInfo
    params: dict[str, Param] | None = None

    def build(self, params: dict[str, Any], context: Context) -> Any:
        """The plugin object: declared parameters checked and typed first (before any work), then
        the factory called as ``factory(params, context)``, or ``factory(params)`` if it takes one
        argument."""
        if self.params is not None:
            word = "argument" if self.kind == "model" else "parameter"
            params = check_args(f"{self.kind} {self.name}", params, self.params, word)
        if _takes_context(self.factory):
            return self.factory(dict(params), context)
        return self.factory(dict(params))


def _takes_context(factory: Callable) -> bool:
    """Whether ``factory`` takes the context as its second argument: a second positional parameter
    named ``context`` or without a default (``factory(params, context)``). An optional second
    parameter of another name (``def __init__(self, args, verbose=False)``) is not handed the context."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return False
    positional = [p for p in signature.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) < 2:
        return False
    second = positional[1]
    return second.name == "context" or second.default is second.empty


KINDS = {"task": "tasks", "model": "models", "probe": "probes", "strategy": "strategies", "tracker": "trackers"}


@dataclass
class Host:
    """The loaded plugins and what they registered, by kind; one lookup and one build path."""

    context: Context = field(default_factory=Context)
    plugins: list[PluginInfo] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    registry: dict[str, dict[str, Entry]] = field(default_factory=lambda: {kind: {} for kind in KINDS})
    conflicts: dict[tuple[str, str], list[PluginInfo]] = field(default_factory=dict)

    @property
    def tasks(self) -> dict[str, Entry]:
        return self.registry["task"]

    @property
    def models(self) -> dict[str, Entry]:
        return self.registry["model"]

    @property
    def probes(self) -> dict[str, Entry]:
        return self.registry["probe"]

    @property
    def strategies(self) -> dict[str, Entry]:
        return self.registry["strategy"]

    @property
    def trackers(self) -> dict[str, Entry]:
        return self.registry["tracker"]

    def entry(self, kind: str, name: str) -> Entry:
        """The registered ``kind`` (task, model, probe, strategy) called ``name``, or a usage
        error with the closest names."""
        table = self.registry[kind]
        if (kind, name) in self.conflicts:
            providers = " and ".join(p.name for p in self.conflicts[(kind, name)])
            raise UsageError(
                f"{kind} {name!r} is registered by two plugins ({providers}); "
                f"block one with '-p no:PLUGIN' or the {ALLOW_ENV} allow-list")
        if name in table:
            return table[name]
        close = difflib.get_close_matches(name, list(table), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        plural = KINDS[kind]
        raise UsageError(f"unknown {kind} {name!r}.{hint} "
                         f"'harness list {plural}' shows the {plural} available.")

    def build(self, kind: str, name: str, params: dict[str, Any] | None = None) -> Any:
        """Look ``name`` up and build it with ``params`` and this host's context."""
        return self.entry(kind, name).build(dict(params or {}), self.context)


def _entry_points() -> list[metadata.EntryPoint]:
    eps = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    # Built-ins first, then third-party plugins in a stable order.
    eps.sort(key=lambda ep: (_dist_name(ep) != BUILTIN_DIST, _dist_name(ep) or "", ep.name))
    # The same distribution can be visible twice (e.g. an editable install and a
    # stale egg-info); keep the first of each (dist, name).
    seen, unique = set(), []
    for ep in eps:
        key = (_dist_name(ep), ep.name)
        if key not in seen:
            seen.add(key)
            unique.append(ep)
    return unique


def _dist_name(ep: metadata.EntryPoint) -> str | None:
    dist = getattr(ep, "dist", None)
    return dist.metadata["Name"] if dist is not None else None


def _allowed(ep: metadata.EntryPoint, allow: set[str] | None) -> bool:
    if _dist_name(ep) == BUILTIN_DIST or allow is None:
        return True
    return ep.name in allow or (_dist_name(ep) or "") in allow


def load(extra: Iterable[str] = (), env: dict | None = None, context: Context | None = None) -> Host:
    """Build the host.

    ``extra`` holds pytest-style ``-p`` values: ``module.path`` loads an
    unpublished module as a plugin, ``no:NAME`` blocks the entry point (or
    distribution) NAME. ``HARNESS_PLUGINS`` (comma-separated; empty means
    built-ins only) is an allow-list for third-party entry points.
    """
    env = os.environ if env is None else env
    extra = list(extra)
    blocked = {p[3:] for p in extra if p.startswith("no:")}
    modules = [p for p in extra if not p.startswith("no:")]
    allow = None
    if ALLOW_ENV in env:
        allow = {a.strip() for a in env[ALLOW_ENV].split(",") if a.strip()}

    pm = pluggy.PluginManager("harness")
    pm.add_hookspecs(hookspecs)
    host = Host(context=context or Context())

    def add(plugin_name: str, loader: Callable[[], object], info: PluginInfo) -> None:
        try:
            module = loader()
        except Exception as exc:  # a broken plugin never stops the host
            host.problems.append(f"plugin {plugin_name!r} failed to import: "
                                 f"{type(exc).__name__}: {exc}")
            return
        if pm.is_registered(module):
            return
        try:
            pm.register(module, name=plugin_name)
            pm.check_pending()
        except Exception as exc:  # e.g. a misspelled hook name
            if pm.is_registered(module):
                pm.unregister(module)
            host.problems.append(f"plugin {plugin_name!r} is invalid: {exc}")
            return
        host.plugins.append(info)

    for ep in _entry_points():
        dist = _dist_name(ep)
        if ep.name in blocked or (dist and dist in blocked) or not _allowed(ep, allow):
            continue
        version = ep.dist.version if getattr(ep, "dist", None) is not None else None
        info = PluginInfo(ep.name, ep.value, dist, version, dist == BUILTIN_DIST)
        add(ep.name, ep.load, info)

    for mod in modules:
        if mod in blocked:
            continue
        add(mod, lambda mod=mod: importlib.import_module(mod),
            PluginInfo(mod, mod, None, None, False))

    by_name = {info.name: info for info in host.plugins}
    for kind, plural in KINDS.items():
        hook_name = f"harness_register_{plural}"
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            info = by_name[impl.plugin_name]
            offered = {"register": _registrar(host, kind, host.registry[kind], info), "context": host.context}
            try:
                impl.function(**{name: offered[name] for name in impl.argnames})
            except Exception as exc:
                host.problems.append(f"plugin {info.name!r} failed in {hook_name}: "
                                     f"{type(exc).__name__}: {exc}")
    return host


def _registrar(host: Host, kind: str, table: dict[str, Entry], info: PluginInfo):
    def register(name: str, factory: Callable, description: str = "",
                 params: dict[str, Param] | None = None) -> None:
        if not isinstance(name, str) or not name or not callable(factory):
            raise TypeError(f"register() needs a non-empty name and a callable factory, "
                            f"got {name!r}, {factory!r}")
        if (kind, name) in host.conflicts:
            host.conflicts[(kind, name)].append(info)
            return
        if name in table:
            first = table.pop(name).plugin
            host.conflicts[(kind, name)] = [first, info]
            host.problems.append(f"{kind} {name!r} is registered by both plugin "
                                 f"{first.name!r} and plugin {info.name!r}; "
                                 f"neither is used until one is blocked (-p no:PLUGIN)")
            return
        declared = params if params is not None else getattr(factory, "PARAMS", None)
        table[name] = Entry(kind, name, factory, description, info,
                            dict(declared) if isinstance(declared, dict) else None)
    return register
