-- 008: the audit trail. One row per write operation, written in the operation's transaction:
-- who acted (the operator, or a Discord user), from which surface, on which guild, what they did,
-- and a small detail object (never a secret, never a whole template). `guild_id` has no foreign
-- key so the trail of a deleted guild survives for the operator. Erasing a user sets their id to
-- NULL in `actor_user_id` and `subject_user_id`.

CREATE TABLE audit_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor_kind TEXT NOT NULL CHECK (actor_kind IN ('operator', 'user')),
    actor_user_id TEXT,                         -- the acting user; NULL for the operator
    surface TEXT NOT NULL
        CHECK (surface IN ('api', 'cli', 'dashboard', 'discord', 'system')),
    guild_id TEXT,                              -- NULL for an action on a user's own data
    subject_user_id TEXT,                       -- the user the action is about, if any
    action TEXT NOT NULL CHECK (action ~ '^[a-z_]+\.[a-z_]+$'),
    detail JSONB NOT NULL DEFAULT '{}'::jsonb
        CHECK (jsonb_typeof(detail) = 'object' AND octet_length(detail::text) <= 2048),
    CHECK (actor_kind = 'user' OR actor_user_id IS NULL)
);
CREATE INDEX idx_audit_log_guild ON audit_log (guild_id, id DESC);
CREATE INDEX idx_audit_log_actor ON audit_log (actor_user_id) WHERE actor_user_id IS NOT NULL;
CREATE INDEX idx_audit_log_subject ON audit_log (subject_user_id)
    WHERE subject_user_id IS NOT NULL;
