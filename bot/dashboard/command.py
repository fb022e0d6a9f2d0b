"""`/repbot dashboard [workspace|revoke]`: an admin's private link to the team dashboard."""

from __future__ import annotations

from bot.commands import Command, Reply
from bot.daily import DailyFlow
from bot.dashboard.links import DashboardLinks, Scope
from bot.events import CommandInvoked
from bot.messages import Context, Header, Section, message, text_message

USAGE = "Use `dashboard` (this channel), `dashboard workspace` (every channel) or `dashboard revoke` (turn every link off)."


def dashboard_base_url(public_url: str | None, http_port: int | None) -> str | None:
    """Where people open the dashboard: the public URL, else the bot's own port on this machine."""
    if public_url:
        return public_url.rstrip("/")
    if http_port is not None:
        return f"http://localhost:{http_port}"
    return None


class DashboardCommand:
    def __init__(self, links: DashboardLinks, daily: DailyFlow, base_url: str | None):
        self._links = links
        self._daily = daily
        self._base_url = base_url

    def command_spec(self) -> Command:
        return Command(
            "dashboard",
            "dashboard [workspace|revoke]",
            "a private link to the team dashboard (web page); `revoke` turns every link off",
            self.handle,
            admin=True,
        )

    async def handle(self, event: CommandInvoked) -> Reply:
        arg = event.args[0].lower() if event.args else ""
        place = event.place
        if arg == "revoke":
            await self._links.revoke(place.platform, place.workspace)
            return Reply(text_message("Every dashboard link of this workspace is now turned off. `dashboard` makes a new one."))
        if arg not in ("", "workspace"):
            return Reply(text_message(USAGE))
        if arg == "" and place.is_dm:
            return Reply(text_message("Run `dashboard` in a team channel, or `dashboard workspace` for every channel."))
        if self._base_url is None:
            return Reply(
                text_message(
                    "The dashboard is served on the bot's HTTP port, which is not set: set REPBOT_HTTP_PORT "
                    "(and REPBOT_PUBLIC_URL to the address people reach it at), then restart RepBot."
                )
            )
        if arg == "workspace":
            scope, what = Scope(place.platform, place.workspace), "every channel of this workspace"
        else:
            channel = await self._daily.ensure_channel(place)
            scope, what = Scope(place.platform, place.workspace, place.channel), f"#{channel.name or channel.channel_ref}"
        token, expires = await self._links.issue(scope)
        url = f"{self._base_url}/dashboard/{token}/"
        return Reply(
            message(
                Header("Team dashboard"),
                Section.of(url),
                Context(
                    f"Read-only, for {what}; works until {expires:%d %b %Y %H:%M} UTC. Anyone with this link can open it, "
                    "so keep it out of channels. `dashboard revoke` turns every link off."
                ),
                summary="Team dashboard link",
                tags=("dashboard",),
            ),
            private=True,
        )
