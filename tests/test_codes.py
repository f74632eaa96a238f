"""One table of error and close codes (editor/static/editor/codes.json) for the server,
both clients and the editor page."""

import json
import re

import pytest

from editor.client import is_final_close
from editor.domain import errors, services
from editor.domain.errors import AccessDenied, Closing, CollabError, DocumentNotFound, Refusal

from .conftest import ROOT

TABLE = json.loads((ROOT / "editor" / "static" / "editor" / "codes.json").read_text())


def subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    return found.union(*(subclasses(sub) for sub in found)) if found else found


def test_every_error_code_of_the_table_has_its_exception_and_no_exception_has_another():
    """The server answers with the table's error codes and no other."""
    raised = {cls.code for cls in subclasses(CollabError)}
    assert raised == set(TABLE["errors"]) and len(raised) == 8


def test_an_exception_with_a_code_not_in_the_table_is_refused_at_import():
    """A typo in a new refusal's code fails when its module is imported, not on the wire."""
    with pytest.raises(TypeError, match="not an error code"):
        type("Misspelt", (CollabError,), {"code": "rate_limitted"})


def test_every_refusal_is_one_family_with_its_code_from_the_table():
    """Errors and closing refusals share one base; each closing one has its table's close code."""
    assert issubclass(CollabError, Refusal) and issubclass(Closing, Refusal)
    assert (DocumentNotFound.close, AccessDenied.close) == (4404, 4403)
    assert {TABLE["closes"][str(cls.close)]["name"] for cls in subclasses(Closing)} == {"not_found", "forbidden"}
    assert errors.RateLimited("slow down").retryable and not errors.BadOp("no").retryable


@pytest.mark.parametrize("code", sorted(TABLE["closes"]))
def test_both_clients_reconnect_after_exactly_the_close_codes_the_table_says(code):
    """The Python client stops for good after a close code exactly when the table says not
    to reconnect, and the protocol's 44xx rule says the same (the JS is checked by node)."""
    entry = TABLE["closes"][code]
    assert is_final_close(int(code)) is (not entry["reconnect"])
    assert (4400 <= int(code) <= 4499) is (not entry["reconnect"])
    assert (entry["message"] is None) is entry["reconnect"]  # a final close tells the user why


@pytest.mark.parametrize("path", ["editor/static/editor/editor.js", "editor/realtime/consumers.py"])
def test_no_close_code_is_written_outside_the_table(path):
    """Close codes are named in the table only, never written as numbers in code (the
    clients' 44xx range is the protocol's rule, checked against the table above)."""
    source = (ROOT / path).read_text()
    code_lines = [line for line in source.splitlines() if not line.strip().startswith(("#", "*", "//", "/*"))]
    written = [code for code in TABLE["closes"] if any(re.search(rf"\b{code}\b", line) for line in code_lines)]
    assert written == []


def test_the_editor_page_carries_the_table_as_data_not_as_a_script(client, ada):
    """The page renders the table as json_script data for the editor's module to read."""
    document = services.document_create(title="Codes", owner=ada, content="x")
    client.force_login(ada)
    page = client.get(f"/documents/{document.pk}/").content.decode()
    data = re.search(r'<script id="codes" type="application/json">(.*?)</script>', page, re.DOTALL)
    assert data is not None and json.loads(data.group(1)) == TABLE


@pytest.mark.parametrize("path", ["editor/static/editor/client.js", "editor/client/editing.py"])
def test_both_clients_retry_exactly_the_retryable_error_codes(path):
    """The clients' state machines keep and resend an op refused with a retryable code
    (rate_limited), keep and re-apply after a re-join an op refused with a rebased one
    (bad_base, bad_op), and name no other error code."""
    source = (ROOT / path).read_text()
    named = {code for code in TABLE["errors"] if f'"{code}"' in source}
    retryable = {code for code, entry in TABLE["errors"].items() if entry["retryable"]}
    rebased = {code for code, entry in TABLE["errors"].items() if entry.get("rebased")}
    assert retryable == {"rate_limited"} and rebased == {"bad_base", "bad_op"}
    assert named == retryable | rebased
    listed = re.search(r"(?:REAPPLIED = new Set\(\[|REAPPLIED_CODES = frozenset\(\{)([^\]}]*)", source).group(1)
    assert set(re.findall(r'"(\w+)"', listed)) == rebased
