-- 003: notification_log and dm_log become outboxes. Claiming the idempotency key inserts a
-- 'pending' row holding the rendered payload; a delivery job sends it and marks it 'sent' (or
-- 'failed' with a reason). A crash between the Discord call and the update leaves the row
-- pending, so the retry sends again with the same nonce and Discord returns the same message.

ALTER TABLE notification_log
    ADD COLUMN status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sent', 'failed', 'dry_run')),
    ADD COLUMN payload JSONB,
    ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0,
    ADD COLUMN stream_started_at TIMESTAMPTZ,
    ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at TIMESTAMPTZ,
    ADD COLUMN first_attempt_at TIMESTAMPTZ,
    ADD COLUMN delivered_at TIMESTAMPTZ;
CREATE INDEX idx_notification_log_pending
    ON notification_log (shard, stream_started_at, id) WHERE status = 'pending';

ALTER TABLE dm_log
    ADD COLUMN guild_id TEXT REFERENCES guilds(guild_id) ON DELETE CASCADE,
    ADD COLUMN status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sent', 'failed', 'dry_run')),
    ADD COLUMN payload JSONB,
    ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at TIMESTAMPTZ,
    ADD COLUMN first_attempt_at TIMESTAMPTZ,
    ADD COLUMN delivered_at TIMESTAMPTZ;
CREATE INDEX idx_dm_log_pending ON dm_log (sent_at, id) WHERE status = 'pending';
