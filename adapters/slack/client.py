"""The Slack Web API client RepBot uses everywhere: configured base URL, retries on 429 and resets."""

from __future__ import annotations

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler, AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.config import SlackConfig


def make_client(config: SlackConfig, *, wait_out_429s: bool = True) -> AsyncWebClient:
    """A client on `SLACK_API_URL` that retries dropped connections and (unless told not to)
    waits out 429s, honouring Retry-After. SlackChat posts through one that does not: its own
    retries of a refused post go through its pacing again instead of around it."""
    handlers: list[AsyncRetryHandler] = [AsyncConnectionErrorRetryHandler()]
    if wait_out_429s:
        handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
    return AsyncWebClient(token=config.bot_token, base_url=config.api_url, retry_handlers=handlers)
