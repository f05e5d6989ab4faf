"""The saas-infra marks in project descriptions: one parser for the tenant's mark, the fleet
lock's, doctor's and the earlier lock tickets'."""

from __future__ import annotations

from datetime import UTC, datetime

from saas_infra import lock
from saas_infra.doctor.live import parse_doctor_project
from saas_infra.marker import Marker, failure_record, mark_fields, mark_items, parse_marker


def test_each_kind_of_mark_is_read_by_its_own_kind_only():
    description = ("text [saas-infra-control holder=h nonce=n] [saas-infra tenant=acme "
                   "redeploy=r] [saas-infra-doctor run=7]")
    assert mark_fields(description) == {"tenant": "acme", "redeploy": "r"}
    assert mark_fields(description, "-control") == {"holder": "h", "nonce": "n"}
    assert mark_fields(description, "-doctor") == {"run": "7"}
    assert mark_fields(description, "-lock") is None
    assert mark_fields("[saas-infra-control free]", "-control") == {}
    assert mark_fields(None) is None


def test_a_field_keeps_everything_after_its_first_equals_sign_and_its_order():
    assert mark_items(" b=1 a=x=y free c=") == [("b", "1"), ("a", "x=y"), ("c", "")]


def test_the_tenant_mark_and_the_lease_read_as_before():
    at = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    assert parse_marker(Marker("acme", delete_after=at).render()) == Marker("acme", at)
    assert parse_marker("[saas-infra-control tenant=acme]") is None  # not a tenant's mark
    lease = lock.Lease("ci", "n1", at, at)
    assert lock.parse_lease(lock.control_description(lease)) == lease
    assert lock.parse_lease(lock.control_description(None)) is None
    assert lock.find_controls([{"name": lock.CONTROL_PROJECT, "id": "c",
                                "description": "[saas-infra tenant=acme]"}]) == []


def test_a_doctor_mark_cut_short_is_a_doctor_project_without_fields():
    node = {"id": "p1", "name": "saas-infra-doctor-1", "description": "[saas-infra-doctor run=1"}
    found = parse_doctor_project(node)
    assert found is not None and (found.run, found.holder, found.expires) == (None, None, None)


def test_a_failure_record_is_compact_round_trips_and_keeps_the_other_fields():
    at = datetime(2026, 11, 29, 10, 0, 30, 250000, tzinfo=UTC)
    deadline = datetime(2026, 12, 3, tzinfo=UTC)
    commit = "3" * 40
    marker = Marker("acme", delete_after=deadline, redeploy="r", limits=(2.0, None),
                    backups=("daily",), failed=failure_record(commit, at, "unhealthy"))
    text = marker.render()
    assert ("[saas-infra tenant=acme limits=2/plan backups=daily "
            "failed=333333333333@2026-11-29T10:00:31Z:unhealthy redeploy=r "
            "delete-after=2026-12-03T00:00:00Z]") in text  # delete-after last, as before
    parsed = parse_marker(text)
    assert parsed == marker and parsed is not None and parsed.failed is not None
    assert parsed.failed.of(commit) and not parsed.failed.of("4" * 40)
    assert parsed.failed.at > at  # the next whole second: never before a resume at `at`


def test_an_image_failure_is_named_by_its_digest_and_old_or_mangled_records_read_as_none():
    image = "ghcr.io/luthienresearch/luthien-proxy@sha256:" + "ab" * 32
    record = failure_record(image, datetime(2026, 11, 29, tzinfo=UTC), "crashed")
    assert record.version == "sha256:abababababab" and record.of(image)
    assert parse_marker(Marker("acme", failed=record).render()) == Marker("acme", failed=record)
    assert parse_marker("[saas-infra tenant=acme delete-after=2026-12-03T00:00:00Z]") == Marker(
        "acme", delete_after=datetime(2026, 12, 3, tzinfo=UTC))  # an earlier version's mark
    for mangled in ("failed=", "failed=abc", "failed=abc@never:crashed", "failed=@2026-11-29:x"):
        assert parse_marker(f"[saas-infra tenant=acme {mangled} redeploy=r]") == Marker(
            "acme", redeploy="r")
