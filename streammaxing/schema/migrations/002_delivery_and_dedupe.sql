-- 002: SPEC §4 additions — personal DM alerts, where announcements went, delivery failures,
-- and the webhook message ids the ingest has already accepted.

-- Members who opted in to personal DM alerts from a guild (the seed's imaginary user_guilds, made real).
CREATE TABLE dm_subscribers (
    guild_id TEXT NOT NULL REFERENCES guilds(guild_id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    subscribed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (guild_id, user_id)
);
CREATE INDEX idx_dm_subscribers_user ON dm_subscribers(user_id);

-- Guild-level switch for personal DMs, and why delivery to this guild was stopped (a permanent
-- Discord error such as 10003 Unknown Channel sets enabled = false and records the reason here).
ALTER TABLE guild_config
    ADD COLUMN dm_enabled BOOLEAN NOT NULL DEFAULT true,
    ADD COLUMN disabled_reason TEXT;

-- Where an announcement went (so it can be edited later) and, for a permanent failure, why not.
ALTER TABLE notification_log
    ADD COLUMN channel_id TEXT,
    ADD COLUMN message_id TEXT,
    ADD COLUMN failure_reason TEXT;
CREATE INDEX idx_notification_log_sent_at ON notification_log(sent_at);

-- Cached DM channel, and why DMs to this user stopped (e.g. 50007 Cannot send messages to this user).
ALTER TABLE users
    ADD COLUMN dm_channel_id TEXT,
    ADD COLUMN dm_disabled_reason TEXT;

-- At most one DM per user per stream, however many guilds track the streamer.
CREATE TABLE dm_log (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    event_id TEXT NOT NULL,
    streamer_id UUID REFERENCES streamers(id) ON DELETE CASCADE,
    channel_id TEXT,
    message_id TEXT,
    failure_reason TEXT,
    sent_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (user_id, event_id)
);
CREATE INDEX idx_dm_log_sent_at ON dm_log(sent_at);

-- EventSub message ids already accepted by the ingest (replay/duplicate guard; pruned after the window).
CREATE TABLE eventsub_messages (
    message_id TEXT PRIMARY KEY,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_eventsub_messages_received_at ON eventsub_messages(received_at);
