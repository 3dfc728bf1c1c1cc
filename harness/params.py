"""Parsing ``k=v,k2=v2`` argument strings and ``task:k=v`` task specs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from harness.errors import UsageError


def parse_value(text: str) -> Any:
    """``3`` -> 3, ``0.5`` -> 0.5, ``true``/``false`` -> bool, anything else stays a string."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_kv(text: str | None, what: str = "argument") -> dict[str, Any]:
    """``a=1,b=x`` -> {"a": 1, "b": "x"}; a malformed item is a usage error naming it."""
    out: dict[str, Any] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"bad {what} {item!r}: expected key=value")
        out[key.strip()] = parse_value(value.strip())
    return out


@dataclass(frozen=True)
class TaskSpec:
    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        if not self.params:
            return self.name
        return self.name + ":" + ",".join(f"{k}={v}" for k, v in self.params.items())


def parse_tasks(text: str) -> list[TaskSpec]:
    """``synthetic:n=50,seed=1,other`` -> two specs.

    Commas separate tasks and parameters alike: an item with ``=`` and no
    ``:`` continues the parameters of the task before it.
    """
    specs: list[tuple[str, dict]] = []
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        if "=" in item and ":" not in item.split("=", 1)[0]:
            if not specs:
                raise UsageError(f"task parameter {item!r} comes before any task name")
            specs[-1][1].update(parse_kv(item, "task parameter"))
            continue
        name, _, rest = item.partition(":")
        if not name:
            raise UsageError(f"empty task name in {text!r}")
        specs.append((name, parse_kv(rest, "task parameter")))
    if not specs:
        raise UsageError("no task given: --tasks NAME[,NAME...]")
    return [TaskSpec(n, p) for n, p in specs]


def check_params(owner: str, params: dict, allowed: Iterable[str]) -> None:
    """Refuse parameters ``owner`` (a task, probe or strategy) does not take, naming the ones it does."""
    unknown = set(params) - set(allowed)
    if unknown:
        raise UsageError(f"{owner}: unknown parameter(s) {', '.join(sorted(unknown))}; "
                         f"it takes {', '.join(allowed) or 'none'}")
