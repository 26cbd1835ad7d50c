ALTER TABLE guild_streamers DROP COLUMN custom_content;
DROP TABLE user_guilds;
DROP TABLE user_guild_lists;
DROP TABLE web_sessions;
