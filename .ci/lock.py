"""Write the test environment's pinned versions, and record what a refresh changed.

``make test`` (and so CI) installs with ``-c tests/constraints.txt``, so a new upstream release
cannot change what the tests see until someone refreshes the pin on purpose with ``make lock``:
that target resolves the newest releases in a fresh venv, runs this script to write the pin from
that venv and to add a dated entry to ``docs/upgrades.md`` (every version that changed, and the
golden tests' outcome against the new versions), and the golden tests say whether any recorded
number moved. Users installing the package keep the version ranges in ``pyproject.toml``.

    python .ci/lock.py write VENV_PYTHON [PIN]    # pin what VENV_PYTHON has installed (default PIN: the tests')
    python .ci/lock.py record OLD_PIN GOLDEN_RC   # add the entry for the refresh just made
"""

from __future__ import annotations

import datetime as _dt
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIN = ROOT / "tests" / "constraints.txt"
LOG = ROOT / "docs" / "upgrades.md"
OWN = {"dfer-harness", "harness-example-plugin"}  # installed from this tree, never pinned
HEADER = ("# The versions `make test` and CI install (pip -c). Written by `make lock` from a fresh venv that took\n"
          "# the newest releases; do not edit by hand. What each refresh changed: docs/upgrades.md.\n")


def _name(line: str) -> str:
    return line.split("==", 1)[0].strip().lower().replace("_", "-")


def read(path: Path) -> dict[str, str]:
    """name -> version of a pin file (comments and blank lines skipped)."""
    pins = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        line = line.strip()
        if line and not line.startswith("#"):
            if "==" not in line:
                raise SystemExit(f"{path}: line {line!r} is not NAME==VERSION; rerun `make lock`")
            pins[_name(line)] = line.split("==", 1)[1].strip()
    return pins


def write(python: str, pin: str | None = None) -> None:
    target = Path(pin) if pin else PIN
    frozen = subprocess.run([python, "-m", "pip", "freeze", "--exclude-editable"], check=True,
                            capture_output=True, text=True).stdout.splitlines()
    lines = sorted((x for x in frozen if "==" in x and _name(x) not in OWN), key=_name)
    odd = [x for x in frozen if x.strip() and "==" not in x and not x.startswith("#")
           and _name(x.split(" @ ", 1)[0]) not in OWN]
    if odd:  # a direct URL or local path cannot be reproduced on another machine
        raise SystemExit(f"not pinnable (install them from an index): {odd}")
    py = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], check=True,
                        capture_output=True, text=True).stdout.strip()
    target.write_text(HEADER + f"# Python {py}\n" + "\n".join(lines) + "\n")
    print(f"wrote {target}: {len(lines)} packages")


def record(old_pin: str, golden_rc: str) -> None:
    old, new = read(Path(old_pin)), read(PIN)
    changed = [f"| {n} | {old.get(n, '(new)')} | {new.get(n, '(removed)')} |"
               for n in sorted(set(old) | set(new)) if old.get(n) != new.get(n)]
    outcome = "passed" if golden_rc == "0" else f"FAILED (pytest exit {golden_rc}): say in the commit which numbers moved"
    entry = [f"\n## {_dt.date.today().isoformat()}: `make lock`\n", f"Golden tests against the new versions: {outcome}.\n"]
    if changed:
        entry += ["| package | was | now |", "|---|---|---|", *changed]
    else:
        entry.append("No version changed.")
    with LOG.open("a") as f:
        f.write("\n".join(entry) + "\n")
    print("\n".join(entry))


if __name__ == "__main__":
    if sys.argv[1:2] not in (["write"], ["record"]) or len(sys.argv) not in {"write": (3, 4), "record": (4,)}[sys.argv[1]]:
        raise SystemExit(__doc__)
    if sys.argv[1] == "write":
        write(*sys.argv[2:])
    else:
        record(*sys.argv[2:])
