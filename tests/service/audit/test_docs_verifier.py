"""The stand-alone verifier printed in docs/audit.md runs as printed, outside jobtrail,
against a real export: it accepts it, and refuses an edited value or another key."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.service.api.conftest import auth
from tests.service.audit.trees import Audited, new_signer

pytestmark = pytest.mark.anyio

DOC = Path(__file__).resolve().parents[3] / "docs" / "audit.md"


def verifier_source() -> str:
    section = DOC.read_text().split("## A verifier of your own", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def run(script: Path, export: Path, key: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # -I: isolated, so nothing of jobtrail is importable; only the standard library and cryptography.
    return subprocess.run(
        [sys.executable, "-I", str(script), str(export), key], capture_output=True, text=True, cwd=cwd, timeout=60
    )


def test_the_verifier_is_at_most_about_sixty_lines() -> None:
    assert len(verifier_source().splitlines()) <= 62


async def test_the_printed_verifier_accepts_a_real_export_and_refuses_edits(audited: Audited, tmp_path: Path) -> None:
    script = tmp_path / "verify.py"
    script.write_text(verifier_source())
    response = await audited.client.get(f"/v1/jobs/{audited.job}/export", headers=auth(audited.keys.acme))
    export = tmp_path / "job.ndjson"
    export.write_bytes(response.content)

    accepted = run(script, export, audited.public_key, tmp_path)
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.startswith("OK: 2 events, 2 in the tree of")

    edited = tmp_path / "edited.ndjson"
    edited.write_bytes(response.content.replace(b'"total": 40', b'"total": 41'))
    refused = run(script, edited, audited.public_key, tmp_path)
    assert refused.returncode == 1 and "version 1: the hash chain is broken" in refused.stderr

    stranger = run(script, export, new_signer().public_text, tmp_path)
    assert stranger.returncode == 1 and "not signed by this key" in stranger.stderr
