ALTER TABLE dm_log RESET (autovacuum_analyze_scale_factor, autovacuum_analyze_threshold);
ALTER TABLE notification_log RESET (autovacuum_analyze_scale_factor, autovacuum_analyze_threshold);
DROP INDEX IF EXISTS idx_dm_log_pending_due;
DROP INDEX IF EXISTS idx_dm_log_guild;
DROP INDEX IF EXISTS idx_dm_log_streamer;
DROP INDEX IF EXISTS idx_user_preferences_streamer;
DROP INDEX IF EXISTS idx_notification_log_streamer;
