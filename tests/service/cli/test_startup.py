"""`jobtrail` answers help and version without loading the service: commands load their own modules."""

import argparse
import subprocess
import sys

import pytest

from service.cli import COMMANDS, USAGE, main, parser
from tests.service.cli.run import run

HEAVY = ("litestar", "psycopg", "psycopg_pool", "uvicorn", "httpx", "qstash", "jinja2", "rich")


def loaded_after(code: str) -> list[str]:
    """The heavy top-level packages a fresh interpreter holds after running `code`."""
    probe = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    finished = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [name for name in finished.stdout.split() if name in HEAVY]


def test_importing_the_cli_loads_neither_the_app_nor_the_database_driver():
    assert loaded_after("import service.cli") == []


@pytest.mark.parametrize("args", [["--help"], ["--version"], [], ["no-such-command"]], ids=repr)
def test_help_version_and_usage_errors_load_nothing_heavy(args):
    code = f"from service.cli import main\ntry:\n    main({args!r})\nexcept SystemExit:\n    pass"
    assert loaded_after(code) == []


def test_version_names_the_installed_package(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("jobtrail ")


def test_jobtrail_alone_prints_the_whole_help_and_exits_as_a_usage_error(capsys):
    code, out, _ = run(capsys)
    assert code == USAGE == 2
    assert "commands:" in out and "verify-export" in out and "Exit status" in out


def test_every_command_is_listed_with_the_summary_its_module_gives():
    full = _summaries(parser())
    assert full == {name: summary for name, (_, summary) in COMMANDS.items()}
    assert _summaries(parser(None)) == full


def test_a_database_command_loads_the_driver_but_not_the_web_app():
    loaded = loaded_after("from service.cli import parser\nparser('jobs')")
    assert "psycopg_pool" in loaded
    assert not {"litestar", "uvicorn"} & set(loaded)


def _summaries(root: argparse.ArgumentParser) -> dict[str, str | None]:
    (commands,) = [a for a in root._actions if isinstance(a, argparse._SubParsersAction)]
    return {choice.dest: choice.help for choice in commands._choices_actions}
