"""The public id inside an API key (`jt_<key_id>_<secret>`), for tests that name a key by it."""


def key_id_of(key: str) -> str | None:
    parts = key.split("_", 2)
    return parts[1] if len(parts) == 3 and parts[0] == "jt" else None
