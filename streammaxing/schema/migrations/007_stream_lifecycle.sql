-- 007: stream lifecycle (SPEC §5.4). A row per Twitch stream remembers what its announcements
-- were rendered from and when it went offline/ended; streamers remember their latest channel
-- info; guilds may set their own restart cooldown and an offline template. An announcement that
-- re-uses the previous stream's message (restart within the cooldown) is status 'resumed'.

CREATE TABLE streams (
    stream_id TEXT PRIMARY KEY,                 -- Twitch stream id (stream.online event.id)
    streamer_id UUID NOT NULL REFERENCES streamers(id) ON DELETE CASCADE,
    started_at TIMESTAMPTZ NOT NULL,
    snapshot JSONB,                             -- the stream data announcements are rendered from
    offline_at TIMESTAMPTZ,                     -- stream.offline received
    ended_at TIMESTAMPTZ,                       -- announcements edited to their "ended" form
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_streams_streamer ON streams (streamer_id, created_at DESC);

ALTER TABLE streamers
    ADD COLUMN last_title TEXT,
    ADD COLUMN last_category_id TEXT,
    ADD COLUMN last_category_name TEXT,
    ADD COLUMN channel_updated_at TIMESTAMPTZ;

ALTER TABLE guild_config
    ADD COLUMN restart_cooldown_seconds INTEGER CHECK (restart_cooldown_seconds >= 0),
    ADD COLUMN offline_template JSONB;

ALTER TABLE notification_log DROP CONSTRAINT notification_log_status_check;
ALTER TABLE notification_log
    ADD CONSTRAINT notification_log_status_check
        CHECK (status IN ('pending', 'sent', 'failed', 'dry_run', 'resumed')),
    ADD COLUMN resumed_from TEXT;
