"""Known errors in the micro-expression annotations, and the corrections the harness applies.

A correction is applied by sample key (the task's sample id, never a row
position: row positions differ between circulating versions of the same file),
belongs to a named, versioned table, and cites where it comes from. A task
applies its dataset's default tables unless told ``corrections=none`` (or
given other table names, ``+``-separated); the tables applied and every value
they changed are recorded in the task's parameters and version, and in each
changed sample's metadata, so a result says which annotation it was scored on.

An entry either replaces a value (``value`` a frame number) or withdraws it
(``value`` None: the annotation has no usable value and none is invented; a
withdrawn apex leaves the clip without apex metadata). ``when="invalid"``
applies it only where the copy's value is missing or impossible (an apex
outside onset..offset), so a copy that already has a good value keeps it.

To add a table: a :class:`Table` in :data:`TABLES` with a source a reader can
check; bump ``version`` whenever an entry changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import UsageError


@dataclass(frozen=True)
class Correction:
    key: str  # the sample id as the task names it
    field: str  # onset | apex | offset
    value: int | None  # the corrected frame number; None withdraws the value
    when: str  # always | invalid
    reason: str


@dataclass(frozen=True)
class Table:
    name: str
    version: str
    dataset: str
    source: str
    entries: tuple[Correction, ...]

    @property
    def ident(self) -> str:
        return f"{self.name}@{self.version}"


CASME2_APEX = Table(
    name="casme2-apex", version="1", dataset="casme2",
    source=("CASME2-coding-20140508.xlsx codes the apex of sub04 EP12_01f as '/' (no apex frame). No frame is "
            "agreed for it: MEB (tvaranka/meb, meb/datasets/datasets.py) drops the clip from its MEGC set, a "
            "3-class loader drops rows whose ApexFrame is '/', another substitutes the midpoint. The harness keeps "
            "the clip and its label and withdraws the apex (no apex metadata), which this table records as a "
            "decision rather than an unexplained problem."),
    entries=(Correction("sub04/EP12_01f", "apex", None, "invalid",
                        "apex coded '/' in the annotation; no agreed apex frame"),),
)

SAMM_APEX = Table(
    name="samm-apex", version="1", dataset="samm",
    source=("Two circulating versions of SAMM_Micro_FACS_Codes_v2.xlsx differ on the apex of 028_4_1 and 032_3_1; "
            "in one, both apexes lie outside onset..offset (listed as invalid clips in the README of "
            "davidnvq/me_recognition, a MEGC 2019 entry). The replacement values are the other version's, as "
            "published per clip in davidnvq/me_recognition datasets/samm_apex.csv (028_4_1: onset 1071, apex "
            "1113, offset 1134; 032_3_1: onset 4896, apex 4930, offset 4970). They are applied only where the "
            "copy's apex is outside its clip. MEB (tvaranka/meb) instead estimates apexes from optical flow, "
            "by row position."),
    entries=(Correction("028_4_1", "apex", 1113, "invalid", "apex outside onset..offset in one version"),
             Correction("032_3_1", "apex", 4930, "invalid", "apex outside onset..offset in one version")),
)

TABLES = {t.name: t for t in (CASME2_APEX, SAMM_APEX)}
DEFAULTS = {"casme2": ("casme2-apex",), "samm": ("samm-apex",)}


def tables_for(task: str, dataset: str, value: str | None) -> tuple[Table, ...]:
    """The tables ``corrections=value`` names for ``dataset``: ``default`` (or unset), ``none``, or
    table names joined by ``+``. A table of another dataset, or an unknown name, is a usage error."""
    if value in (None, "", "default"):
        return tuple(TABLES[n] for n in DEFAULTS.get(dataset, ()))
    if value == "none":
        return ()
    out = []
    for name in str(value).split("+"):
        table = TABLES.get(name.strip())
        if table is None or table.dataset != dataset:
            known = [n for n, t in TABLES.items() if t.dataset == dataset]
            raise UsageError(f"{task}: unknown corrections table {name!r} for {dataset}; "
                             f"tables: {', '.join(known) or 'none'} (or default, none)")
        out.append(table)
    return tuple(out)


def entries_by_key(tables: tuple[Table, ...]) -> dict[str, list[tuple[Table, Correction]]]:
    out: dict[str, list[tuple[Table, Correction]]] = {}
    for table in tables:
        for entry in table.entries:
            out.setdefault(entry.key, []).append((table, entry))
    return out
