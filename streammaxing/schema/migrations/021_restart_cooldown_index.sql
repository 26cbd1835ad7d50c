-- 021: the longest restart cooldown any guild set, read by one index probe.
--
-- A go-live first asks whether the streamer's previous stream ended recently enough for any
-- guild to re-use its message (`resume_targets`). Most guilds keep the service-wide cooldown
-- (NULL here), so this index is small; `max()` over it is one probe instead of a scan of every
-- guild's configuration.
CREATE INDEX idx_guild_config_restart_cooldown ON guild_config (restart_cooldown_seconds)
    WHERE restart_cooldown_seconds IS NOT NULL;
