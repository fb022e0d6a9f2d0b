"""The Slack adapter: a slack-bolt AsyncApp in Socket Mode or HTTP mode, wired to the core.

Single workspace: SLACK_BOT_TOKEN. Several workspaces (HTTP mode): SLACK_CLIENT_ID and
SLACK_CLIENT_SECRET enable bolt's OAuth install at /slack/install, with installations kept by
slack-sdk's SQLAlchemy installation store in RepBot's own database.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiohttp import ClientSession, ClientTimeout, web
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore

from adapters.slack.chat import SlackChat
from adapters.slack.client import make_client
from adapters.slack.config import SlackConfig, manifest_bot_scopes, manifest_command
from adapters.slack.listeners import SlackListeners
from adapters.slack.people import AdminList, People
from adapters.slack.tokens import InstalledTokens, SingleToken, TokenSource
from bot.config import Settings
from storage.db import make_engine

if TYPE_CHECKING:
    from bot.app import RepBot

log = logging.getLogger(__name__)

OAUTH_STATE_SECONDS = 600
# On stop, requests in flight may finish storing their answers; Slack gives up on them after 3 s anyway.
SHUTDOWN_GRACE = 5.0


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

    @classmethod
    def from_settings(cls, settings: Settings, *, host: str = "0.0.0.0") -> SlackAdapter:
        return cls(SlackConfig.from_settings(settings), host=host)

    @property
    def chat(self) -> SlackChat:
        return self._chat

    def build_app(self, bot: RepBot) -> AsyncApp:
        oauth_settings = None
        if self.config.oauth is not None:
            assert self._install_engine is not None
            oauth_settings = AsyncOAuthSettings(
                client_id=self.config.oauth.client_id,
                client_secret=self.config.oauth.client_secret,
                scopes=list(manifest_bot_scopes()),
                redirect_uri=self.config.oauth.redirect_uri,
                installation_store=self.installations,
                state_store=AsyncSQLAlchemyOAuthStateStore(expiration_seconds=OAUTH_STATE_SECONDS, engine=self._install_engine),
            )
        app = AsyncApp(
            client=self.client,
            signing_secret=self.config.signing_secret,
            # Listeners finish before Slack gets its 200 / Socket Mode ack: an acknowledged answer
            # is a stored answer. Slow work is in lazy listeners (see listeners.py).
            process_before_response=True,
            oauth_settings=oauth_settings,
        )
        if oauth_settings is not None:
            app.enable_token_revocation_listeners()
        else:
            # Subscribed in the manifest for multi-workspace installs; with one token, just note them.
            for name in ("tokens_revoked", "app_uninstalled"):
                app.event(name)(_note_revocation)
        SlackListeners(bot, self._chat, self.people, manifest_command()).register(app)
        return app

    async def start(self, bot: RepBot) -> None:
        self.api.session = self.posts.session = ClientSession(timeout=ClientTimeout(total=self.api.timeout))
        if self.config.oauth is not None:
            await self._create_install_tables()
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
            self._socket = AsyncSocketModeHandler(self.app, self.config.app_token)
            await self._socket.connect_async()
            log.info("Slack Socket Mode: connected")

    async def stop(self) -> None:
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


async def _note_revocation(body: dict[str, object]) -> None:
    log.warning("Slack says the app was uninstalled or its tokens revoked (%s)", (body.get("event") or {}).get("type"))  # type: ignore[union-attr]
