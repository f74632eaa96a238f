"""The frame budget: every sum made with COLLAB_MAX_FRAME_BYTES, in one module."""

import json

import pytest

from editor.core import frames
from editor.domain import services
from editor.realtime import protocol


@pytest.mark.parametrize("max_frame", [16384, 65536, 1024 * 1024])
def test_an_op_at_the_insert_limit_fits_a_frame_whatever_its_text(max_frame):
    """The most components, each inserting its share of the limit as control characters
    (six bytes each as JSON), still make an `op` message that fits the frame."""
    components = 100
    limit = frames.op_insert_limit(max_frame=max_frame, max_components=components, max_insert=10**9)
    share = limit // components
    op = [{"pos": 10**6 + i, "insert": "\x01" * share} for i in range(components)]
    message = protocol.op_message(rev=10**9, client="c" * 64, seq=10**9, user_id=10**9, user_name="u" * 150, ops=op)
    assert limit >= components and len(protocol.dumps(message).encode()) <= max_frame
    assert frames.op_size_over_limit(op, max_frame=max_frame) is None
    assert frames.op_insert_limit(max_frame=max_frame, max_components=components, max_insert=7) == 7


def test_an_op_over_the_budget_is_measured_and_one_within_it_is_not():
    """The size is reported only when it is over what a frame leaves for the op."""
    max_frame = frames.OP_MESSAGE_ROOM + 1000
    assert frames.op_size_over_limit([{"pos": 0, "insert": "é" * 400}], max_frame=max_frame) is None
    over = [{"pos": 0, "insert": "\x01" * 200}]
    assert frames.op_size_over_limit(over, max_frame=max_frame) == len(json.dumps(over, separators=(",", ":")))


def test_a_frame_is_measured_in_bytes_of_utf8():
    """Four-byte characters count four times; a lone surrogate does not crash the check."""
    assert not frames.frame_too_large("😀" * 25, max_frame=100)
    assert frames.frame_too_large("😀" * 26, max_frame=100)
    assert frames.frame_too_large("\ud800" * 40, max_frame=100)


def test_every_snapshot_message_fits_a_frame():
    """A text of control characters is cut into messages that each fit."""
    content = "\x01" * 5000
    messages = list(protocol.snapshot_messages(rev=123456, content=content, max_frame=1024))
    assert "".join(m["content"] for m in messages) == content and len(messages) > 1
    assert all(len(protocol.dumps(m).encode()) <= 1024 for m in messages)


def test_the_editor_page_splits_pastes_as_the_server_cuts_whole_text_edits(client, ada, settings):
    """The page's insert limit is the one the commit path cuts large edits by."""
    settings.COLLAB_MAX_FRAME_BYTES = 64 * 1024
    document = services.document_create(title="Budget", owner=ada)
    client.force_login(ada)
    page = client.get(f"/documents/{document.pk}/").content.decode()
    expected = frames.op_insert_limit(
        max_frame=settings.COLLAB_MAX_FRAME_BYTES,
        max_components=settings.COLLAB_MAX_COMPONENTS,
        max_insert=settings.COLLAB_MAX_INSERT_CHARS,
    )
    assert f'data-max-insert="{expected}"' in page
    committed = services.document_replace_text(
        document_id=document.pk, user=ada, base=0, text="x" * (expected + 1), client="form"
    )
    assert committed.revision == 2  # two pieces: the limit, then the one code point left
