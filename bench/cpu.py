"""CPU time used by processes, read from /proc (Linux); None where there is no /proc.

On a shared 2-core machine wall-clock rates swing with its speed from one minute to
the next, while the CPU a request costs moves much less: a bench can report both.
"""

import os
from pathlib import Path

_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_s(pid: int) -> float | None:
    """User + system seconds process `pid` has used."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_S


def tree_cpu_s(pid: int) -> float | None:
    """User + system seconds process `pid` and its live descendants have used (a server
    with worker processes, a supervisor and its broker)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    children: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(parent, []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += process_cpu_s(current) or 0.0
        todo += children.get(current, [])
    return total


def postgres_cpu_s(database: str | None = None) -> float | None:
    """User + system seconds used by the PostgreSQL processes alive now (the server
    under test: benches run against one on this machine). With `database`, only the
    backends connected to it: other load on the same server is left out, and so is the
    shared background work (WAL writer, checkpointer) done for it."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    total = 0.0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            if database is not None and _backend_database((entry / "cmdline").read_text()) != database:
                continue
        except OSError:
            continue
        total += process_cpu_s(int(entry.name)) or 0.0
    return total


def _backend_database(title: str) -> str | None:
    """The database of a backend's process title, "postgres: [cluster: ]user database host(port) state"."""
    words = title.replace("\0", " ").split()[1:]
    if words and words[0].endswith(":"):
        words = words[1:]
    return words[1] if len(words) >= 3 else None
