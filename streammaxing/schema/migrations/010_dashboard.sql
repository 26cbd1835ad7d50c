-- 010: what the web dashboard keeps.
--
-- web_sessions: server-side sessions. The browser's cookie holds a random id; only its SHA-256
-- is stored, so a leaked table row cannot be replayed as a cookie. An anonymous session holds
-- the OAuth `state` and PKCE verifier between /login and the callback; a signed-in one names
-- its user (or the local operator). `access_token` is the user's Discord token sealed with
-- TOKEN_ENCRYPTION_KEYS (null when no keys are configured).
CREATE TABLE web_sessions (
    id_hash BYTEA PRIMARY KEY,
    user_id TEXT REFERENCES users(user_id) ON DELETE CASCADE,
    operator BOOLEAN NOT NULL DEFAULT false,
    csrf_token TEXT NOT NULL,
    oauth_state TEXT,
    oauth_verifier TEXT,
    access_token TEXT,
    access_expires_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (NOT (operator AND user_id IS NOT NULL))
);
CREATE INDEX idx_web_sessions_user ON web_sessions (user_id);
CREATE INDEX idx_web_sessions_last_seen ON web_sessions (last_seen_at);

-- user_guilds: the user's Discord guild list as `GET /users/@me/guilds` last returned it, with
-- their permissions in each guild. `user_guild_lists.fetched_at` says when the whole list was
-- read (a user in no guild has a row there and none in user_guilds).
CREATE TABLE user_guild_lists (
    user_id TEXT PRIMARY KEY REFERENCES users(user_id) ON DELETE CASCADE,
    fetched_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE user_guilds (
    user_id TEXT NOT NULL REFERENCES user_guild_lists(user_id) ON DELETE CASCADE,
    guild_id TEXT NOT NULL,
    name TEXT NOT NULL,
    icon TEXT,
    owner BOOLEAN NOT NULL DEFAULT false,
    permissions TEXT,
    PRIMARY KEY (user_id, guild_id)
);

-- A per-streamer message: when set, it replaces the template's `content` for that streamer's
-- announcements in that guild (same variables, same limits).
ALTER TABLE guild_streamers ADD COLUMN custom_content TEXT;
