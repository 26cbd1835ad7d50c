-- Reverts 001: drops every seed table (dependants first).
DROP TABLE IF EXISTS notification_log;
DROP TABLE IF EXISTS eventsub_subscriptions;
DROP TABLE IF EXISTS user_preferences;
DROP TABLE IF EXISTS guild_streamers;
DROP TABLE IF EXISTS streamers;
DROP TABLE IF EXISTS guild_config;
DROP TABLE IF EXISTS guilds;
DROP TABLE IF EXISTS users;
