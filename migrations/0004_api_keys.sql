-- API keys: only a SHA-256 of the secret is kept (a key is 32 random bytes, so a
-- slow hash adds nothing). `key_id` is public and names the key in lists and logs.
CREATE TABLE api_keys (
    key_id      text PRIMARY KEY,
    owner       text        NOT NULL CHECK (owner <> ''),
    scopes      text[]      NOT NULL,
    secret_hash bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CONSTRAINT api_keys_secret_hash_key UNIQUE (secret_hash),
    CONSTRAINT api_keys_known_scopes CHECK (scopes <@ ARRAY['jobs:write', 'jobs:read', 'audit:read'])
);
