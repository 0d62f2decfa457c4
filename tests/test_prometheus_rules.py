"""deploy/prometheus-rules.yml passes its promtool tests against synthetic series."""

import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def test_the_alerting_rules_pass_promtool_against_synthetic_series():
    promtool = shutil.which("promtool") or ("/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None)
    if promtool is None:
        pytest.skip("promtool is not installed (Debian's prometheus package; `make test` installs it)")
    done = subprocess.run(
        [promtool, "test", "rules", "prometheus-rules.test.yml"], cwd=DEPLOY, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
