DROP INDEX IF EXISTS idx_guild_config_restart_cooldown;
