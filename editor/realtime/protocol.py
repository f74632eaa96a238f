"""The wire format: the only module that parses what clients send.

Client frames become frozen dataclasses or raise a :class:`~editor.domain.errors.CollabError`
with the protocol's code. Server messages are built here too, and :func:`frames`
packs several of them into as few frames as the frame limit allows.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from ..core import ot
from ..core.frames import snapshot_chunk
from ..domain.errors import BadJson, BadMessage, BadOp, TooLarge

CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Largest integer a JavaScript client can hold exactly; also fits a 64-bit column.
MAX_INT = 2**53 - 1
# A frame with this many brackets or more is read by the standard library alone (see parse).
DEEP_FRAME = 500


@dataclass(frozen=True, slots=True)
class Join:
    client: str
    since: int | None
    pending: bool = False  # the client holds unacknowledged edits: revisions, never a snapshot


@dataclass(frozen=True, slots=True)
class SubmitOp:
    seq: int
    base: int
    ops: list


@dataclass(frozen=True, slots=True)
class Presence:
    rev: int
    cursor: dict | None


Message = Join | SubmitOp | Presence


def _int(value: Any, name: str, *, minimum: int, seq: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_INT:
        raise BadMessage(f"{name} must be an integer from {minimum} to {MAX_INT}", seq=seq)
    return value


def parse(frame: str | bytes | None, *, max_components: int, max_insert: int) -> Message:
    """Parse one client frame into a message, or raise the matching protocol error."""
    if not isinstance(frame, str):
        raise BadMessage("frames must be text frames holding one JSON object")
    data = None
    # orjson reads a frame as json.loads would, four times as fast; the standard
    # library decides on whatever orjson refuses, and on frames that may nest deep
    # enough for the two to disagree (orjson gives up at 1,024 levels, json.loads at
    # Python's recursion limit). One difference is left: an integer past 64 bits is
    # read by orjson as a float, so a field that must be an integer refuses it with
    # the same code (see _int and the bound on ops below).
    if frame.count("[") + frame.count("{") < DEEP_FRAME:
        try:
            data = orjson.loads(frame)
        except orjson.JSONDecodeError:
            pass
    try:
        data = json.loads(frame) if data is None else data
    except (ValueError, RecursionError):
        raise BadJson("frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadMessage("a client frame holds exactly one JSON object")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise BadMessage("message has no string field 'type'")
    if kind == "join":
        client = data.get("client")
        if not isinstance(client, str) or not CLIENT_ID.fullmatch(client):
            raise BadMessage("client must be 1 to 64 characters of [A-Za-z0-9_-]")
        since = data.get("since")
        if since is not None:
            since = _int(since, "since", minimum=0)
        pending = data.get("pending", False)
        if not isinstance(pending, bool):
            raise BadMessage("pending must be true or false")
        return Join(client=client, since=since, pending=pending)
    if kind == "op":
        raw_seq = data.get("seq")
        seq = _int(raw_seq, "seq", minimum=1)
        base = _int(data.get("base"), "base", minimum=0, seq=seq)
        try:
            ops = ot.parse(data.get("ops"))
        except ot.OperationError as exc:
            raise BadOp(str(exc), seq=seq) from None
        if any(c["pos"] > MAX_INT or c.get("delete", 0) > MAX_INT for c in ops):
            raise BadOp(f"positions and lengths must be at most {MAX_INT}", seq=seq)
        if len(ops) > max_components:
            raise TooLarge(f"an op holds at most {max_components} components, got {len(ops)}", seq=seq)
        inserted = sum(len(c["insert"]) for c in ops if "insert" in c)
        if inserted > max_insert:
            raise TooLarge(f"an op inserts at most {max_insert} code points, got {inserted}", seq=seq)
        return SubmitOp(seq=seq, base=base, ops=ops)
    if kind == "presence":
        rev = _int(data.get("rev"), "rev", minimum=0)
        cursor = data.get("cursor")
        if cursor is not None:
            if not isinstance(cursor, dict) or set(cursor) != {"anchor", "head"}:
                raise BadMessage("cursor must be null or {anchor, head}")
            cursor = {
                "anchor": _int(cursor["anchor"], "cursor.anchor", minimum=0),
                "head": _int(cursor["head"], "cursor.head", minimum=0),
            }
        return Presence(rev=rev, cursor=cursor)
    raise BadMessage(f"unknown message type {kind[:40]!r}")


# --- server messages --------------------------------------------------------------


def dumps(message: Any) -> str:
    """Serialise compactly; text stays UTF-8 rather than \\u escapes.

    orjson writes what ``json.dumps(message, ensure_ascii=False, separators=(",",
    ":"))`` writes for what messages hold (strings, integers, booleans, None, lists
    and dicts of them), at a tenth of its cost: it runs for every ack and every
    revision. What orjson refuses goes through the standard library (an integer past
    64 bits, a lone surrogate, a key that is not a string), as do dataclasses and
    datetimes, which the standard library refuses. The two would part ways on floats
    below 1e-4 (``1e-05`` against ``0.00001``) and on NaN, which no message holds.
    """
    try:
        return orjson.dumps(message, option=_PASSTHROUGH).decode()
    except orjson.JSONEncodeError:
        return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def op_message(*, rev: int, client: str, seq: int, user_id: int, user_name: str, ops: list) -> dict:
    return {
        "type": "op",
        "rev": rev,
        "client": client,
        "seq": seq,
        "user": {"id": user_id, "name": user_name},
        "ops": ops,
    }


def ack_message(*, seq: int, rev: int) -> dict:
    return {"type": "ack", "seq": seq, "rev": rev}


def ready_message(*, rev: int, role: str) -> dict:
    return {"type": "ready", "rev": rev, "role": role}


def snapshot_messages(*, rev: int, content: str, max_frame: int) -> Iterator[dict]:
    """The text at ``rev`` as one or more ``snapshot`` messages that each fit a frame."""
    chunk = snapshot_chunk(max_frame)
    if len(content) <= chunk:
        yield {"type": "snapshot", "rev": rev, "content": content}
        return
    for start in range(0, len(content), chunk):
        message = {"type": "snapshot", "rev": rev, "content": content[start : start + chunk]}
        if start + chunk < len(content):
            message["more"] = True
        yield message


def frames(encoded: Iterable[str], *, max_frame: int) -> Iterator[str]:
    """Pack encoded messages into frames of at most ``max_frame`` bytes.

    One message goes out as itself; several go out as a JSON array, in order.
    """
    batch: list[str] = []
    size = 2  # the brackets of an array
    for text in encoded:
        length = len(text.encode("utf-8"))
        if batch and size + 1 + length > max_frame:
            yield batch[0] if len(batch) == 1 else "[" + ",".join(batch) + "]"
            batch, size = [], 2
        batch.append(text)
        size += length + (1 if len(batch) > 1 else 0)
    if batch:
        yield batch[0] if len(batch) == 1 else "[" + ",".join(batch) + "]"


def text_frame(frame: str) -> bytes:
    """``frame`` as a complete WebSocket text frame the way a server sends it: final,
    unmasked, uncompressed (RFC 6455, section 5.2). Framed once, it can be written to
    every connection owed the same frame."""
    payload = frame.encode("utf-8")
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + payload
