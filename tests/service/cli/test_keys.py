"""`jobtrail keys`: a created key authenticates, a listing never shows a secret, revoking ends it."""

import asyncio
import re

import psycopg
import pytest

from service.auth.keys import Principal, Scope, authenticate
from service.cli import _database_failure, main
from tests.service.key_ids import key_id_of

STAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")


def principal(database_url: str, key: str) -> Principal | None:
    async def look_up() -> Principal | None:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            return await authenticate(conn, key)

    return asyncio.run(look_up())


def create_key(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["keys", "create", *args]) == 0
    return capsys.readouterr().out.splitlines()[0]


def test_a_created_key_authenticates_as_its_owner_with_the_default_scopes(
    cli_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    key = create_key(capsys, "--owner", "acme")

    found = principal(cli_database, key)

    assert found == Principal(key_id_of(key), "acme", frozenset({Scope.JOBS_READ, Scope.JOBS_WRITE}))


def test_a_key_created_with_scopes_has_exactly_those(cli_database: str, capsys: pytest.CaptureFixture[str]) -> None:
    key = create_key(capsys, "--owner", "audit", "--scopes", "audit:read")

    found = principal(cli_database, key)

    assert found is not None and found.scopes == frozenset({Scope.AUDIT_READ})


def test_listing_keys_shows_their_ids_and_never_their_secrets(
    cli_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = [create_key(capsys, "--owner", owner) for owner in ("acme", "globex")]

    assert main(["keys", "list"]) == 0
    listing = capsys.readouterr().out

    for key in keys:
        assert key_id_of(key) in listing
        assert key.split("_", 2)[2] not in listing
    assert "acme" in listing and "globex" in listing


def test_a_revoked_key_no_longer_authenticates_and_shows_as_revoked(
    cli_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    key = create_key(capsys, "--owner", "acme")
    kept = create_key(capsys, "--owner", "acme")

    assert main(["keys", "revoke", key_id_of(key)]) == 0
    assert capsys.readouterr().out.strip() == f"revoked {key_id_of(key)}"

    assert principal(cli_database, key) is None
    assert principal(cli_database, kept) is not None
    main(["keys", "list"])
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert len(STAMP.findall(rows[key_id_of(key)])) == 2  # created, revoked
    assert len(STAMP.findall(rows[key_id_of(kept)])) == 1


def test_revoking_an_unknown_key_exits_1_with_one_line_on_stderr(
    cli_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["keys", "revoke", "0123456789ab"])

    captured = capsys.readouterr()
    assert status == 1
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("jobtrail: error:")
    assert "0123456789ab" in captured.err


def test_revoking_a_key_twice_is_refused_the_second_time(cli_database: str, capsys: pytest.CaptureFixture[str]) -> None:
    key = create_key(capsys, "--owner", "acme")
    assert main(["keys", "revoke", key_id_of(key)]) == 0

    assert main(["keys", "revoke", key_id_of(key)]) == 1
    assert key_id_of(key) in capsys.readouterr().err


@pytest.mark.parametrize("owner", ["", "  "], ids=["empty", "blank"])
def test_an_empty_owner_is_refused_before_the_database_as_a_usage_error(
    owner: str, cli_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["keys", "create", "--owner", owner])

    assert exited.value.code == 2
    assert "an owner must not be empty" in capsys.readouterr().err
    with psycopg.connect(cli_database) as conn:
        assert conn.execute("SELECT count(*) FROM api_keys").fetchone() == (0,)


def test_a_refused_row_is_reported_without_its_values(cli_database: str) -> None:
    secret_hash = bytes.fromhex("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
    with psycopg.connect(cli_database) as conn, pytest.raises(psycopg.errors.CheckViolation) as refused:
        conn.execute(
            "INSERT INTO api_keys (key_id, owner, scopes, secret_hash) VALUES ('k', '', '{jobs:read}', %s)",
            [secret_hash],
        )
    assert "\\x9f86d081" in str(refused.value)  # the row, hash and all, that the CLI used to print

    said = _database_failure(refused.value)

    assert said.startswith("the database refused: ") and "api_keys" in said
    assert "9f86" not in said and "Failing row" not in said
