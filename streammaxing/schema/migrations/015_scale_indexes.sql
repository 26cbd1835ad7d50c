-- 015: indexes and statistics settings for a large database (measured with bench/scale.py).
--
-- Deleting a streamer cascades to its delivery logs and preferences, and deleting a guild to its
-- DM log rows: without an index on the referencing column each cascade scans the whole table
-- (10M notification_log rows: one orphan took 33-120 s). `notification_log(streamer_id)` also
-- serves the restart check (`resume_targets`).
CREATE INDEX idx_notification_log_streamer ON notification_log (streamer_id);
CREATE INDEX idx_user_preferences_streamer ON user_preferences (streamer_id);
CREATE INDEX idx_dm_log_streamer ON dm_log (streamer_id);
CREATE INDEX idx_dm_log_guild ON dm_log (guild_id);

-- The DM lane's "when is the next DM due": the earliest retry time among pending rows, without
-- reading all of them (358,000 after one big go-live).
CREATE INDEX idx_dm_log_pending_due ON dm_log (next_attempt_at) WHERE status = 'pending';

-- The pending rows are a tiny, fast-changing part of these tables. With the default scale
-- factor (10 % of the table) ANALYZE runs after a million changes, so the statistics keep
-- saying "nothing pending" long after a big fan-out claimed 100,000 rows, and the planner reads
-- every pending row to mark 8 of them sent. Analyze after a fixed number of changed rows.
ALTER TABLE notification_log SET (
    autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 5000
);
ALTER TABLE dm_log SET (autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 5000);
