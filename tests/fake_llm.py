"""A fake OpenAI-compatible server: POST /v1/chat/completions on 127.0.0.1, port 0.

Each test scripts the replies (a queue, then an optional `responder` for anything left)
and reads back every request body the real `openai` client sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

ANSWER_BLOCK = re.compile(r"\n<<<ANSWER-([0-9a-f]+)>>>\n(.*)\n<<<END-ANSWER-\1>>>\n", re.DOTALL)


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON, str -> sent as is
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (for client timeouts)
    trickle: float = 0.0  # seconds between body chunks: each read is quick, the whole is slow


Responder = Callable[[dict[str, Any]], Reply]


def completion(content: str, *, prompt_tokens: int = 120, completion_tokens: int = 30) -> Reply:
    """A chat completion whose message content is `content` (model echoed from the request)."""
    return Reply(
        body={
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": None,  # filled from the request
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
    )


def verdict(
    verdicts: Mapping[str, str],
    *,
    feedback: str = "You missed the postmortem; study blameless incident reviews.",
    injection: bool = False,
    **extra: Any,
) -> Reply:
    """A well-formed grading reply; `extra` adds fields the grader must ignore (e.g. score=10)."""
    payload: dict[str, Any] = {
        "criteria": [
            {"id": cid, "evidence": f"quote for {cid}", "reason": f"reason for {cid}", "verdict": v}
            for cid, v in verdicts.items()
        ],
        "feedback": feedback,
        "injection_suspected": injection,
        **extra,
    }
    return completion(json.dumps(payload))


def malformed(text: str = '{"criteria": [{"id": "rollback-plan", "verdict": "full"') -> Reply:
    return completion(text)


def error(status: int, message: str, *, headers: Mapping[str, str] | None = None, param: str | None = None) -> Reply:
    return Reply(
        status=status,
        body={"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}},
        headers=dict(headers or {}),
    )


def rate_limited(retry_after: str | None) -> Reply:
    return error(429, "Rate limit reached", headers={"Retry-After": retry_after} if retry_after is not None else None)


def server_error(status: int = 500) -> Reply:
    return error(status, "The server had an error while processing your request.")


def rejects_json_schema() -> Reply:
    return error(400, "response_format type 'json_schema' is not supported by this server", param="response_format")


def slow(reply: Reply, delay: float) -> Reply:
    return dataclasses.replace(reply, delay=delay)


def trickling(reply: Reply, interval: float) -> Reply:
    return dataclasses.replace(reply, trickle=interval)


def answer_block(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """(delimiter code, answer) from the user message, as a model would locate the data block."""
    for message in body["messages"]:
        if message["role"] == "user":
            found = ANSWER_BLOCK.search(message["content"])
            if found:
                return found.group(1), found.group(2)
    return None


class FakeLLM:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: deque[Reply] = deque()
        self.responder: Responder | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        self.port = 0
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def push(self, *replies: Reply) -> None:
        self.script.extend(replies)

    async def start(self) -> FakeLLM:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        self._release.set()  # let slow handlers finish at once
        if self._runner is not None:
            await self._runner.cleanup()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.script:
                reply = self.script.popleft()
            elif self.responder is not None:
                reply = self.responder(body)
            else:
                reply = error(418, "unscripted request")  # not retried: the test did not expect it
            if reply.delay:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._release.wait(), reply.delay)
        finally:
            self.in_flight -= 1
        if isinstance(reply.body, str):
            return web.Response(status=reply.status, text=reply.body, headers=dict(reply.headers))
        payload = reply.body
        if isinstance(payload, dict) and payload.get("object") == "chat.completion":
            payload = {**payload, "model": body.get("model", "fake-model")}
        if reply.trickle:
            return await self._trickle(request, reply, json.dumps(payload).encode())
        return web.json_response(payload, status=reply.status, headers=dict(reply.headers))

    async def _trickle(self, request: web.Request, reply: Reply, data: bytes) -> web.StreamResponse:
        response = web.StreamResponse(status=reply.status, headers={"Content-Type": "application/json"})
        response.content_length = len(data)
        await response.prepare(request)
        step = max(1, len(data) // 8)
        try:
            for start in range(0, len(data), step):
                await response.write(data[start : start + step])
                if self._release.is_set():
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._release.wait(), reply.trickle)
            await response.write_eof()
        except ConnectionError:
            pass  # the client gave up, as the test intends
        return response
