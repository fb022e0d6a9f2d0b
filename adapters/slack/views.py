"""Slack surfaces that have no neutral counterpart: the private answer modal and the App Home view."""

from __future__ import annotations

from typing import Any

from adapters.slack.events import ANSWER_BLOCK, PRIVATE_ANSWER_CALLBACK
from adapters.slack.render import MAX_VIEW_BLOCKS, plain_text, render_view_blocks
from bot.messages import Message

# Slack caps plain_text_input at 3000 characters; longer private answers go in the thread.
ANSWER_MAX_LENGTH = 3000


def private_answer_modal(metadata: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": PRIVATE_ANSWER_CALLBACK,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": "Answer privately"},
        "submit": {"type": "plain_text", "text": "Submit"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": "Your answer is graded like a thread reply but stays hidden from everyone until the reveal.",
                    }
                ],
            },
            {
                "type": "input",
                "block_id": ANSWER_BLOCK,
                "label": {"type": "plain_text", "text": "Your answer"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": ANSWER_BLOCK,
                    "multiline": True,
                    "min_length": 1,
                    "max_length": ANSWER_MAX_LENGTH,
                },
            },
        ],
    }


def received_view(note: str) -> dict[str, Any]:
    """Replaces the modal after a submit, so the person sees it was taken."""
    return {
        "type": "modal",
        "callback_id": "repbot_private_answer_done",
        "title": {"type": "plain_text", "text": "Answer received"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [{"type": "section", "text": {"type": "plain_text", "text": plain_text(note, 3000)}}],
    }


def home_view(message: Message) -> dict[str, Any]:
    return {"type": "home", "blocks": render_view_blocks(message, MAX_VIEW_BLOCKS)}
