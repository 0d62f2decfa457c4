-- Dashboard sessions: the browser's cookie holds a random token, never the API key; only
-- its SHA-256 is kept (the token is 32 random bytes, so a slow hash adds nothing). A
-- session acts for the key it was signed in with, until it expires, is signed out, or
-- the key is revoked (every lookup joins api_keys). Expired rows are removed at sign-in.
CREATE TABLE dashboard_sessions (
    token_hash  bytea       PRIMARY KEY,
    key_id      text        NOT NULL REFERENCES api_keys (key_id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);

CREATE INDEX dashboard_sessions_expires_at ON dashboard_sessions (expires_at);
