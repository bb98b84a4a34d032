"""Light Block Kit validation, done the way Slack does where it is cheap to check."""

from __future__ import annotations

from typing import Any

from bot.sandbox.doubles.slack.errors import SlackError

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_TEXT = 40_000
SECTION_TEXT_MAX = 3000
HEADER_TEXT_MAX = 150
BLOCK_ID_MAX = 255

KNOWN_BLOCKS = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "rich_text",
        "section",
        "video",
        "markdown",
        "table",
        "context_actions",
    }
)


def _invalid(message: str, pointer: str) -> SlackError:
    return SlackError(
        "invalid_blocks",
        errors=[f"{message} [json-pointer:{pointer}]"],
        response_metadata={"messages": [f"[ERROR] {message} [json-pointer:{pointer}]"]},
    )


def _text_len(obj: Any) -> int:
    if isinstance(obj, dict) and isinstance(obj.get("text"), str):
        return len(obj["text"])
    return 0


def validate_blocks(blocks: Any, *, limit: int = MAX_MESSAGE_BLOCKS) -> list[dict[str, Any]]:
    """Return ``blocks`` as a list of dicts, or raise ``invalid_blocks[_format]``."""
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        raise SlackError("invalid_blocks_format")
    if len(blocks) > limit:
        raise _invalid(f"no more than {limit} items allowed", "/blocks")
    for i, block in enumerate(blocks):
        where = f"/blocks/{i}"
        btype = block.get("type")
        if not isinstance(btype, str) or btype not in KNOWN_BLOCKS:
            raise _invalid("unsupported type", f"{where}/type")
        block_id = block.get("block_id")
        if block_id is not None and (not isinstance(block_id, str) or len(block_id) > BLOCK_ID_MAX):
            raise _invalid(f"must be less than {BLOCK_ID_MAX + 1} characters", f"{where}/block_id")
        if btype == "section":
            if _text_len(block.get("text")) > SECTION_TEXT_MAX:
                raise _invalid(
                    f"must be less than {SECTION_TEXT_MAX + 1} characters", f"{where}/text/text"
                )
            if "text" not in block and "fields" not in block:
                raise _invalid("must provide text or fields", where)
            for j, fld in enumerate(block.get("fields") or []):
                if _text_len(fld) > 2000:
                    raise _invalid("must be less than 2001 characters", f"{where}/fields/{j}")
        elif btype == "header" and _text_len(block.get("text")) > HEADER_TEXT_MAX:
            raise _invalid(
                f"must be less than {HEADER_TEXT_MAX + 1} characters", f"{where}/text/text"
            )
        elif btype == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements or len(elements) > 25:
                raise _invalid("must provide between 1 and 25 elements", f"{where}/elements")
        elif btype == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements or len(elements) > 10:
                raise _invalid("must provide between 1 and 10 elements", f"{where}/elements")
    return blocks


def validate_message_content(
    text: str | None, blocks: Any, attachments: Any, *, require: bool = True
) -> list[dict[str, Any]] | None:
    """Slack's checks on a message's text/blocks/attachments; returns the decoded blocks."""
    if require and not text and not blocks and not attachments:
        raise SlackError("no_text")
    if text is not None and len(text) > MAX_TEXT:
        raise SlackError("msg_too_long")
    if blocks is None or blocks == []:
        return None if blocks is None else []
    return validate_blocks(blocks)


def validate_view(view: Any) -> dict[str, Any]:
    """A view payload for views.open/push/update/publish."""
    if not isinstance(view, dict):
        raise SlackError("invalid_arguments")
    vtype = view.get("type")
    if vtype not in ("modal", "home"):
        raise SlackError(
            "invalid_arguments",
            response_metadata={
                "messages": ["[ERROR] must be one of modal, home [json-pointer:/view/type]"]
            },
        )
    if vtype == "modal" and not isinstance(view.get("title"), dict):
        raise SlackError(
            "invalid_arguments",
            response_metadata={
                "messages": ["[ERROR] missing required field: title [json-pointer:/view]"]
            },
        )
    validate_blocks(view.get("blocks", []), limit=MAX_VIEW_BLOCKS)
    return view
