"""The README's curl session pipes answers through Python one-liners that print JSON documents as JSON."""

import json
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
ONE_LINER = re.compile(r"python3 -c '([^']*)'")
HISTORY = {
    "job_id": "0b7e2c3e-5a1f-4c59-9d0e-3f7b2a1c9e44",
    "events": [{"type": "JobCreated"}, {"type": "JobCancelled"}],
    "chain": {"ok": True, "events": 2, "head": "ab12", "first_bad_version": None, "problem": None},
}


def test_the_history_one_liner_prints_the_event_types_then_the_chain_as_json():
    (code,) = [c for c in ONE_LINER.findall(README.read_text()) if '"chain"' in c]

    printed = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps(HISTORY), capture_output=True, text=True, check=True
    ).stdout.splitlines()

    assert printed[:2] == ["JobCreated", "JobCancelled"]
    assert json.loads(printed[2]) == HISTORY["chain"]
