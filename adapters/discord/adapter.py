"""DiscordAdapter: builds the discord.py client, wires its events to the core, runs it.

Modes (logged at start): a single gateway connection or `AutoShardedClient`
(REPBOT_DISCORD_SHARDS), and with or without the privileged MESSAGE_CONTENT intent
(REPBOT_DISCORD_MESSAGE_CONTENT): with it, thread replies are answers; without it, people
answer through the "Answer privately" modal. Commands sync globally, per guild, or not at all
(REPBOT_DISCORD_SYNC).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands
from pydantic import SecretStr

from adapters.discord import events as ev
from adapters.discord.chat import DiscordChat, send_kwargs
from adapters.discord.commands import build_group
from adapters.discord.endpoints import Endpoints
from adapters.discord.interactions import Interactions
from adapters.discord.render import render
from bot.commands import Reply
from bot.config import Settings
from bot.health import Check
from bot.supervise import Fatal

if TYPE_CHECKING:
    from bot.app import RepBot

log = logging.getLogger(__name__)

SyncMode = Literal["global", "guild", "off"]

CLIENT_TASK = "discord-client"
TOKEN_FIX = "Discord rejected the bot token: check DISCORD_TOKEN (Bot > Reset Token in the Developer Portal)"
INTENT_FIX = (
    "Discord refused the MESSAGE_CONTENT intent: enable it under Bot > Privileged Gateway Intents "
    "in the Developer Portal, or set REPBOT_DISCORD_MESSAGE_CONTENT=false"
)
# Gateway close codes after which Discord will not take the same connection again: reconnecting
# cannot help, someone has to change a setting (https://discord.com/developers/docs/topics/opcodes-and-status-codes).
FATAL_CLOSES = {
    4004: f"Discord closed the gateway with 4004 (authentication failed): {TOKEN_FIX}",
    4010: "Discord closed the gateway with 4010 (invalid shard): check REPBOT_DISCORD_SHARDS",
    4011: "Discord closed the gateway with 4011 (sharding required): set REPBOT_DISCORD_SHARDS=0 (automatic)",
    4012: "Discord closed the gateway with 4012 (invalid API version): upgrade RepBot's discord.py",
    4013: "Discord closed the gateway with 4013 (invalid intents): a RepBot bug; please report it",
    4014: INTENT_FIX,
}


def fatal_line(exc: BaseException | None) -> str | None:
    """The one line naming the fix when the client stopped for a reason a restart cannot fix."""
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        return INTENT_FIX
    if isinstance(exc, discord.LoginFailure):
        return TOKEN_FIX
    if isinstance(exc, discord.ConnectionClosed):
        return FATAL_CLOSES.get(exc.code)
    return None


@dataclass(frozen=True)
class DiscordOptions:
    token: SecretStr = field(repr=False)
    shards: int | None = None  # None: one connection; 0: AutoShardedClient, Discord picks the count
    message_content: bool = False
    sync: SyncMode = "global"
    admins: tuple[str, ...] = ()
    api_base: str | None = None
    gateway_url: str | None = None
    ready_timeout: float = 60.0
    guild_ready_timeout: float = 2.0  # how long discord.py waits for GUILD_CREATEs before READY


def intents_for(message_content: bool) -> discord.Intents:
    """Guilds (channels, threads, roles), guild messages, DMs; MESSAGE_CONTENT only when asked for."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.dm_messages = True
    intents.message_content = message_content
    return intents


def describe_mode(options: DiscordOptions) -> str:
    if options.shards is None:
        connection = "single gateway connection"
    else:
        connection = f"AutoShardedClient ({options.shards or 'automatic'} shards)"
    content = (
        "MESSAGE_CONTENT on: thread replies are answers"
        if options.message_content
        else "MESSAGE_CONTENT off: answers come through the Answer privately modal"
    )
    return f"{connection}; {content}; command sync: {options.sync}"


class DiscordAdapter:
    platform = ev.PLATFORM

    def __init__(self, options: DiscordOptions):
        self.options = options
        self.endpoints = Endpoints(options.api_base, options.gateway_url)
        common: dict[str, Any] = {
            "intents": intents_for(options.message_content),
            "allowed_mentions": discord.AllowedMentions.none(),
            "guild_ready_timeout": options.guild_ready_timeout,
        }
        if options.shards is None:
            self.client: discord.Client = discord.Client(**common)
        else:
            self.client = discord.AutoShardedClient(shard_count=options.shards or None, **common)
        self.endpoints.install(self.client)
        self.tree = app_commands.CommandTree(self.client)
        self._chat = DiscordChat(self.client, self.endpoints)
        self._bot: RepBot | None = None
        self._interactions: Interactions | None = None
        self._ready = asyncio.Event()
        self._synced = False
        self._task: asyncio.Task[None] | None = None
        self._connected = False
        self._disconnected_at: float | None = None
        self._jobs: set[asyncio.Task[None]] = set()  # history fetches after a new session
        for name in ("on_ready", "on_resumed", "on_message", "on_raw_message_edit", "on_raw_message_delete", "on_disconnect"):
            setattr(self.client, name, getattr(self, name))
        for name in ("on_raw_bulk_message_delete", "on_interaction", "on_guild_join"):
            setattr(self.client, name, getattr(self, name))

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> DiscordAdapter:
        if settings.discord_token is None:
            raise ValueError("DISCORD_TOKEN is not set")
        values: dict[str, Any] = {
            "token": settings.discord_token,
            "shards": settings.discord_shards,
            "message_content": settings.discord_message_content,
            "sync": settings.discord_sync,
            "admins": tuple(settings.admins),
            "api_base": settings.discord_api_base,
            "gateway_url": settings.discord_gateway_url,
        }
        values.update(overrides)
        return cls(DiscordOptions(**values))

    @property
    def chat(self) -> DiscordChat:
        return self._chat

    @property
    def bot(self) -> RepBot:
        assert self._bot is not None, "start() first"
        return self._bot

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self, bot: RepBot) -> None:
        """Log in, connect to the gateway, and return once READY; errors say what to fix."""
        self._bot = bot
        self._interactions = Interactions(bot, self._chat, list(self.options.admins))
        bot.health.add("discord", self._health, readiness=True)  # 503 until READY
        self.tree.add_command(build_group(self._interactions.command, bot.commands.table))
        log.info("Discord adapter: %s", describe_mode(self.options))
        self._task = asyncio.create_task(self._run(), name="discord-client")
        ready = asyncio.create_task(self._ready.wait())
        try:
            done, _ = await asyncio.wait(
                {self._task, ready}, timeout=self.options.ready_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            ready.cancel()
        if self._task in done:
            error = self._task.exception()
            await self.client.close()  # a failed login leaves discord.py's HTTP session open
            raise Fatal(self._start_error(error)) from error
        if not done:
            await self.stop()
            raise Fatal(f"Discord did not become ready within {self.options.ready_timeout:g} s")
        # From here on the client is watched for good: a crash restarts it, a close Discord
        # will not take back (4004 token, 4014 intent) stops the process with the fix.
        bot.supervisor.spawn(CLIENT_TASK, self._keep_connected)

    async def _run(self) -> None:
        # Interaction responses made by tasks this client starts use the endpoint override.
        self.endpoints.enter()
        await self.client.start(self.options.token.get_secret_value())

    async def _keep_connected(self) -> None:
        """Supervised (bot/supervise.py): waits on the client; after a crash, runs a fresh one."""
        if self._task is None or self._task.done():
            with contextlib.suppress(Exception):
                await self.client.close()
            self.client.clear()
            # close() closed the HTTP connector with its session and dropped the event loop:
            # login would build its new session on the closed connector ("Session is closed"),
            # and READY would fail on the missing loop. Entering the client (what `async with
            # client:` does) binds the running loop again.
            self.client.http.connector = discord.utils.MISSING
            await self.client.__aenter__()
            self._task = asyncio.create_task(self._run(), name="discord-client")
        try:
            # Shielded: stopping the supervision must not cancel the client; stop() closes it.
            await asyncio.shield(self._task)
        except Exception as exc:
            self._lost()
            line = fatal_line(exc)
            if line is not None:
                raise Fatal(line) from exc
            raise
        self._lost()
        raise RuntimeError("the Discord client returned although nobody stopped it")

    def _lost(self) -> None:
        """The client itself ended (no disconnect event comes then): health says so until READY."""
        if self._connected:
            self._connected, self._disconnected_at = False, asyncio.get_running_loop().time()

    def _start_error(self, exc: BaseException | None) -> str:
        line = fatal_line(exc)
        if line is not None:
            return line
        if exc is None:
            return "the Discord client stopped before it was ready"
        return f"the Discord client stopped during start-up: {type(exc).__name__}: {exc}"

    async def _health(self) -> Check:
        if self._connected:
            return Check(True, f"gateway connected, latency {self.client.latency * 1000:.0f} ms")
        if not self._ready.is_set():
            return Check(False, "connecting to the gateway (waiting for READY)")
        since = ""
        if self._disconnected_at is not None:
            since = f" for {asyncio.get_running_loop().time() - self._disconnected_at:.0f} s"
        return Check(False, f"gateway disconnected{since}; reconnecting")

    async def stop(self) -> None:
        if self._bot is not None:
            await self._bot.supervisor.cancel(CLIENT_TASK)
        for job in list(self._jobs):
            job.cancel()
        await self.client.close()
        if self._task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._task, 10)
            self._task = None

    # -- gateway events -----------------------------------------------------------------------

    async def on_ready(self) -> None:
        user = self.client.user
        log.info("Discord ready as %s (%s) in %d guild(s)", user, user.id if user else "?", len(self.client.guilds))
        self._connected, self._disconnected_at = True, None
        if self._ready.is_set():
            # READY again, not RESUMED: the gateway started a new session and will not replay
            # what was said while the bot was away. Read it from the open question threads.
            self._start_job(self._catch_up_threads())
        try:
            if not self._synced:
                self._synced = True
                await self._sync()
        finally:
            self._ready.set()

    async def on_resumed(self) -> None:
        self._connected, self._disconnected_at = True, None
        log.info("Discord gateway session resumed")

    async def on_disconnect(self) -> None:
        if self._connected:
            log.warning("Discord gateway disconnected; discord.py is reconnecting")
            self._disconnected_at = asyncio.get_running_loop().time()
        self._connected = False

    def _start_job(self, job: Any) -> None:
        task = asyncio.create_task(job)
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    async def _catch_up_threads(self) -> None:
        """File answers written in open question threads while the gateway was away. Each message
        takes the live path, so ones already filed are recognised by their id and count once."""
        if not self.options.message_content:
            return  # without the intent, history has no text; answers come through the modal
        try:
            threads = await self.bot.open_question_threads(self.platform)
        except Exception:  # e.g. the database is down; the next new session reads them again
            log.warning("Discord: could not list the open question threads to read after a new session", exc_info=True)
            return
        log.info("Discord: new gateway session; reading %d open question thread(s) for missed answers", len(threads))
        for ref in threads:
            if ref.thread_id is None:
                continue
            try:
                thread = self.client.get_channel(int(ref.thread_id)) or await self.client.fetch_channel(int(ref.thread_id))
                history = thread.history(limit=None, after=discord.Object(int(ref.thread_id)), oldest_first=True)  # type: ignore[union-attr]
                async for message in history:
                    await self.on_message(message)
            except Exception:  # one thread's failure must not stop the others
                log.warning("could not read the history of Discord thread %s", ref.thread_id, exc_info=True)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        if self.options.sync == "guild":
            await self._sync_guild(guild)

    async def _sync(self) -> None:
        try:
            if self.options.sync == "global":
                synced = await self.tree.sync()
                log.info("synced %d global application command(s); Discord may take a while to show changes", len(synced))
            elif self.options.sync == "guild":
                for guild in self.client.guilds:
                    await self._sync_guild(guild)
        except Exception:  # e.g. HTTP errors or too many commands; the bot still runs without /repbot
            log.exception("application command sync failed; /repbot may be missing or outdated")

    async def _sync_guild(self, guild: discord.Guild) -> None:
        self.tree.copy_global_to(guild=guild)
        synced = await self.tree.sync(guild=guild)
        log.info("synced %d application command(s) to guild %s", len(synced), guild.id)

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.webhook_id is not None:
            return
        try:
            if message.guild is None:
                await self._direct_message(message)
                return
            parent = await self._thread_parent(message.channel)
            if parent is None:
                return
            event = ev.thread_answer(message, parent)
            if event is not None:
                result = await self.bot.handle(event)
                log.debug("thread message %s: %s", message.id, getattr(result, "outcome", result))
        except Exception:
            log.exception("could not handle Discord message %s", message.id)

    async def _thread_parent(self, channel: object) -> int | None:
        parent = ev.thread_parent(channel)
        if parent is not None or isinstance(channel, discord.abc.GuildChannel):
            return parent
        # A channel discord.py has not cached (e.g. a thread created while disconnected): ask once.
        channel_id = getattr(channel, "id", None)
        if channel_id is None:
            return None
        try:
            return ev.thread_parent(await self.client.fetch_channel(channel_id))
        except discord.HTTPException:
            return None

    async def _direct_message(self, message: discord.Message) -> None:
        event = ev.direct_message(message)
        if event is None or not await self.bot.first_time_seen(ev.dm_key(message)):
            return
        reply = await self.bot.handle(event)
        if isinstance(reply, Reply):
            for out in render(reply.message):
                await message.channel.send(**send_kwargs(out))

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        event = ev.answer_edited(payload.message)
        if event is not None:
            try:
                await self.bot.handle(event)
            except Exception:
                log.exception("could not handle the edit of message %s", payload.message_id)

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        await self._deleted(ev.answers_deleted(payload.guild_id, payload.channel_id, [payload.message_id]))

    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        await self._deleted(ev.answers_deleted(payload.guild_id, payload.channel_id, payload.message_ids))

    async def _deleted(self, events: list[Any]) -> None:
        for event in events:
            try:
                await self.bot.handle(event)
            except Exception:
                log.exception("could not handle the deletion %s", event.source_id)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if self._interactions is not None:
            await self._interactions.on_interaction(interaction)
