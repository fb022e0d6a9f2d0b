"""Point one discord.py client at other REST and gateway endpoints (tests, proxies).

discord.py only offers process-wide switches (`Route.BASE`, `DiscordWebSocket.DEFAULT_GATEWAY`).
Instead of changing those for everyone, this rewrites URLs for one client: its HTTPClient's
`request` and `ws_connect`, and — for interaction responses, which discord.py sends through a
context-local webhook adapter — the adapter in the contexts that use this client.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import discord
import yarl
from discord.http import HTTPClient, Route
from discord.webhook.async_ import AsyncWebhookAdapter, async_context

# Hosts of Discord's own gateway (the default and the resume URLs it hands out).
_GATEWAY_HOSTS = ("discord.gg", "discord.com", "discordapp.com")


class Endpoints:
    def __init__(self, api_base: str | None = None, gateway_url: str | None = None):
        self.api_base = api_base  # e.g. http://127.0.0.1:8080/api/v10 (replaces https://discord.com/api/v10)
        self.gateway_url = gateway_url  # e.g. ws://127.0.0.1:8080/gateway
        # One adapter for all of this client's interaction responses: it holds their rate-limit locks.
        self._webhooks = _RedirectingWebhookAdapter(self) if api_base else AsyncWebhookAdapter()

    @property
    def active(self) -> bool:
        return bool(self.api_base or self.gateway_url)

    def rest_url(self, url: str) -> str:
        base = Route.BASE
        if self.api_base and url.startswith(base):
            return self.api_base.rstrip("/") + url[len(base) :]
        return url

    def gateway(self, url: str) -> str:
        """Discord's gateway URLs go to the override (keeping the query); others (a resume URL the
        override itself handed out) are left alone."""
        if not self.gateway_url:
            return url
        parsed = yarl.URL(url)
        host = parsed.host or ""
        if not any(host == h or host.endswith("." + h) for h in _GATEWAY_HOSTS):
            return url
        return str(yarl.URL(self.gateway_url).with_query(parsed.query))

    def install(self, client: discord.Client) -> None:
        """Rewrite this client's REST and gateway URLs (no effect on other clients)."""
        if not self.active:
            return
        http: HTTPClient = client.http
        request, ws_connect = http.request, http.ws_connect

        async def redirected_request(route: Route, **kwargs: Any) -> Any:
            route.url = self.rest_url(route.url)
            return await request(route, **kwargs)

        async def redirected_ws_connect(url: str, **kwargs: Any) -> Any:
            return await ws_connect(self.gateway(url), **kwargs)

        http.request = redirected_request  # type: ignore[method-assign]
        http.ws_connect = redirected_ws_connect  # type: ignore[method-assign]

    def enter(self) -> None:
        """Use the redirecting webhook adapter in the current context (and tasks created from it)."""
        if self.api_base:
            async_context.set(self._webhooks)

    @contextmanager
    def interactions(self) -> Iterator[None]:
        """For interaction responses sent from tasks the client did not start (e.g. grading)."""
        if not self.api_base:
            yield
            return
        token: contextvars.Token[AsyncWebhookAdapter] = async_context.set(self._webhooks)
        try:
            yield
        finally:
            async_context.reset(token)


class _RedirectingWebhookAdapter(AsyncWebhookAdapter):
    def __init__(self, endpoints: Endpoints):
        super().__init__()
        self._endpoints = endpoints

    async def request(self, route: Route, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        route.url = self._endpoints.rest_url(route.url)
        return await super().request(route, *args, **kwargs)
