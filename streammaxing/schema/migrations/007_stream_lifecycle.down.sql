-- Reverts 007.
DELETE FROM notification_log WHERE status = 'resumed';
ALTER TABLE notification_log DROP COLUMN IF EXISTS resumed_from;
ALTER TABLE notification_log DROP CONSTRAINT notification_log_status_check;
ALTER TABLE notification_log
    ADD CONSTRAINT notification_log_status_check
        CHECK (status IN ('pending', 'sent', 'failed', 'dry_run'));
ALTER TABLE guild_config
    DROP COLUMN IF EXISTS offline_template,
    DROP COLUMN IF EXISTS restart_cooldown_seconds;
ALTER TABLE streamers
    DROP COLUMN IF EXISTS channel_updated_at,
    DROP COLUMN IF EXISTS last_category_name,
    DROP COLUMN IF EXISTS last_category_id,
    DROP COLUMN IF EXISTS last_title;
DROP TABLE IF EXISTS streams;
