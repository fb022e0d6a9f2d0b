"""The bot's own small HTTP server: /healthz, /readyz, /livez for orchestrators, /metrics for Prometheus."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.health import Health, HealthReport
from bot.metrics import Metrics


def make_app(
    metrics: Metrics,
    queue_depth: Callable[[], Awaitable[int]],
    inbox_depth: Callable[[], Awaitable[int]],
    health: Health,
    alive: Callable[[], bool] = lambda: True,
) -> web.Application:
    """/healthz: every check, 503 when any is down. /readyz: the checks that decide whether this
    replica can take traffic (database, platform connections). /livez: the process is serving
    and has not given up (a fatal error is on its way to a non-zero exit); no I/O."""

    def answer(report: HealthReport) -> web.Response:
        return web.json_response(report.to_json(), status=200 if report.ok else 503)

    async def healthz(_: web.Request) -> web.Response:
        return answer(await health.report())

    async def readyz(_: web.Request) -> web.Response:
        return answer(await health.readiness())

    async def livez(_: web.Request) -> web.Response:
        ok = alive()
        return web.json_response({"status": "ok" if ok else "down"}, status=200 if ok else 503)

    async def metrics_view(_: web.Request) -> web.Response:
        body = await metrics.render(queue_depth, inbox_depth, health.report)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/livez", livez)
    app.router.add_get("/metrics", metrics_view)
    return app


async def serve(app: web.Application, port: int, host: str = "0.0.0.0") -> web.AppRunner:  # noqa: S104 - a container port
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
