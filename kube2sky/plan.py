"""Desired vs actual -> the operations that turn one into the other.

Pure: both sides are plain ``key -> value`` maps grouped by unit, the
desired values as text, the actual ones as etcd holds them (bytes).  Each
unit's puts and deletes form one :class:`Change`, which the writer applies
as a single etcd transaction, so a reader never sees a service between its
old and new records (the original deleted, then wrote).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from .records import Records, Unit

#: what etcd holds, by unit: key -> value as etcd returns it
Have = dict[Unit, dict[str, bytes]]


@dataclass
class Change:
    unit: Unit
    puts: dict[str, str] = field(default_factory=dict)
    deletes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.puts or self.deletes)


def diff_unit(unit: Unit, want: Mapping[str, str], have: Mapping[str, bytes]) -> Change:
    change = Change(unit)
    for key, val in want.items():
        cur = have.get(key)
        if cur is None or cur != val.encode():
            change.puts[key] = val
    change.deletes = sorted(k for k in have if k not in want)
    return change


def plan(want: Mapping[Unit, Records], have: Mapping[Unit, Mapping[str, bytes]],
         units: set[Unit] | None = None) -> list[Change]:
    """Changes for the given units (all units on either side when None),
    in a stable order, empty ones left out."""
    todo = set(want) | set(have) if units is None else units
    out = [diff_unit(u, want.get(u, {}), have.get(u, {})) for u in sorted(todo)]
    return [c for c in out if c]


def applied(have: Have, changes: list[Change]) -> None:
    """Update ``have`` to what etcd holds once ``changes`` are written."""
    for change in changes:
        unit = dict(have.get(change.unit, {}))
        for k in change.deletes:
            unit.pop(k, None)
        unit.update((k, v.encode()) for k, v in change.puts.items())
        if unit:
            have[change.unit] = unit
        else:
            have.pop(change.unit, None)
