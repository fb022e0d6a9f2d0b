"""The dashboard's routes on the bot's own aiohttp server (next to /healthz and /metrics).

Every page first checks the link's token; anything wrong with it (forged, expired, revoked,
malformed) gets the same 403 page, which says nothing about the workspace. Pages link to each
other and to the stylesheet with relative URLs, so the dashboard also works behind a reverse
proxy that serves it under a path prefix.
"""

from __future__ import annotations

import datetime as dt
import logging

from aiohttp import web

from bot.dashboard.data import DashboardData, ScopeView
from bot.dashboard.links import DashboardLinks, Grant
from bot.dashboard.pages import Pages

log = logging.getLogger(__name__)

# No script at all (the pages need none), styles and images only from this server, and the page
# cannot be framed or submit anywhere.
CSP = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token is in the URL: never send it to another site
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
DENIED = (
    "This dashboard link is not valid",
    "It may have expired or been revoked. Ask a RepBot admin for a new one with /repbot dashboard.",
)


class DashboardWeb:
    def __init__(self, links: DashboardLinks, data: DashboardData, pages: Pages | None = None):
        self._links = links
        self._data = data
        self._pages = pages or Pages()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/dashboard/static/dashboard.css", self.stylesheet)
        app.router.add_get("/dashboard/{token}", self.with_slash)
        app.router.add_get("/dashboard/{token}/", self.overview)
        app.router.add_get("/dashboard/{token}/topics", self.topics)
        app.router.add_get("/dashboard/{token}/questions", self.questions)
        app.router.add_get("/dashboard/{token}/questions/{post_id}", self.question)
        app.router.add_get("/dashboard/{token}/people", self.people)

    # -- plumbing ----------------------------------------------------------------------------

    def _html(self, body: str, status: int = 200) -> web.Response:
        return web.Response(text=body, status=status, content_type="text/html", charset="utf-8", headers=HEADERS)

    def _refused(self, status: int = 403) -> web.Response:
        title, text = DENIED if status == 403 else ("Not found", "There is no such page on this dashboard.")
        return self._html(self._pages.render("denied.html", title=title, text=text), status)

    async def _grant(self, request: web.Request) -> tuple[Grant, ScopeView] | None:
        grant = await self._links.check(request.match_info["token"])
        if grant is None:
            return None
        view = await self._data.scope(grant.scope)
        return None if view is None else (grant, view)

    def _page(self, template: str, grant: Grant, view: ScopeView, depth: int, **context: object) -> web.Response:
        up = "../" * depth
        return self._html(
            self._pages.render(
                template,
                scope=view,
                base=up or "./",
                static=up + "../static/",
                expires=grant.expires.astimezone(dt.UTC),
                **context,
            )
        )

    # -- routes ------------------------------------------------------------------------------

    async def stylesheet(self, _: web.Request) -> web.Response:
        return web.Response(
            body=self._pages.stylesheet(), content_type="text/css", headers={**HEADERS, "Cache-Control": "max-age=3600"}
        )

    async def with_slash(self, request: web.Request) -> web.Response:
        if await self._grant(request) is None:
            return self._refused()
        # Relative, so it stays right under a proxy's path prefix.
        raise web.HTTPFound(location=f"{request.match_info['token']}/", headers=HEADERS)

    async def overview(self, request: web.Request) -> web.Response:
        found = await self._grant(request)
        if found is None:
            return self._refused()
        grant, view = found
        data = await self._data.overview(view)
        return self._page("overview.html", grant, view, 0, active="overview", page_title="Overview", data=data)

    async def topics(self, request: web.Request) -> web.Response:
        found = await self._grant(request)
        if found is None:
            return self._refused()
        grant, view = found
        data = await self._data.topics(view)
        return self._page("topics.html", grant, view, 0, active="topics", page_title="Topics", data=data)

    async def questions(self, request: web.Request) -> web.Response:
        found = await self._grant(request)
        if found is None:
            return self._refused()
        grant, view = found
        raw = request.query.get("page", "1")
        page = int(raw) if raw.isdigit() and len(raw) < 7 else 1
        data = await self._data.questions(view, page)
        return self._page("questions.html", grant, view, 0, active="questions", page_title="Questions", data=data)

    async def question(self, request: web.Request) -> web.Response:
        found = await self._grant(request)
        if found is None:
            return self._refused()
        grant, view = found
        raw = request.match_info["post_id"]
        detail = await self._data.question(view, int(raw)) if raw.isdigit() and len(raw) < 19 else None
        if detail is None:
            return self._refused(404)
        return self._page("question.html", grant, view, 1, active="questions", page_title=detail.stats.title, data=detail)

    async def people(self, request: web.Request) -> web.Response:
        found = await self._grant(request)
        if found is None:
            return self._refused()
        grant, view = found
        period = "week" if request.query.get("period") == "week" else "month"
        data = await self._data.people(view, period)
        return self._page("people.html", grant, view, 0, active="people", page_title="People", data=data)
