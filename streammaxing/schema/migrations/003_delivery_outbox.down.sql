-- Reverts 003.
DROP INDEX IF EXISTS idx_dm_log_pending;
ALTER TABLE dm_log
    DROP COLUMN IF EXISTS delivered_at,
    DROP COLUMN IF EXISTS first_attempt_at,
    DROP COLUMN IF EXISTS next_attempt_at,
    DROP COLUMN IF EXISTS attempts,
    DROP COLUMN IF EXISTS payload,
    DROP COLUMN IF EXISTS status,
    DROP COLUMN IF EXISTS guild_id;
DROP INDEX IF EXISTS idx_notification_log_pending;
ALTER TABLE notification_log
    DROP COLUMN IF EXISTS delivered_at,
    DROP COLUMN IF EXISTS first_attempt_at,
    DROP COLUMN IF EXISTS next_attempt_at,
    DROP COLUMN IF EXISTS attempts,
    DROP COLUMN IF EXISTS stream_started_at,
    DROP COLUMN IF EXISTS shard,
    DROP COLUMN IF EXISTS payload,
    DROP COLUMN IF EXISTS status;
