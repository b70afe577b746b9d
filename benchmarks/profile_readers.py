"""Readers of valgrind's callgrind profiles and strace's `-c` summaries, for the
per-packet benchmarks (benchmarks.forwarding_instructions)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

_NAME_LINE = re.compile(r"^(ob|fl|fi|fe|fn|cob|cfi|cfl|cfn)=(?:\((\d+)\))?\s*(.*)$")
_NAME_GROUP = {"ob": "ob", "cob": "ob", "fn": "fn", "cfn": "fn"}


def callgrind_total(path: Path) -> int:
    """The profile's total Ir (its `summary:` line)."""
    for line in path.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise ValueError(f"{path}: no summary line")


def callgrind_self_costs(path: Path) -> Counter[tuple[str, str]]:
    """Self (exclusive) Ir per (object file, function) of a callgrind profile: every cost
    line is counted under the current `fn`, except the inclusive cost of a call (the line
    after `calls=`). Names are decompressed ("(id) name" once, "(id)" after)."""
    names: dict[tuple[str, str], str] = {}
    costs: Counter[tuple[str, str]] = Counter()
    obj = function = ""
    after_call = False
    with path.open() as lines:
        for line in lines:
            first = line[:1]
            if first.isdigit() or first in "+-*":
                if after_call:
                    after_call = False
                    continue
                parts = line.split()
                if len(parts) > 1:
                    costs[(obj, function)] += int(parts[1])
                continue
            if line.startswith("calls="):
                after_call = True
                continue
            match = _NAME_LINE.match(line.rstrip("\n"))
            if match is None:
                continue
            key, ident, name = match.groups()
            group = _NAME_GROUP.get(key, "fl")
            if ident is not None:
                if name:
                    names[(group, ident)] = name
                else:
                    name = names.get((group, ident), ident)
            if key == "ob":
                obj = name
            elif key == "fn":
                function = name
    return costs


def strace_counts(path: Path) -> Counter[str]:
    """System calls made, per name, from an `strace -c` summary."""
    counts: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[3].isdigit() and parts[-1] != "total":
            counts[parts[-1]] += int(parts[3])
    return counts
