"""Running the `jobtrail` command in-process, as the CLI tests do."""

import pytest

from service.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The exit code, stdout and stderr of `jobtrail ARGS...`."""
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err
