"""Parsing ``k=v,k2=v2`` argument strings and ``task:k=v`` task specs."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from typing import Any, Iterable

from harness.errors import UsageError


def parse_value(text: str) -> Any:
    """``3`` -> 3, ``0.5`` -> 0.5, ``true``/``false`` -> bool, anything else stays a string.

    A number is taken only when it reads back as written, so ``revision=0123456`` or ``model=1e3`` keep
    their text (a declared ``Param(int)`` or ``Param(float)`` still converts them)."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        return value if str(value) == text else text
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


@dataclass(frozen=True)
class Param:
    """One declared parameter of a plugin (task, model, probe or strategy): its type and meaning.

    Declared parameters are checked by the host before the plugin is built: an unknown name is
    refused with the closest known ones, a value that does not fit the type is refused naming it.
    """

    type: type = str
    help: str = ""
    choices: tuple = ()
    # for a model: whether changing it can change an answer. Such a parameter must be in the model's
    # identity (the response cache's key and the leaderboard row's), which tests/test_identity.py checks
    # for every declared model parameter; False for how the work is done (batch sizes, retries, where).
    answers: bool = True
    low: float | None = None  # a number's bounds, checked with the rest before any work
    high: float | None = None


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def coerce(owner: str, name: str, value: Any, param: Param) -> Any:
    """``value`` as ``param.type`` (``"yes"`` -> True, ``"8"`` -> 8), or a usage error naming it."""
    kind = param.type
    try:
        if kind is bool:
            if isinstance(value, bool):
                out = value
            elif str(value).lower() in _TRUE + _FALSE:
                out = str(value).lower() in _TRUE
            else:
                raise ValueError
        elif kind in (int, float) and isinstance(value, bool):  # true is no number of anything
            raise ValueError
        elif kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        else:
            out = kind(value)
    except (TypeError, ValueError):
        expected = {bool: "true or false", int: "an integer", float: "a number"}.get(kind, kind.__name__)
        raise UsageError(f"{owner}: {name}={value!r} must be {expected}") from None
    if kind in (int, float):
        if kind is float and not math.isfinite(out):
            raise UsageError(f"{owner}: {name}={value!r} must be a finite number")
        if (param.low is not None and out < param.low) or (param.high is not None and out > param.high):
            bounds = (f"between {param.low:g} and {param.high:g}" if param.low is not None and param.high is not None
                      else f"at least {param.low:g}" if param.low is not None else f"at most {param.high:g}")
            raise UsageError(f"{owner}: {name}={value!r} must be {bounds}")
    if param.choices and out not in param.choices:
        raise UsageError(f"{owner}: {name} must be one of {', '.join(map(str, param.choices))}, got {out!r}")
    return out


def check_args(owner: str, args: dict[str, Any], declared: dict[str, Param],
               word: str = "parameter") -> dict[str, Any]:
    """``args`` checked against ``declared`` and converted to the declared types (only those given).

    An unknown name is refused with "did you mean" and the full list, before any work starts."""
    unknown = sorted(set(args) - set(declared))
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, list(declared), n=1, cutoff=0.6)
            hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
        raise UsageError(f"{owner}: unknown {word}(s) {', '.join(hints)}; "
                         f"it takes {', '.join(declared) or 'none'}")
    return {k: coerce(owner, k, v, declared[k]) for k, v in args.items()}


def check_params(owner: str, params: dict, allowed: Iterable[str]) -> None:
    """Refuse parameters ``owner`` does not take, naming the ones it does (names only, no types)."""
    check_args(owner, {k: str(v) for k, v in params.items()}, {name: Param() for name in allowed})
