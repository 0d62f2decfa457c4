"""The README's Python session runs as written against a live service (only its URL differs)."""

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import Running

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
SESSION = re.compile(r"## The same in Python\n.*?```python\n(.*?)```", re.DOTALL)


def test_the_readme_python_session_creates_waits_reads_and_meets_a_conflict(running: Running, tmp_path: Path) -> None:
    code = SESSION.search(README.read_text()).group(1)
    assert len(code.strip().splitlines()) <= 12
    (tmp_path / ".jobtrail").mkdir()
    (tmp_path / ".jobtrail" / "dev-api-key").write_text(f"{running.key}\n")
    session = code.replace("http://127.0.0.1:8000", running.service.base_url)
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # the checkout's client, wherever the session runs
    done = subprocess.run(
        [sys.executable, "-c", session], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    first, second, third = done.stdout.splitlines()
    assert first.startswith("completed 100 ['JobCreated', 'JobStarted'") and first.endswith("'JobCompleted']")
    assert second == "[0, 1, 2] processing"
    assert third.startswith("409 cancelled ")
