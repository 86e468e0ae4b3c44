"""The gateway through HTTP: grants enforced on every call, field filtering, masking, scope, rate limits,
receipts that verify against a signed checkpoint, every refusal logged; and the data tracker rows."""

import datetime as dt
import json

import pytest
from django.test import Client
from django.utils import timezone

from tongban.core import cache as process_cache
from tongban.exchange import auditlog, gateway, services, tracker
from tongban.exchange.models import Checkpoint, DataAccess, Grant, LogEntry
from tongban.exchange.verify import check_receipt
from tongban.licences.services import key_directory
from tongban.testing import resident_number as number
from tongban.testing import token

from .conftest import BASE, get, grant_for

pytestmark = pytest.mark.django_db


def test_without_a_grant_refused_and_logged(world):
    response = get(f"/gateway/person-basic/records/{number(1)}", world["health_token"])
    assert response.status_code == 403 and response.json()["code"] == "no_grant"
    entry = json.loads(LogEntry.objects.last().leaf)
    assert entry["kind"] == "gateway" and entry["error"] == "no_grant" and entry["status"] == 403
    assert not DataAccess.objects.exists()


def test_unconditional_resource_needs_no_request_and_masks_by_grade(world):
    response = get(f"/gateway/person-names/records/{number(1)}", world["health_token"])
    assert response.status_code == 200, response.content
    record = response.json()["records"][0]
    assert set(record) == {"id_number", "name"} and record["name"] == "居民1"
    assert (
        record["id_number"] != number(1)
        and record["id_number"][:4] == number(1)[:4]
        and "*" in record["id_number"]
    )


def test_grant_fields_masking_and_clear_fields(world):
    grant_for(world, world["health"], ["id_number", "name", "phone"], clear_fields=["id_number"])
    ok = get(f"/gateway/person-basic/records/{number(1)}", world["health_token"], purpose="新生儿落户")
    assert ok.status_code == 200, ok.content
    record = ok.json()["records"][0]
    assert record == {"id_number": number(1), "name": "居民1", "phone": "********"}  # grade 4 masked
    narrowed = get(f"/gateway/person-basic/records/{number(1)}", world["health_token"], fields="name")
    assert narrowed.json()["records"] == [{"name": "居民1"}]
    refused = get(
        f"/gateway/person-basic/records/{number(1)}", world["health_token"], fields="name,area_code"
    )
    assert refused.status_code == 403 and refused.json()["code"] == "fields_not_granted"
    access = DataAccess.objects.filter(subject=number(1)).last()  # the oldest: the first call
    assert (
        access.consumer == world["health"] and access.purpose == "新生儿落户" and access.log_index is not None
    )


def test_scope_limits_records_for_key_and_filter(world):
    grant_for(world, world["health"], ["id_number", "name", "area_code"], scope_areas=["339902"])
    inside = get(f"/gateway/person-basic/records/{number(1)}", world["health_token"])
    assert inside.status_code == 200
    outside = get(f"/gateway/person-basic/records/{number(4, '339903')}", world["health_token"])
    assert outside.status_code == 403 and outside.json()["code"] == "outside_scope"
    found = query(world, {"name": "居民1"})
    assert found.status_code == 200, found.content
    # The area code masked where the ID number is (issue 15 #2): 3399** and the number's last four.
    assert [(r["id_number"], r["area_code"]) for r in found.json()["records"]] == [
        (gateway.mask(number(1), 3), "3399**")
    ]
    elsewhere = query(world, {"name": "居民4"})  # a match outside the scope is not told
    assert elsewhere.status_code == 200 and elsewhere.json()["count"] == 0


def query(world, filters, token="health_token", resource="person-basic"):
    return Client().post(
        f"{BASE}/gateway/{resource}/query",
        json.dumps({"filter": filters}),
        content_type="application/json",
        **world[token],
    )


FILTER_REFUSED = "filter on fields the grant does not release in clear: "


def test_a_filter_uses_only_fields_the_grant_releases_in_clear(world):
    """Issue 15 #1: finding a person by a phone number the grant does not release, or answering yes or no
    about a masked value, is refused like asking for the field (and logged)."""
    grant = grant_for(world, world["health"], ["id_number", "name", "area_code"])
    refused = query(world, {"phone": "13900000001"})  # phone is not granted
    assert refused.status_code == 403
    assert refused.json() == {"code": "filter_not_granted", "message": FILTER_REFUSED + "phone"}
    entry = json.loads(LogEntry.objects.last().leaf)
    assert (entry["status"], entry["error"], entry["records"]) == (403, "filter_not_granted", 0)
    assert not DataAccess.objects.exists()
    mixed = query(world, {"name": "居民1", "phone": "13900000001", "area_code": "339902"})
    # The area code too: the ID number is masked, and area code and number's last four rebuild it (#2).
    assert mixed.status_code == 403 and mixed.json()["message"] == FILTER_REFUSED + "area_code, phone"
    # Granted, but only masked (grade 4): an exact match would still tell the clear value.
    Grant.objects.filter(pk=grant.pk).update(fields=["id_number", "name", "phone", "area_code"])
    gateway.forget_grants()
    masked = query(world, {"phone": "13900000001"})
    assert masked.status_code == 403 and masked.json()["message"] == FILTER_REFUSED + "phone"
    Grant.objects.filter(pk=grant.pk).update(clear_fields=["phone"])  # released in clear: it may filter
    gateway.forget_grants()
    found = query(world, {"phone": "13900000001"})
    assert found.status_code == 200 and [r["name"] for r in found.json()["records"]] == ["居民1"]
    # The key is the record's address, as in a read by key, though masked (grade 3) here.
    by_key = query(world, {"id_number": number(1)})
    assert by_key.status_code == 200 and by_key.json()["count"] == 1
    assert query(world, {"shoe_size": 42}).json()["code"] == "bad_query"  # unknown: still a 400


def test_an_unconditional_resource_filters_only_by_its_clear_fields(world):
    assert query(world, {"name": "居民2"}, resource="person-names").json()["count"] == 1
    for hidden in ({"phone": "13900000002"}, {"area_code": "339902"}):  # not in the resource
        refused = query(world, hidden, resource="person-names")
        assert refused.status_code == 403 and refused.json()["code"] == "filter_not_granted"
        assert refused.json()["message"] == FILTER_REFUSED + next(iter(hidden))


def test_expired_and_revoked_grants_are_refused(world):
    grant = grant_for(world, world["health"], ["name"])
    assert get(f"/gateway/person-basic/records/{number(1)}", world["health_token"]).status_code == 200
    Grant.objects.filter(pk=grant.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    gateway.forget_grants()  # changed behind the ORM's back: as if the cache's second had passed
    expired = get(f"/gateway/person-basic/records/{number(1)}", world["health_token"])
    assert expired.status_code == 403 and expired.json()["code"] == "grant_expired"
    Grant.objects.filter(pk=grant.pk).update(expires_at=timezone.now() + dt.timedelta(days=1))
    gateway.forget_grants()
    services.grant_revoke(acting_user=None, grant=grant, reason="用途已完成")
    revoked = get(f"/gateway/person-basic/records/{number(1)}", world["health_token"])
    assert revoked.status_code == 403 and revoked.json()["code"] == "grant_revoked"
    kinds = [
        json.loads(t).get("error") or json.loads(t).get("action")
        for t in LogEntry.objects.values_list("leaf", flat=True)
    ]
    assert {"grant", "revoke", "grant_expired", "grant_revoked"} <= set(kinds)


def test_a_grant_revoked_by_another_process_stops_working_within_a_second(world, monkeypatch):
    grant = grant_for(world, world["health"], ["name"])
    assert get(f"/gateway/person-basic/records/{number(1)}", world["health_token"]).status_code == 200
    # Another process revokes: no signal reaches this one, whose cache holds the grant for a second.
    Grant.objects.filter(pk=grant.pk).update(revoked_at=timezone.now())
    assert get(f"/gateway/person-basic/records/{number(1)}", world["health_token"]).status_code == 200
    later = process_cache.clock() + gateway.GRANT_CACHE_SECONDS + 0.01
    monkeypatch.setattr(process_cache, "clock", lambda: later)
    refused = get(f"/gateway/person-basic/records/{number(1)}", world["health_token"])
    assert refused.status_code == 403 and refused.json()["code"] == "grant_revoked"


def test_rate_limit(world):
    grant_for(world, world["health"], ["name"], rate_per_minute=2)
    codes_seen = [
        get(f"/gateway/person-basic/records/{number(1)}", world["health_token"]).status_code for _ in range(3)
    ]
    assert codes_seen == [200, 200, 429]


def test_forged_token_refused_and_logged(world):
    forged = {**world["health_token"], "HTTP_AUTHORIZATION": "Bearer forged-token"}
    assert get(f"/gateway/person-basic/records/{number(1)}", forged).status_code == 401
    entry = json.loads(LogEntry.objects.last().leaf)
    assert entry["error"] == "bad_token" and entry["token"] and "forged" not in LogEntry.objects.last().leaf
    wrong_scope = token(world["health"], "registries.read")
    assert get(f"/gateway/person-basic/records/{number(1)}", wrong_scope).status_code == 401


def test_receipt_verifies_offline_against_a_signed_checkpoint(world):
    grant_for(world, world["health"], ["name"])
    body = get(f"/gateway/person-basic/records/{number(2)}", world["health_token"]).json()
    receipt = body["receipt"]
    auditlog.checkpoint_sign()
    bundle = get(receipt["proof"].removeprefix(BASE), world["health_token"]).json()
    assert check_receipt(bundle, key_directory()) == ""
    entry = json.loads(bundle["entry"])
    assert entry["request"] == receipt["request_hash"] and entry["response"] == receipt["response_hash"]
    # The client recomputes it with the salt it alone was given; without it, a guess cannot be tested.
    assert entry["response"] == auditlog.digest(body["records"], receipt["salt"])
    assert entry["response"] != auditlog.digest(body["records"])
    assert get("/audit/checkpoint", {}).json()["tree_size"] == bundle["checkpoint"]["tree_size"]


def test_receipt_names_the_latest_checkpoint_kept_a_second(world, monkeypatch):
    grant_for(world, world["health"], ["name"])
    url = f"/gateway/person-basic/records/{number(1)}"
    assert get(url, world["health_token"]).json()["receipt"]["checkpoint"] is None  # none signed yet
    signed = auditlog.checkpoint_sign()  # in this process: named at once
    assert get(url, world["health_token"]).json()["receipt"]["checkpoint"]["tree_size"] == signed.tree_size
    # Signed by another process (Celery beat): no signal reaches this one, so it is named after the second.
    copy = {f.name: getattr(signed, f.name) for f in Checkpoint._meta.concrete_fields if f.name != "id"}
    Checkpoint.objects.bulk_create([Checkpoint(**{**copy, "tree_size": signed.tree_size + 1})])
    assert get(url, world["health_token"]).json()["receipt"]["checkpoint"]["tree_size"] == signed.tree_size
    later = process_cache.clock() + gateway.CHECKPOINT_CACHE_SECONDS + 0.01
    monkeypatch.setattr(process_cache, "clock", lambda: later)
    receipt = get(url, world["health_token"]).json()["receipt"]
    assert receipt["checkpoint"]["tree_size"] == signed.tree_size + 1


def test_data_tracker_holds_back_covert_reads_until_release(world):
    grant = grant_for(world, world["health"], ["name"])
    get(f"/gateway/person-basic/records/{number(1)}", world["health_token"])
    assert len(tracker.visible_reads([number(1)])) == 1
    services.grant_hold(
        acting_user=None,
        grant=grant,
        hold_until=timezone.localdate() + dt.timedelta(days=30),
        reason="案件侦查",
    )
    assert len(tracker.visible_reads([number(1)])) == 0
    with pytest.raises(services.ExchangeError):
        services.grant_hold(
            acting_user=None, grant=grant, hold_until=timezone.localdate() + dt.timedelta(days=30), reason=""
        )
    services.grant_hold(acting_user=None, grant=grant, hold_until=None, reason="")
    assert len(tracker.visible_reads([number(1)])) == 1


def test_where_celery_is_eager_the_receipt_is_provable_right_after_the_call(
    world, django_capture_on_commit_callbacks
):
    grant_for(world, world["health"], ["name"])
    with django_capture_on_commit_callbacks(execute=True):
        body = get(f"/gateway/person-basic/records/{number(2)}", world["health_token"]).json()
    bundle = get(body["receipt"]["proof"].removeprefix(BASE), world["health_token"]).json()
    assert check_receipt(bundle, key_directory()) == "" and bundle["index"] == body["receipt"]["log_index"]
