"""The admin API's operations: each one a thin handler over `streammaxing.manage` and its
description."""

from __future__ import annotations

from typing import Final

from streammaxing.admin.api_models import NoBody, NoQuery
from streammaxing.admin.routing import AnyOperation, Operation, PathArgs, Reply, Response
from streammaxing.manage import audit, guilds, members, streamers
from streammaxing.manage.actor import Actor
from streammaxing.manage.models import (
    AuditPage,
    AuditQuery,
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
from streammaxing.manage.services import ManageServices

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


async def _list_guilds(s: ManageServices, a: Actor, _: PathArgs, q: PageQuery, __: NoBody) -> Reply:
    return Reply(200, await guilds.list_guilds(s, a, q))


async def _put_guild(s: ManageServices, a: Actor, p: PathArgs, _: NoQuery, b: GuildUpsert) -> Reply:
    guild, created = await guilds.upsert_guild(s, a, p["guild_id"], b)
    return Reply(_status(created), guild)


async def _get_guild(s: ManageServices, a: Actor, p: PathArgs, _: NoQuery, __: NoBody) -> Reply:
    return Reply(200, await guilds.get_guild(s, a, p["guild_id"]))


async def _delete_guild(s: ManageServices, a: Actor, p: PathArgs, _: NoQuery, __: NoBody) -> Reply:
    await guilds.delete_guild(s, a, p["guild_id"])
    return Reply(204)


async def _get_config(s: ManageServices, a: Actor, p: PathArgs, _: NoQuery, __: NoBody) -> Reply:
    return Reply(200, await guilds.get_config(s, a, p["guild_id"]))


async def _put_config(
    s: ManageServices, a: Actor, p: PathArgs, _: NoQuery, b: GuildConfigUpdate
) -> Reply:
    config, created = await guilds.set_config(s, a, p["guild_id"], b)
    return Reply(_status(created), config)


async def _preview(
    s: ManageServices, a: Actor, p: PathArgs, _: NoQuery, b: PreviewRequest
) -> Reply:
    return Reply(200, await guilds.preview(s, a, p["guild_id"], b))


async def _history(s: ManageServices, a: Actor, p: PathArgs, q: HistoryQuery, _: NoBody) -> Reply:
    return Reply(200, await guilds.history(s, a, p["guild_id"], q))


async def _audit(s: ManageServices, a: Actor, p: PathArgs, q: AuditQuery, _: NoBody) -> Reply:
    return Reply(200, await audit.audit_trail(s, a, p["guild_id"], q))


# -- streamers -------------------------------------------------------------------------------


async def _list_streamers(
    s: ManageServices, a: Actor, p: PathArgs, _: NoQuery, __: NoBody
) -> Reply:
    return Reply(200, await streamers.list_streamers(s, a, p["guild_id"]))


async def _track(s: ManageServices, a: Actor, p: PathArgs, _: NoQuery, b: StreamerAdd) -> Reply:
    return Reply(201, await streamers.track_streamer(s, a, p["guild_id"], b))


async def _get_streamer(s: ManageServices, a: Actor, p: PathArgs, _: NoQuery, __: NoBody) -> Reply:
    return Reply(200, await streamers.get_streamer(s, a, p["guild_id"], p["streamer"]))


async def _update(s: ManageServices, a: Actor, p: PathArgs, _: NoQuery, b: StreamerUpdate) -> Reply:
    guild_id, streamer = p["guild_id"], p["streamer"]
    return Reply(200, await streamers.update_streamer(s, a, guild_id, streamer, b))


async def _untrack(s: ManageServices, a: Actor, p: PathArgs, _: NoQuery, __: NoBody) -> Reply:
    await streamers.untrack_streamer(s, a, p["guild_id"], p["streamer"])
    return Reply(204)


# -- members ---------------------------------------------------------------------------------


async def _subscribers(s: ManageServices, a: Actor, p: PathArgs, q: PageQuery, _: NoBody) -> Reply:
    return Reply(200, await members.list_subscribers(s, a, p["guild_id"], q))


async def _subscribe(s: ManageServices, a: Actor, p: PathArgs, _: NoQuery, __: NoBody) -> Reply:
    subscriber, created = await members.subscribe(s, a, p["guild_id"], p["user_id"])
    return Reply(_status(created), subscriber)


async def _unsubscribe(s: ManageServices, a: Actor, p: PathArgs, _: NoQuery, __: NoBody) -> Reply:
    await members.unsubscribe(s, a, p["guild_id"], p["user_id"])
    return Reply(204)


async def _put_user(s: ManageServices, a: Actor, p: PathArgs, _: NoQuery, b: UserUpsert) -> Reply:
    user, created = await members.upsert_user(s, a, p["user_id"], b)
    return Reply(_status(created), user)


async def _get_user(s: ManageServices, a: Actor, p: PathArgs, _: NoQuery, __: NoBody) -> Reply:
    return Reply(200, await members.get_user(s, a, p["user_id"]))


async def _erase_user(s: ManageServices, a: Actor, p: PathArgs, _: NoQuery, __: NoBody) -> Reply:
    await members.erase_user(s, a, p["user_id"])
    return Reply(204)


async def _preferences(s: ManageServices, a: Actor, p: PathArgs, _: NoQuery, __: NoBody) -> Reply:
    return Reply(200, await members.list_preferences(s, a, p["user_id"]))


async def _set_pref(
    s: ManageServices, a: Actor, p: PathArgs, _: NoQuery, b: PreferenceSet
) -> Reply:
    user_id, guild_id, streamer = p["user_id"], p["guild_id"], p["streamer"]
    return Reply(200, await members.set_preference(s, a, user_id, guild_id, streamer, b))


async def _clear_pref(s: ManageServices, a: Actor, p: PathArgs, _: NoQuery, __: NoBody) -> Reply:
    await members.clear_preference(s, a, p["user_id"], p["guild_id"], p["streamer"])
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
    Operation("GET", _GUILD + "/audit", "guildAudit", "Who changed what in a guild", "audit",
              _audit, AuditQuery, NoBody, {200: Response("Newest first.", AuditPage)},
              description="One entry per change: who acted (the operator or a Discord user), "
              "from which surface (api, cli, dashboard, discord, system), what they did and a "
              "small detail. The trail of a deleted guild stays readable here."),
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
