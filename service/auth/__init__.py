"""API keys: created, hashed, scoped, revoked; and the development key `make run` prints."""
