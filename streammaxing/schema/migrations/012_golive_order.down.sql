DROP INDEX idx_notification_log_pending;
CREATE INDEX idx_notification_log_pending
    ON notification_log (shard, stream_started_at, id) WHERE status = 'pending';
ALTER TABLE notification_log DROP COLUMN accepted_seq;
DROP TABLE golive_acceptances;
DROP SEQUENCE golive_acceptance_seq;
