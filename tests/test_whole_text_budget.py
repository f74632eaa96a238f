"""Whole-text writes (an upload, a restore) spend the person's inserted-text budget
(COLLAB_INSERT_CHARS_*) like typed text; the admin's do not."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from editor.core.buckets import TokenBucket
from editor.domain import budgets, selectors, services
from editor.domain.errors import RateLimited
from editor.models import Document

from .waiting import Clock


@pytest.fixture
def small_budget(settings):
    settings.COLLAB_INSERT_CHARS_PER_SECOND = 1
    settings.COLLAB_INSERT_CHARS_BURST = 100
    settings.COLLAB_MAX_INSERT_CHARS = 50


def upload(client, data: bytes):
    return client.post("/documents/upload/", {"file": SimpleUploadedFile("f.txt", data)}, follow=True)


def test_an_upload_spends_the_budget_and_past_it_is_refused_with_a_message(client, ada, small_budget):
    client.force_login(ada)
    upload(client, b"a" * 80)
    assert Document.objects.count() == 1
    page = upload(client, b"b" * 80).content.decode()
    assert "Not uploaded: you have inserted a lot of text lately" in page and "try again in" in page
    assert Document.objects.count() == 1  # nothing created
    with pytest.raises(RateLimited):  # the same budget as the socket's typed ops
        budgets.spend_typed(user_id=ada.pk, chars=30)
    budgets.spend_typed(user_id=ada.pk, chars=10)


def test_a_text_larger_than_the_burst_passes_once_and_leaves_the_budget_owing(client, ada, small_budget):
    client.force_login(ada)
    upload(client, b"c" * 250)
    document = Document.objects.get()
    assert selectors.document_snapshot(document_id=document.pk) == (5, "c" * 250)
    with pytest.raises(RateLimited) as refused:
        budgets.spend_typed(user_id=ada.pk, chars=1)
    assert refused.value.retry_after > 100  # 150 owed, refilled at 1 a second


def test_a_restore_spends_the_budget_and_past_it_nothing_is_restored(client, ada, small_budget):
    document = services.document_create(title="T", owner=ada, content="x" * 90)  # revisions 1 and 2
    services.operation_commit(
        document_id=document.pk, user=ada, client="c", seq=1, base=2, ops=[{"pos": 0, "delete": 90}]
    )
    client.force_login(ada)
    budgets.spend_typed(user_id=ada.pk, chars=50)
    url = f"/documents/{document.pk}/history/2/restore/"
    page = client.post(url, {"client": "restore-a"}, follow=True).content.decode()
    assert "Nothing was restored: you have inserted a lot of text lately" in page
    assert selectors.document_snapshot(document_id=document.pk) == (3, "")
    budgets.forget_all()
    client.post(url, {"client": "restore-b"})
    assert selectors.document_snapshot(document_id=document.pk) == (5, "x" * 90)  # in two pieces
    with pytest.raises(RateLimited):
        budgets.spend_typed(user_id=ada.pk, chars=20)  # 90 of 100 spent by the restore


def test_a_refused_whole_text_write_gives_the_budget_back(ada, small_budget, settings):
    document = services.document_create(title="T", owner=ada, content="")
    settings.COLLAB_MAX_DOCUMENT_CHARS = 10
    with pytest.raises(Exception, match="exceed"):
        services.document_replace_text(document_id=document.pk, user=ada, base=0, text="y" * 60, client="w")
    budgets.spend_typed(user_id=ada.pk, chars=100)  # all of it is still there


def test_the_admin_text_form_is_not_budgeted(admin_client, admin_user, ada, small_budget):
    document = services.document_create(title="T", owner=ada, content="")
    budgets.spend_typed(user_id=admin_user.pk, chars=100)
    url = reverse("admin:editor_document_change", args=[document.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {
        "title": "T",
        "owner": ada.pk,
        "text": "z" * 80,
        "base_revision": 0,
        "client": form.initial["client"],
        "memberships-TOTAL_FORMS": 0,
        "memberships-INITIAL_FORMS": 0,
    }
    assert admin_client.post(url, data).status_code == 302
    assert selectors.document_snapshot(document_id=document.pk) == (2, "z" * 80)


def test_a_full_bucket_pays_for_a_cost_above_its_burst_and_owes_the_rest():
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=100, clock=clock)
    assert bucket.take_owing(250) and bucket.tokens == -150
    assert not bucket.take_owing(1) and bucket.wait(1) == pytest.approx(15.1)
    clock.advance(20)  # 50 tokens
    assert not bucket.take_owing(150) and bucket.take_owing(40)
    clock.advance(9)  # full again
    assert bucket.take_owing(150) and bucket.tokens == -50
