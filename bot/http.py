"""The bot's own small HTTP server: /healthz for orchestrators, /metrics for Prometheus."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.metrics import Metrics


def make_app(
    metrics: Metrics,
    queue_depth: Callable[[], Awaitable[int]],
    inbox_depth: Callable[[], Awaitable[int]],
    healthy: Callable[[], Awaitable[bool]],
) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        ok = await healthy()
        return web.json_response({"status": "ok" if ok else "degraded"}, status=200 if ok else 503)

    async def metrics_view(_: web.Request) -> web.Response:
        body = await metrics.render(queue_depth, inbox_depth)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_view)
    return app


async def serve(app: web.Application, port: int, host: str = "0.0.0.0") -> web.AppRunner:  # noqa: S104 - a container port
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
