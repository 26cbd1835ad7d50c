-- 012: go-lives keep the order the ingest accepted them in. The ingest numbers each accepted
-- stream.online from golive_acceptance_seq, in commit order, and records the number in
-- golive_acceptances until that go-live's fan-out has claimed its outbox rows; the rows carry
-- the number, and each channel's pending rows go out in its order.
CREATE SEQUENCE golive_acceptance_seq;

CREATE TABLE golive_acceptances (
    seq BIGINT PRIMARY KEY,
    accepted_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

ALTER TABLE notification_log ADD COLUMN accepted_seq BIGINT;

DROP INDEX idx_notification_log_pending;
CREATE INDEX idx_notification_log_pending
    ON notification_log (shard, accepted_seq, stream_started_at, id) WHERE status = 'pending';
