-- 009: when each guild last had an announcement delivered, kept beyond the delivery log's
-- retention: `prune` records here the latest delivery among the log rows it deletes. A guild's
-- last delivery is the later of this and its rows still in notification_log.
ALTER TABLE guilds ADD COLUMN last_delivery_at TIMESTAMPTZ;

-- The inactive-guilds report filters on this expression first (the guild's last delivery
-- known here, else when it was added).
CREATE INDEX idx_guilds_last_activity
    ON guilds ((coalesce(last_delivery_at, created_at, '-infinity'::timestamptz)));
