"""The Slack adapter: a slack-bolt AsyncApp in Socket Mode or HTTP mode, wired to the core.

Single workspace: SLACK_BOT_TOKEN. Several workspaces (HTTP mode): SLACK_CLIENT_ID and
SLACK_CLIENT_SECRET enable bolt's OAuth install at /slack/install, with installations kept by
slack-sdk's SQLAlchemy installation store in RepBot's own database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import ClientError, ClientSession, ClientTimeout, web
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore

from adapters.slack.chat import SlackChat
from adapters.slack.client import make_client
from adapters.slack.config import SlackConfig, manifest_bot_scopes, manifest_command
from adapters.slack.events import Kind, read_message, to_event
from adapters.slack.installs import CachedInstallations
from adapters.slack.listeners import SlackListeners
from adapters.slack.people import AdminList, People
from adapters.slack.tokens import InstalledTokens, SingleToken, TokenSource
from bot.config import Settings
from bot.events import AnswerPosted
from bot.health import Check
from bot.supervise import Fatal
from storage.db import make_engine

if TYPE_CHECKING:
    from bot.app import RepBot

log = logging.getLogger(__name__)

OAUTH_STATE_SECONDS = 600
# On stop, requests in flight may finish storing their answers; Slack gives up on them after 3 s anyway.
SHUTDOWN_GRACE = 5.0
SOCKET_TASK = "slack-socket-mode"
WATCH_SECONDS = 2.0  # how often the Socket Mode connection's state is looked at
RECHECK_AFTER = 20.0  # disconnected this long: ask Slack whether the app token is still good
CONNECT_TIMEOUT = 15.0
MAX_RETRY_SECONDS = 30.0
# Slack's answers to a token it will not take: no retry fixes these, a person must.
REFUSED = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive", "not_allowed_token_type"}
)
BOT_TOKEN_FIX = "install the app again (Install App) and set SLACK_BOT_TOKEN to its xoxb- Bot User OAuth Token"
APP_TOKEN_FIX = (
    "generate an app-level token with connections:write (Basic Information > App-Level Tokens) and set SLACK_APP_TOKEN to it"
)
# slack-sdk's Socket Mode client logs every failed (re)connect attempt, with a traceback, each
# ping interval for as long as it fails. This adapter reports the connection itself, one line per
# change of state, so those lines of the library's log only show at DEBUG; everything else it
# logs (a failed ack, a listener error) still shows.
SDK_LOG = logging.getLogger(__name__ + ".socket_mode_sdk")
RECONNECT_NOISE = (
    "Failed to connect",
    "Failed to retrieve WSS URL",
    "Failed to check the current session",
    "Failed to send a ping",
    "Failed to receive or enqueue",
    "Failed to close the old session",
    "seems to be already closed",
    "seems to be stale",
)


class ReconnectNoise(logging.Filter):
    """Drops slack-sdk's per-attempt reconnect lines (the adapter's watcher reports the state)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            return True
        message = record.getMessage()
        return not any(noise in message for noise in RECONNECT_NOISE)


def refused(exc: BaseException) -> str | None:
    """Slack's error code when it refused a token (SlackApiError), else None."""
    if isinstance(exc, SlackApiError):
        error = str(exc.response.get("error") or "")
        return error if error in REFUSED else None
    return None


class SlackAdapter:
    platform = "slack"

    def __init__(self, config: SlackConfig, *, host: str = "0.0.0.0"):
        self.config = config
        self.host = host
        self.client = make_client(config)  # bolt's: it deep-copies its client for lazy listeners
        # RepBot's own Web API calls (posts, reactions, users) share one kept-alive HTTP session
        # from start() on, instead of slack-sdk's default of a new session and TCP connection per call.
        self.api = make_client(config)
        self.posts = make_client(config, wait_out_429s=False)  # SlackChat paces its own retries
        self._install_engine = make_engine(config.database_url) if config.oauth else None
        self.installations: AsyncSQLAlchemyInstallationStore | None = None
        tokens: TokenSource
        if config.oauth is not None:
            assert self._install_engine is not None
            self.installations = AsyncSQLAlchemyInstallationStore(client_id=config.oauth.client_id, engine=self._install_engine)
            tokens = InstalledTokens(self.installations)
        else:
            assert config.bot_token is not None
            tokens = SingleToken(config.bot_token)
        self._chat = SlackChat(self.api, tokens, workspace_requests_per_second=config.requests_per_second, posts=self.posts)
        self.people = People(self.api, tokens, AdminList.parse(config.admins))
        self.app: AsyncApp | None = None
        self.port: int | None = None  # the bound HTTP port once started (useful with port 0)
        self._runner: web.AppRunner | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._bot: RepBot | None = None
        self._bot_user: str | None = None  # from auth.test: the bot's own messages are not answers
        self._state = "starting"  # what /healthz says about the connection
        self._connected = False
        self._jobs: set[asyncio.Task[None]] = set()
        self._outage: str | None = None  # the failure kind last logged, so a retry loop logs it once
        self.recheck_after = RECHECK_AFTER
        self.connect_timeout = CONNECT_TIMEOUT

    @classmethod
    def from_settings(cls, settings: Settings, *, host: str = "0.0.0.0") -> SlackAdapter:
        return cls(SlackConfig.from_settings(settings), host=host)

    @property
    def chat(self) -> SlackChat:
        return self._chat

    def build_app(self, bot: RepBot) -> AsyncApp:
        oauth_settings = None
        authorize = None
        if self.config.oauth is not None:
            assert self._install_engine is not None and self.installations is not None
            # bolt's default calls auth.test before every request's ack; cached per bot token, a
            # workspace costs one call. The installation is read first (kept in memory for a
            # minute, adapters/slack/installs.py), so an uninstalled workspace finds no token.
            store = CachedInstallations(self.installations)
            authorize = AsyncInstallationStoreAuthorize(
                logger=log,
                installation_store=store,
                client_id=self.config.oauth.client_id,
                client_secret=self.config.oauth.client_secret,
                cache_enabled=True,
                client=self.client,
            )
            oauth_settings = AsyncOAuthSettings(
                client_id=self.config.oauth.client_id,
                client_secret=self.config.oauth.client_secret,
                scopes=list(manifest_bot_scopes()),
                redirect_uri=self.config.oauth.redirect_uri,
                installation_store=store,
                state_store=AsyncSQLAlchemyOAuthStateStore(expiration_seconds=OAUTH_STATE_SECONDS, engine=self._install_engine),
            )
        app = AsyncApp(
            client=self.client,
            signing_secret=self.config.signing_secret,
            # Listeners finish before Slack gets its 200 / Socket Mode ack: an acknowledged answer
            # is a stored answer. Slow work is in lazy listeners (see listeners.py).
            process_before_response=True,
            oauth_settings=oauth_settings,
            authorize=authorize,
        )
        if oauth_settings is not None:
            app.enable_token_revocation_listeners()
        else:
            # With one token, losing it is the end: no restart brings it back, a person must
            # reinstall the app. (Multi-workspace installs just forget that workspace, above.)
            for name in ("tokens_revoked", "app_uninstalled"):
                app.event(name)(self._revoked)
        SlackListeners(bot, self._chat, self.people, manifest_command()).register(app)
        return app

    async def start(self, bot: RepBot) -> None:
        """Check the tokens, then listen (HTTP) or connect (Socket Mode). A refused token stops
        start-up with one line naming it; an unreachable Slack is retried (health says so)."""
        self._bot = bot
        self.api.session = self.posts.session = ClientSession(timeout=ClientTimeout(total=self.api.timeout))
        bot.health.add("slack", self._health, readiness=True)
        if self.config.oauth is not None:
            await self._create_install_tables()
        else:
            await self._retrying("auth.test", self._check_bot_token)
        self.app = self.build_app(bot)
        if self.config.mode == "http":
            web_app = self.app.web_app(path=self.config.path, port=self.config.port)
            self._runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE)
            await self._runner.setup()
            await web.TCPSite(self._runner, self.host, self.config.port).start()
            self.port = self._runner.addresses[0][1]
            log.info("Slack HTTP mode: listening on %s:%s%s", self.host, self.port, self.config.path)
        else:
            assert self.config.app_token is not None
            if not any(isinstance(f, ReconnectNoise) for f in SDK_LOG.filters):
                SDK_LOG.addFilter(ReconnectNoise())
            self._socket = AsyncSocketModeHandler(self.app, self.config.app_token, logger=SDK_LOG, web_client=self.api)
            await self._retrying("Socket Mode connect", self._connect_socket)
            log.info("Slack Socket Mode: connected")
            bot.supervisor.spawn(SOCKET_TASK, self._watch_socket)
        self._connected = True
        self._state = "connected" if self._socket is not None else f"HTTP mode, listening on port {self.port}"

    # -- tokens and the Socket Mode connection ------------------------------------------------------

    async def _retrying(self, what: str, attempt: Any) -> None:
        """Run `attempt` until it succeeds: a refusal (Fatal) ends it, an outage is retried with
        backoff and logged once per kind of failure, not once per attempt."""
        delay = 1.0
        while True:
            try:
                await attempt()
                if self._outage is not None:
                    log.info("Slack reachable again (%s)", what)
                    self._outage = None
                return
            except (ClientError, OSError, TimeoutError, SlackApiError) as exc:
                kind = f"{what}: {type(exc).__name__}: {exc}"[:300]
                self._state = f"cannot reach Slack ({kind}); retrying"
                if kind != self._outage:
                    log.warning("Slack %s failed (%s: %s); retrying with backoff", what, type(exc).__name__, exc)
                    self._outage = kind
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_SECONDS)

    async def _check_bot_token(self) -> None:
        assert self.config.bot_token is not None
        try:
            reply = await self.api.auth_test(token=self.config.bot_token)
        except SlackApiError as exc:
            if (error := refused(exc)) is not None:
                raise Fatal(f"Slack refused SLACK_BOT_TOKEN ({error}): {BOT_TOKEN_FIX}") from None
            raise
        self._bot_user = reply.get("user_id")

    async def _open_url(self) -> str:
        """apps.connections.open with the app token: the Socket Mode URL, or why Slack refused."""
        assert self.config.app_token is not None
        try:
            reply = await self.api.apps_connections_open(app_token=self.config.app_token)
        except SlackApiError as exc:
            if (error := refused(exc)) is not None:
                raise Fatal(f"Slack refused SLACK_APP_TOKEN ({error}): {APP_TOKEN_FIX}") from None
            raise
        return str(reply["url"])

    async def _connect_socket(self) -> None:
        assert self._socket is not None
        client = self._socket.client
        client.wss_uri = await self._open_url()
        try:
            async with asyncio.timeout(self.connect_timeout):
                await client.connect()
        except TimeoutError:
            raise TimeoutError(f"the Socket Mode websocket did not open within {self.connect_timeout:g} s") from None

    async def _watch_socket(self) -> None:
        """Supervised: notices a lost connection (slack-sdk reconnects by itself), a revoked app
        token (stops the process with the fix), and a new connection, after which answers Slack
        did not redeliver are read from the open question threads."""
        assert self._socket is not None
        client = self._socket.client
        loop = asyncio.get_running_loop()
        session = await client.session_id()
        down_since: float | None = None
        checked_at = 0.0
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            if await client.is_connected():
                if down_since is not None:
                    log.info("Slack Socket Mode reconnected after %.0f s", loop.time() - down_since)
                    down_since = None
                self._state, self._connected = "connected", True
                now_session = await client.session_id()
                if now_session != session:
                    session = now_session
                    self._start_job(self._catch_up_threads())
                continue
            if down_since is None:
                down_since = loop.time()
                log.warning("Slack Socket Mode connection lost; reconnecting")
            self._connected = False
            self._state = f"Socket Mode disconnected for {loop.time() - down_since:.0f} s; reconnecting"
            if loop.time() - down_since >= self.recheck_after and loop.time() - checked_at >= self.recheck_after:
                checked_at = loop.time()
                with contextlib.suppress(ClientError, OSError, TimeoutError, SlackApiError):
                    await self._open_url()  # Fatal when the app token was revoked meanwhile

    def _start_job(self, job: Any) -> None:
        task = asyncio.create_task(job)
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    async def _catch_up_threads(self) -> None:
        """Read the open question threads (conversations.replies) and hold every answer in them;
        ones already held or filed are recognised by their message ts and count once."""
        assert self._bot is not None and self.config.bot_token is not None
        try:
            threads = await self._bot.open_question_threads(self.platform)
        except Exception:  # e.g. the database is down; the next new connection reads them again
            log.warning("Slack: could not list the open question threads to read after a reconnect", exc_info=True)
            return
        log.info("Slack: new Socket Mode connection; reading %d open question thread(s) for missed answers", len(threads))
        for ref in threads:
            try:
                cursor = None
                while True:
                    reply = await self.api.conversations_replies(
                        token=self.config.bot_token, channel=ref.place.channel, ts=ref.thread_id, limit=200, cursor=cursor
                    )
                    for message in reply.get("messages") or []:
                        await self._catch_up(ref.place.workspace, ref.place.channel, message)
                    cursor = (reply.get("response_metadata") or {}).get("next_cursor")
                    if not cursor:
                        break
            except Exception:  # one thread's failure must not stop the others
                log.warning("could not read Slack thread %s in %s", ref.thread_id, ref.place.channel, exc_info=True)

    async def _catch_up(self, team: str, channel: str, message: dict[str, Any]) -> None:
        assert self._bot is not None
        inbound = read_message({"team_id": team, "event": {**message, "channel": channel}}, self._bot_user)
        if inbound is None or inbound.kind is not Kind.ANSWER or inbound.user is None:
            return
        event = to_event(inbound, await self.people.name(team, inbound.user))
        if isinstance(event, AnswerPosted):
            await self._bot.receive_answer(event)

    async def _health(self) -> Check:
        return Check(self._connected, self._state)

    async def stop(self) -> None:
        if self._bot is not None:
            await self._bot.supervisor.cancel(SOCKET_TASK)
        for job in list(self._jobs):
            job.cancel()
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self._chat.close(grace=SHUTDOWN_GRACE)
        if self.api.session is not None:
            await self.api.session.close()
            self.api.session = self.posts.session = None
        if self._install_engine is not None:
            await self._install_engine.dispose()

    async def _create_install_tables(self) -> None:
        """slack-sdk owns these tables' shape; create_all only adds them when missing."""
        assert self.installations is not None and self._install_engine is not None
        await self.installations.create_tables()
        await AsyncSQLAlchemyOAuthStateStore(expiration_seconds=OAUTH_STATE_SECONDS, engine=self._install_engine).create_tables()

    async def _revoked(self, body: dict[str, Any]) -> None:
        event = body.get("event") or {}
        kind = str(event.get("type") or "")
        if kind == "tokens_revoked" and not (event.get("tokens") or {}).get("bot"):
            log.info("Slack revoked user tokens only; the bot token still works")
            return
        assert self._bot is not None
        self._bot.supervisor.fail(Fatal(f"Slack says {kind} for this app: the bot token is gone; {BOT_TOKEN_FIX}"))
