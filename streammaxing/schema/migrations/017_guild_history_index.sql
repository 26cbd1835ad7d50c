-- 017: the dashboard's "recent announcements" of a guild (schema/history.py `guild_history`:
-- WHERE guild_id ORDER BY sent_at DESC NULLS LAST, id DESC LIMIT 20) read from an index in
-- that order instead of reading and sorting every row of the guild (10,000 rows: ~60 ms).
CREATE INDEX idx_notification_log_guild_recent
    ON notification_log (guild_id, sent_at DESC NULLS LAST, id DESC);
