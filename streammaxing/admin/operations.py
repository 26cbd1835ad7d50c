"""The admin API's operations: each one a thin handler over the service and its description."""

from __future__ import annotations

from typing import Final

from streammaxing.admin import service, service_members, service_streamers
from streammaxing.admin.models import (
    DmSubscriberOut,
    DmSubscriberPage,
    GuildConfigOut,
    GuildConfigUpdate,
    GuildOut,
    GuildPage,
    GuildStreamerList,
    GuildStreamerOut,
    GuildUpsert,
    HistoryOut,
    HistoryQuery,
    NoBody,
    NoQuery,
    PageQuery,
    PreferenceList,
    PreferenceOut,
    PreferenceSet,
    PreviewOut,
    PreviewRequest,
    StreamerAdd,
    StreamerUpdate,
    UserOut,
    UserUpsert,
)
from streammaxing.admin.routing import AnyOperation, Operation, PathArgs, Reply, Response
from streammaxing.admin.service import AdminServices

_MISSING = {404: "The guild, user or streamer named does not exist (or is not linked)."}
_WRITE = {**_MISSING, 409: "The change conflicts with the current state or a concurrent change."}
_DELETED = {204: Response("Done; no content.")}


def _saved(
    model: type[GuildOut | GuildConfigOut | UserOut | DmSubscriberOut],
) -> dict[int, Response]:
    return {200: Response("Updated.", model), 201: Response("Created.", model)}


def _status(created: bool) -> int:
    return 201 if created else 200


# -- guilds ----------------------------------------------------------------------------------


async def _list_guilds(s: AdminServices, _: PathArgs, q: PageQuery, __: NoBody) -> Reply:
    return Reply(200, await service.list_guilds(s, q))


async def _put_guild(s: AdminServices, p: PathArgs, _: NoQuery, b: GuildUpsert) -> Reply:
    guild, created = await service.upsert_guild(s, p["guild_id"], b)
    return Reply(_status(created), guild)


async def _get_guild(s: AdminServices, p: PathArgs, _: NoQuery, __: NoBody) -> Reply:
    return Reply(200, await service.get_guild(s, p["guild_id"]))


async def _delete_guild(s: AdminServices, p: PathArgs, _: NoQuery, __: NoBody) -> Reply:
    await service.delete_guild(s, p["guild_id"])
    return Reply(204)


async def _get_config(s: AdminServices, p: PathArgs, _: NoQuery, __: NoBody) -> Reply:
    return Reply(200, await service.get_config(s, p["guild_id"]))


async def _put_config(s: AdminServices, p: PathArgs, _: NoQuery, b: GuildConfigUpdate) -> Reply:
    config, created = await service.set_config(s, p["guild_id"], b)
    return Reply(_status(created), config)


async def _preview(s: AdminServices, p: PathArgs, _: NoQuery, b: PreviewRequest) -> Reply:
    return Reply(200, await service.preview(s, p["guild_id"], b))


async def _history(s: AdminServices, p: PathArgs, q: HistoryQuery, _: NoBody) -> Reply:
    return Reply(200, await service.history(s, p["guild_id"], q))


# -- streamers -------------------------------------------------------------------------------


async def _list_streamers(s: AdminServices, p: PathArgs, _: NoQuery, __: NoBody) -> Reply:
    return Reply(200, await service_streamers.list_streamers(s, p["guild_id"]))


async def _track(s: AdminServices, p: PathArgs, _: NoQuery, b: StreamerAdd) -> Reply:
    return Reply(201, await service_streamers.track_streamer(s, p["guild_id"], b))


async def _get_streamer(s: AdminServices, p: PathArgs, _: NoQuery, __: NoBody) -> Reply:
    return Reply(200, await service_streamers.get_streamer(s, p["guild_id"], p["streamer"]))


async def _update(s: AdminServices, p: PathArgs, _: NoQuery, b: StreamerUpdate) -> Reply:
    guild_id, streamer = p["guild_id"], p["streamer"]
    return Reply(200, await service_streamers.update_streamer(s, guild_id, streamer, b))


async def _untrack(s: AdminServices, p: PathArgs, _: NoQuery, __: NoBody) -> Reply:
    await service_streamers.untrack_streamer(s, p["guild_id"], p["streamer"])
    return Reply(204)


# -- members ---------------------------------------------------------------------------------


async def _subscribers(s: AdminServices, p: PathArgs, q: PageQuery, _: NoBody) -> Reply:
    return Reply(200, await service_members.list_subscribers(s, p["guild_id"], q))


async def _subscribe(s: AdminServices, p: PathArgs, _: NoQuery, __: NoBody) -> Reply:
    subscriber, created = await service_members.subscribe(s, p["guild_id"], p["user_id"])
    return Reply(_status(created), subscriber)


async def _unsubscribe(s: AdminServices, p: PathArgs, _: NoQuery, __: NoBody) -> Reply:
    await service_members.unsubscribe(s, p["guild_id"], p["user_id"])
    return Reply(204)


async def _put_user(s: AdminServices, p: PathArgs, _: NoQuery, b: UserUpsert) -> Reply:
    user, created = await service_members.upsert_user(s, p["user_id"], b)
    return Reply(_status(created), user)


async def _get_user(s: AdminServices, p: PathArgs, _: NoQuery, __: NoBody) -> Reply:
    return Reply(200, await service_members.get_user(s, p["user_id"]))


async def _erase_user(s: AdminServices, p: PathArgs, _: NoQuery, __: NoBody) -> Reply:
    await service_members.erase_user(s, p["user_id"])
    return Reply(204)


async def _preferences(s: AdminServices, p: PathArgs, _: NoQuery, __: NoBody) -> Reply:
    return Reply(200, await service_members.list_preferences(s, p["user_id"]))


async def _set_pref(s: AdminServices, p: PathArgs, _: NoQuery, b: PreferenceSet) -> Reply:
    user_id, guild_id, streamer = p["user_id"], p["guild_id"], p["streamer"]
    return Reply(200, await service_members.set_preference(s, user_id, guild_id, streamer, b))


async def _clear_pref(s: AdminServices, p: PathArgs, _: NoQuery, __: NoBody) -> Reply:
    await service_members.clear_preference(s, p["user_id"], p["guild_id"], p["streamer"])
    return Reply(204)


_GUILD = "/guilds/{guild_id}"
_STREAMER = _GUILD + "/streamers/{streamer}"
_PREFERENCE = "/users/{user_id}/preferences/{guild_id}/{streamer}"

# fmt: off
OPERATIONS: Final[tuple[AnyOperation, ...]] = (
    Operation("GET", "/guilds", "listGuilds", "List guilds, a page at a time", "guilds",
              _list_guilds, PageQuery, NoBody, {200: Response("A page of guilds.", GuildPage)}),
    Operation("PUT", _GUILD, "upsertGuild", "Create or update a guild", "guilds",
              _put_guild, NoQuery, GuildUpsert, _saved(GuildOut), _WRITE),
    Operation("GET", _GUILD, "getGuild", "Get a guild", "guilds",
              _get_guild, NoQuery, NoBody, {200: Response("The guild.", GuildOut)}, _MISSING),
    Operation("DELETE", _GUILD, "deleteGuild", "Delete a guild and everything about it",
              "guilds", _delete_guild, NoQuery, NoBody, _DELETED, _WRITE,
              description="Config, tracked streamers, DM subscribers, preferences and logs "
              "go with it; streamers no guild tracks any more are removed by the cleanup job."),
    Operation("GET", _GUILD + "/config", "getConfig", "Get a guild's config", "config",
              _get_config, NoQuery, NoBody, {200: Response("The config.", GuildConfigOut)},
              _MISSING),
    Operation("PUT", _GUILD + "/config", "setConfig", "Set a guild's config", "config",
              _put_config, NoQuery, GuildConfigUpdate, _saved(GuildConfigOut), _WRITE,
              description="Fields left out keep their value; a first config needs channel_id "
              "and gets the default template. Templates are validated; null sets the role, "
              "the restart cooldown or the offline template back to its default; setting "
              "`enabled` clears `disabled_reason`."),
    Operation("POST", _GUILD + "/config/preview", "previewAnnouncement",
              "Render the announcement Discord would receive", "config", _preview, NoQuery,
              PreviewRequest, {200: Response("The Discord payload.", PreviewOut)}, _MISSING,
              body_required=False,
              description="Form `live`: the message as posted; form `ended`: as edited when "
              "the stream ends (the offline template, or the default ended form)."),
    Operation("GET", _GUILD + "/history", "guildHistory", "A guild's recent announcements",
              "history", _history, HistoryQuery, NoBody,
              {200: Response("Newest first.", HistoryOut)}, _MISSING),
    Operation("GET", _GUILD + "/streamers", "listStreamers", "Streamers a guild tracks",
              "streamers", _list_streamers, NoQuery, NoBody,
              {200: Response("The guild's streamers.", GuildStreamerList)}, _MISSING),
    Operation("POST", _GUILD + "/streamers", "trackStreamer", "Track a Twitch streamer",
              "streamers", _track, NoQuery, StreamerAdd,
              {201: Response("Now tracked; its subscription job is queued.", GuildStreamerOut)},
              {**_WRITE, 502: "Twitch could not resolve the login right now."},
              description="The login is resolved through Helix (404 for an unknown login); "
              "without Twitch credentials (dry-run) give `broadcaster_id`."),
    Operation("GET", _STREAMER, "getStreamer", "One streamer a guild tracks", "streamers",
              _get_streamer, NoQuery, NoBody, {200: Response("The link.", GuildStreamerOut)},
              _MISSING),
    Operation("PATCH", _STREAMER, "updateStreamer", "Enable or disable a tracked streamer",
              "streamers", _update, NoQuery, StreamerUpdate,
              {200: Response("The link.", GuildStreamerOut)}, _WRITE),
    Operation("DELETE", _STREAMER, "untrackStreamer", "Stop tracking a streamer", "streamers",
              _untrack, NoQuery, NoBody, _DELETED, _WRITE),
    Operation("GET", _GUILD + "/dm-subscribers", "listDmSubscribers",
              "Members who opted in to personal alerts", "dm-subscribers", _subscribers,
              PageQuery, NoBody, {200: Response("A page.", DmSubscriberPage)}, _MISSING),
    Operation("PUT", _GUILD + "/dm-subscribers/{user_id}", "subscribeDm",
              "Opt a member in to personal alerts", "dm-subscribers", _subscribe, NoQuery,
              NoBody, _saved(DmSubscriberOut), _WRITE),
    Operation("DELETE", _GUILD + "/dm-subscribers/{user_id}", "unsubscribeDm",
              "Opt a member out of personal alerts", "dm-subscribers", _unsubscribe, NoQuery,
              NoBody, _DELETED, _WRITE),
    Operation("PUT", "/users/{user_id}", "upsertUser", "Create or update a user", "users",
              _put_user, NoQuery, UserUpsert, _saved(UserOut), _WRITE),
    Operation("GET", "/users/{user_id}", "getUser", "Get a user", "users",
              _get_user, NoQuery, NoBody, {200: Response("The user.", UserOut)}, _MISSING),
    Operation("DELETE", "/users/{user_id}", "eraseUser", "Erase everything about a user",
              "users", _erase_user, NoQuery, NoBody, _DELETED, _WRITE,
              description="GDPR erasure: the user, their preferences, subscriptions and DM log; "
              "mentions elsewhere (who added a streamer, a guild's owner) are cleared."),
    Operation("GET", "/users/{user_id}/preferences", "listPreferences",
              "A user's guilds × streamers with effective on/off", "preferences", _preferences,
              NoQuery, NoBody, {200: Response("Guilds the user subscribed to.", PreferenceList)},
              _MISSING),
    Operation("PUT", _PREFERENCE, "setPreference", "Mute or unmute a streamer's DMs",
              "preferences", _set_pref, NoQuery, PreferenceSet,
              {200: Response("The preference.", PreferenceOut)}, _WRITE),
    Operation("DELETE", _PREFERENCE, "clearPreference", "Back to the default (on)",
              "preferences", _clear_pref, NoQuery, NoBody, _DELETED, _WRITE),
)
# fmt: on
