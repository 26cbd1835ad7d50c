-- Reverts 002.
DROP TABLE IF EXISTS eventsub_messages;
DROP TABLE IF EXISTS dm_log;
ALTER TABLE users DROP COLUMN IF EXISTS dm_disabled_reason, DROP COLUMN IF EXISTS dm_channel_id;
DROP INDEX IF EXISTS idx_notification_log_sent_at;
ALTER TABLE notification_log
    DROP COLUMN IF EXISTS failure_reason,
    DROP COLUMN IF EXISTS message_id,
    DROP COLUMN IF EXISTS channel_id;
ALTER TABLE guild_config DROP COLUMN IF EXISTS disabled_reason, DROP COLUMN IF EXISTS dm_enabled;
DROP TABLE IF EXISTS dm_subscribers;
