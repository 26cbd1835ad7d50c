-- 006: what each remembered EventSub subscription is, so the jobs can reason per streamer and
-- topic without asking Twitch: its type and version, and the callback it delivers to. Rows of
-- the seed era have no type (NULL) until the next reconcile rewrites them from Twitch's list.
ALTER TABLE eventsub_subscriptions
    ADD COLUMN type TEXT,
    ADD COLUMN version TEXT,
    ADD COLUMN callback TEXT;
CREATE INDEX idx_eventsub_subscriptions_streamer ON eventsub_subscriptions(streamer_id, type);
