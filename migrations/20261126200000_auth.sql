-- Auth: users with TOTP 2FA, Postgres sessions, second-step login challenges, throttling,
-- service tokens and the audit log. Every secret credential is stored as a hash only.

CREATE TABLE users (
    id                                  uuid        PRIMARY KEY,
    email                               text        NOT NULL,
    password_hash                       text        NOT NULL,
    role                                text        NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    created_at                          timestamptz NOT NULL,
    disabled_at                         timestamptz,
    two_factor_enabled                  boolean     NOT NULL DEFAULT false,
    -- AES-256-GCM under APP_ENC_KEY, bound to the user id: version(1) || nonce(12) || ct+tag.
    two_factor_secret_encrypted         bytea,
    two_factor_method                   text        CHECK (two_factor_method IN ('TOTP')),
    -- {"<lookup id>": "<argon2id PHC of the secret part>"}; a used code is removed.
    two_factor_backup_codes_hash        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    two_factor_enrolled_at              timestamptz,
    two_factor_last_verified_at         timestamptz,
    -- The last accepted TOTP time step: only a later step is ever accepted (no replay).
    two_factor_last_step                bigint,
    -- An enrollment in progress (setup done, confirm pending); never used to log in.
    two_factor_pending_secret_encrypted bytea,
    CHECK (NOT two_factor_enabled OR two_factor_secret_encrypted IS NOT NULL)
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_created_idx ON users (created_at DESC, id DESC);

CREATE TABLE sessions (
    id            uuid        PRIMARY KEY,
    -- SHA-256 of the 256-bit cookie value; the value itself is never stored.
    token_hash    bytea       NOT NULL UNIQUE,
    csrf_hash     bytea       NOT NULL,
    user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    -- Absolute expiry (created_at + absolute timeout); idle expiry is last_seen_at + idle timeout.
    expires_at    timestamptz NOT NULL,
    step_up_at    timestamptz,
    ip            text,
    user_agent    text
);
CREATE INDEX sessions_user_idx ON sessions (user_id, created_at DESC);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- The half-authenticated state between password and second factor (the temp token).
CREATE TABLE login_challenges (
    id           uuid        PRIMARY KEY,
    token_hash   bytea       NOT NULL UNIQUE,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    failures     integer     NOT NULL DEFAULT 0,
    consumed_at  timestamptz
);
CREATE INDEX login_challenges_expires_idx ON login_challenges (expires_at);

-- Growing delays per account and per client address ("acct:<email>", "ip:<addr>").
CREATE TABLE auth_throttle (
    key            text        PRIMARY KEY,
    failures       integer     NOT NULL,
    blocked_until  timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);

CREATE TABLE service_tokens (
    id            uuid        PRIMARY KEY,
    name          text        NOT NULL,
    token_hash    bytea       NOT NULL UNIQUE,
    scopes        text[]      NOT NULL CHECK (cardinality(scopes) > 0),
    created_at    timestamptz NOT NULL,
    created_by    uuid        REFERENCES users (id) ON DELETE SET NULL,
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    last_used_at  timestamptz
);
CREATE INDEX service_tokens_created_idx ON service_tokens (created_at DESC, id DESC);

CREATE TABLE audit_log (
    id             uuid        PRIMARY KEY,
    created_at     timestamptz NOT NULL,
    actor_user_id  uuid,
    actor_token_id uuid,
    -- Who, readable: an email, "service-token:<name>", "cli" or "anonymous".
    actor          text        NOT NULL,
    action         text        NOT NULL CHECK (action ~ '^[a-z][a-z0-9_.]*$'),
    target         text,
    outcome        text        NOT NULL CHECK (outcome IN ('SUCCESS', 'DENIED', 'FAILED')),
    trace_id       text        NOT NULL CHECK (trace_id ~ '^[0-9a-f]{32}$'),
    ip             text,
    metadata       jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_created_idx ON audit_log (created_at DESC, id DESC);
CREATE INDEX audit_log_actor_idx   ON audit_log (actor_user_id, created_at DESC, id DESC) WHERE actor_user_id IS NOT NULL;
CREATE INDEX audit_log_action_idx  ON audit_log (action, created_at DESC, id DESC);
