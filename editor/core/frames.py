"""The frame budget: how the frame limit (COLLAB_MAX_FRAME_BYTES) is shared out.

No frame either way may exceed the limit (daphne is started with it, and aborts a
connection that sends a larger one). Every sum made with the limit is made here, in
bytes of UTF-8; the commit path, the editor page, the consumer, the catch-up and the
hub call these functions instead of doing their own arithmetic. Standard library only.
"""

from __future__ import annotations

import json

# The most an `op` message to other clients takes besides its ops (type, rev, client,
# seq, user): an op must fit in a frame less this.
OP_MESSAGE_ROOM = 1024
# At most this many bytes of JSON per op component besides its inserted text...
COMPONENT_BYTES = 64
# ... and per code point of text (a six-byte \u00XX escape of a control character).
CODE_POINT_BYTES = 6
# The most a `snapshot` message takes besides its text.
SNAPSHOT_ROOM = 128
# The largest frame a hub builds once and sends to every connection of a round (a
# larger round is framed per connection); only for connections whose limit allows it.
MAX_SHARED_FRAME = 256 * 1024


def op_bytes_limit(max_frame: int) -> int:
    """The most bytes an op (its JSON) may take so that its `op` message fits a frame."""
    return max_frame - OP_MESSAGE_ROOM


def op_size_over_limit(op: list, *, max_frame: int) -> int | None:
    """The bytes ``op`` takes when that is more than :func:`op_bytes_limit`, else None.

    Most ops are shown to fit by a bound on their size, without encoding them.
    """
    limit = op_bytes_limit(max_frame)
    bound = sum(COMPONENT_BYTES + CODE_POINT_BYTES * len(comp.get("insert", "")) for comp in op)
    if bound <= limit:
        return None
    size = len(json.dumps(op, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    return size if size > limit else None


def op_insert_limit(*, max_frame: int, max_components: int, max_insert: int) -> int:
    """The most code points one op may insert: within ``max_insert`` and small enough
    that an op with ``max_components`` components fits a frame whatever its text (the
    editor page splits a paste by it, the server cuts whole-text edits by it)."""
    fits = (op_bytes_limit(max_frame) - COMPONENT_BYTES * max_components) // CODE_POINT_BYTES
    return max(1, min(max_insert, fits))


def snapshot_chunk(max_frame: int) -> int:
    """The most code points of text one `snapshot` message carries."""
    return max(1, (max_frame - SNAPSHOT_ROOM) // CODE_POINT_BYTES)


def frame_too_large(text: str, *, max_frame: int) -> bool:
    """Whether a text frame takes more than ``max_frame`` bytes of UTF-8 (encoded only
    when it might: a code point takes at most 4 bytes)."""
    if len(text) * 4 <= max_frame:
        return False
    return len(text.encode("utf-8", "surrogatepass")) > max_frame
