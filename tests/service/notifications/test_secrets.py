"""Webhook secrets at rest: sealed and opened under one key, kept in a private file made once
in the data directory unless JOBTRAIL_SECRETS_KEY names one; a wrong key says so, never the secret."""

import stat

import pytest
from cryptography.fernet import Fernet
from standardwebhooks import Webhook

from service.notifications.secrets import KEY_FILE, SecretBox, UnreadableSecret, new_secret, secret_box
from service.settings import Settings


def test_a_new_secret_is_a_standard_webhooks_secret_that_round_trips_sealed(tmp_path):
    box = secret_box(Settings(data_dir=tmp_path))
    secret = new_secret()
    sealed = box.seal(secret)
    assert secret.startswith("whsec_") and secret.encode() not in sealed and secret[6:].encode() not in sealed
    assert box.open(sealed) == secret
    Webhook(box.open(sealed))  # the library takes it as a signing key


def test_the_key_file_is_made_private_in_the_data_directory_and_reused_after_a_restart(tmp_path):
    data_dir = tmp_path / "data"  # not there yet: made on first use
    sealed = secret_box(Settings(data_dir=data_dir)).seal("whsec_c2VjcmV0")
    key_file = data_dir / KEY_FILE
    key = key_file.read_bytes()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [path.name for path in data_dir.iterdir()] == [KEY_FILE]  # no draft left behind

    restarted = secret_box(Settings(data_dir=data_dir))  # a new process, the same directory
    assert restarted.open(sealed) == "whsec_c2VjcmV0"
    assert key_file.read_bytes() == key


def test_jobtrail_secrets_key_wins_over_a_key_file_and_makes_none(tmp_path):
    from_file = secret_box(Settings(data_dir=tmp_path / "with-file"))
    named_key = Fernet.generate_key().decode()
    named = secret_box(Settings(data_dir=tmp_path / "with-file", secrets_key=named_key))
    sealed = named.seal("whsec_bmFtZWQ=")
    assert SecretBox(named_key.encode()).open(sealed) == "whsec_bmFtZWQ="
    with pytest.raises(UnreadableSecret):
        from_file.open(sealed)

    secret_box(Settings(data_dir=tmp_path / "no-file", secrets_key=named_key)).seal("whsec_eA==")
    assert not (tmp_path / "no-file").exists()


def test_a_wrong_key_is_a_clear_error_that_never_shows_the_secret(tmp_path):
    secret = new_secret()
    sealed = SecretBox(Fernet.generate_key()).seal(secret)
    with pytest.raises(UnreadableSecret) as raised:
        SecretBox(Fernet.generate_key()).open(sealed)
    message = str(raised.value)
    assert message == "a stored webhook secret does not decrypt with the configured key"
    assert secret not in repr(raised.value) and raised.value.__cause__ is None and raised.value.__suppress_context__


def test_a_malformed_jobtrail_secrets_key_is_refused_by_the_settings():
    with pytest.raises(Exception, match="secrets_key|JOBTRAIL_SECRETS_KEY"):
        Settings.from_env({"JOBTRAIL_SECRETS_KEY": "too-short"})
