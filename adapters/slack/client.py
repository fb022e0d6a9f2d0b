"""The Slack Web API client RepBot uses everywhere: configured base URL, retries on 429 and resets."""

from __future__ import annotations

from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler, AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.config import SlackConfig


def make_client(config: SlackConfig) -> AsyncWebClient:
    """A client on `SLACK_API_URL` that waits out 429s (honouring Retry-After) and retries dropped connections."""
    return AsyncWebClient(
        token=config.bot_token,
        base_url=config.api_url,
        retry_handlers=[AsyncConnectionErrorRetryHandler(), AsyncRateLimitErrorRetryHandler(max_retry_count=3)],
    )
