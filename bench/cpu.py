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


def postgres_cpu_s() -> float | None:
    """User + system seconds used by the PostgreSQL processes alive now (the server
    under test: benches run against one on this machine)."""
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
        except OSError:
            continue
        total += process_cpu_s(int(entry.name)) or 0.0
    return total
