"""Partner imports decided set-based (leads.services.registration.registrations_decide) reach the decisions the
one-at-a-time rule reaches, whatever the door: deals registered one by one, a batch decided by the periodic check,
the API bulk upsert and a CSV file — including conflicts inside the import itself (the first by submission order
wins). On SQLite and PostgreSQL (trigram name matching there, first-word prefixes here)."""

import csv
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

import leads.services.sync as sync
from leads.customers import customer_name_key
from leads.models import Customer, Lead, Registration, RegistrationStatus, Stage
from leads.services import registration as reg_service
from leads.services.registration import (
    MSG_ATTACHED,
    MSG_PROTECTED,
    MSG_RESERVED,
    MSG_SOFT,
    CustomerData,
    DealData,
    Rule,
    deal_register,
    registrations_check,
)
from prm.texts import N_
from tests.leads.doors import api_client_for
from tests.leads.factories import CustomerFactory, valid_inn
from tests.prm.factories import PartnerUserFactory

pytestmark = pytest.mark.django_db

APPROVED, REJECTED, PENDING = (
    RegistrationStatus.APPROVED,
    RegistrationStatus.REJECTED,
    RegistrationStatus.PENDING_REVIEW,
)
NO_CONFLICT = N_("No conflicting registration.")

HELD_INN, RESERVED_INN = valid_inn(9001), valid_inn(9002)
# (customer name, INN) in submission order, and what the rule decides for each.
ROWS = [
    (("Vasilek", valid_inn(1)), (APPROVED, Rule.AUTO_APPROVED, NO_CONFLICT)),
    (("Romashka Trade", HELD_INN), (REJECTED, Rule.HARD_CONFLICT, MSG_PROTECTED)),  # another partner's customer
    (("Gazprom Direct", RESERVED_INN), (REJECTED, Rule.RESERVED, MSG_RESERVED)),  # a vendor named account
    (("Vasilek", valid_inn(1)), (APPROVED, Rule.OWN_PROTECTION, MSG_ATTACHED)),  # row 1's customer, in this import
    (("Romashka Plus", valid_inn(2)), (PENDING, Rule.SOFT_CONFLICT, MSG_SOFT)),  # similar to the held name
    (("Lyutik", valid_inn(3)), (APPROVED, Rule.AUTO_APPROVED, NO_CONFLICT)),
    (("Lyutik Sever", valid_inn(4)), (APPROVED, Rule.AUTO_APPROVED, NO_CONFLICT)),  # similar to its own row 6
    (("Lyutik", valid_inn(5)), (APPROVED, Rule.AUTO_APPROVED, NO_CONFLICT)),  # row 6's name, another INN
]


@pytest.fixture
def held(other_partner):
    """Another partner protects Romashka; the vendor keeps Gazprom Direct for direct sales."""
    CustomerFactory(name="Gazprom Direct", normalized_name="gazprom direct", tax_id=RESERVED_INN,
                    reserved_for_direct=True)  # fmt: skip
    reg = deal_register(
        partner=other_partner,
        submitted_by=PartnerUserFactory(partner=other_partner),
        customer=CustomerData(name="Romashka", tax_id=HELD_INN),
        deal=DealData(title="Theirs"),
    )
    assert reg.status == APPROVED
    return reg


def _import_via(door, *, user, rows, capture, monkeypatch) -> list[Registration]:
    """Register `rows` for `user`'s partner through `door`; the registrations in submission order."""
    partner = user.partner
    before = set(Lead.objects.filter(partner=partner).values_list("pk", flat=True))
    if door == "one_at_a_time":
        for n, (name, inn) in enumerate(rows):
            deal_register(partner=partner, submitted_by=user, customer=CustomerData(name=name, tax_id=inn),
                          deal=DealData(title=f"Deal {n}"))  # fmt: skip
    else:
        items = [
            {"source_system": "crm", "external_id": f"d{n}", "title": f"Deal {n}",
             "customer": {"name": name, "tax_id": inn}}
            for n, (name, inn) in enumerate(rows)
        ]  # fmt: skip
        if door == "batch":  # the periodic job decides deals whose queued task was lost, all at once
            monkeypatch.setattr(sync, "registrations_submit", lambda **kwargs: None)
            sync.leads_bulk_upsert(items=items, partner_id=partner.pk, actor=user)
            assert registrations_check() == len(rows)
        elif door == "pipelined":  # one task's queued ids, each deal a chunk
            monkeypatch.setattr(sync, "registrations_submit", lambda **kwargs: None)
            results = sync.leads_bulk_upsert(items=items, partner_id=partner.pk, actor=user)
            _check_pipelined([r.id for r in results], monkeypatch)
        elif door == "api_bulk":
            with capture(execute=True):
                response = api_client_for(partner).post("/api/v1/leads/bulk-upsert/", {"items": items}, format="json")
            assert response.status_code == 200, response.content[:500]
        elif door == "csv":
            lines = ["external_id,title,customer,tax_id"] + [
                f"{i['external_id']},{i['title']},{i['customer']['name']},{i['customer']['tax_id']}" for i in items
            ]
            with capture(execute=True):
                results = sync.deals_import_csv(data="\n".join(lines).encode(), partner_id=partner.pk, actor=user)
            assert [r.status for _line, r in results] == ["created"] * len(rows)
    new = Lead.objects.filter(partner=partner).exclude(pk__in=before).order_by("pk")
    return [lead.registration for lead in new.select_related("registration")]


DOORS = ["one_at_a_time", "batch", "api_bulk", "csv"]
# The queued ids of one task decided in chunks of one deal, two at a time (leads.services.registration
# ._check_pipelined: each chunk commits on its own thread's connection, so the test's data is committed too).
PIPELINED = pytest.param("pipelined", marks=pytest.mark.django_db(transaction=True))


def _check_pipelined(lead_ids: list[int], monkeypatch) -> None:
    """registrations_check of `lead_ids` (one task's) as the worker runs it, each deal a chunk of its own: every
    conflict between two deals is one between two chunks, the later asked before the earlier committed."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL=postgres://...): the pipeline runs there only")
    monkeypatch.setattr(reg_service, "CHECK_CHUNK", 1)
    decide = reg_service._batch_decide

    def decide_late(**kwargs):  # the next chunk asks meanwhile, unless it waits for a key this one holds
        time.sleep(0.2)
        return decide(**kwargs)

    monkeypatch.setattr(reg_service, "_batch_decide", decide_late)
    runs = []
    pipelined = reg_service._check_pipelined
    monkeypatch.setattr(reg_service, "_check_pipelined", lambda **kw: runs.append(kw) or pipelined(**kw))
    assert registrations_check(lead_ids=lead_ids) == len(lead_ids)
    assert len(runs) == 1 and len(runs[0]["chunks"]) == len(lead_ids)


@pytest.mark.parametrize("door", [*DOORS, PIPELINED])
def test_an_import_is_decided_as_one_at_a_time_whatever_the_door(
    door, held, partner_admin, django_capture_on_commit_callbacks, monkeypatch
):
    regs = _import_via(
        door, user=partner_admin, rows=[r for r, _o in ROWS], capture=django_capture_on_commit_callbacks,
        monkeypatch=monkeypatch,
    )  # fmt: skip
    decided = [(r.status, r.decision_rule, r.decision_reason) for r in regs]
    assert decided == [(s, rule, reg_service._reason(msg)) for _r, (s, rule, msg) in ROWS]
    # What the partner sees: the reason in words, a rejected deal closed, an attached deal protected as long as
    # the deal it is attached to, and one window per key.
    assert regs[1].decision_reason_text == "This customer is already protected by another partner."
    assert Lead.objects.get(pk=regs[1].lead_id).stage == Stage.REJECTED
    assert Lead.objects.get(pk=regs[3].lead_id).stage == Stage.REGISTERED
    assert (regs[3].protected_from, regs[3].protected_until) == (regs[0].protected_from, regs[0].protected_until)
    assert not regs[3].windows.exists() and regs[0].windows.filter(active=True).count() == 2  # INN + name
    assert regs[4].review_due is not None and regs[4].matches[0]["registration_id"] == held.pk
    assert set(regs[6].windows.values_list("key_kind", flat=True)) == {"tax_id", "name"}
    assert list(regs[7].windows.values_list("key_kind", flat=True)) == ["tax_id"]  # the name stays with row 6
    assert Registration.objects.filter(decisions__isnull=True).count() == 0  # every decision recorded


@pytest.mark.parametrize("door", ["one_at_a_time", "batch", PIPELINED])
def test_two_partners_in_one_batch_the_first_submitted_wins(door, partner_admin, other_partner, monkeypatch):
    """The periodic check decides deals of several partners together: same outcome as deciding them in order."""
    other = PartnerUserFactory(partner=other_partner)
    order = [
        (other, "Vasilek", valid_inn(1), (APPROVED, Rule.AUTO_APPROVED)),
        (partner_admin, "Vasilek", valid_inn(1), (REJECTED, Rule.HARD_CONFLICT)),  # second by submission order
        (partner_admin, "Lyutik", valid_inn(3), (APPROVED, Rule.AUTO_APPROVED)),
        (other, "Lyutik Sever", valid_inn(4), (PENDING, Rule.SOFT_CONFLICT)),  # similar to the name just protected
    ]
    regs = _registered_through(door, order, monkeypatch)
    assert [(r.status, r.decision_rule) for r in regs] == [o[-1] for o in order]
    assert regs[1].matches[0]["partner_id"] == other_partner.pk


@pytest.mark.parametrize("door", ["one_at_a_time", "batch", PIPELINED])
def test_a_typo_of_a_name_just_protected_in_the_batch_is_a_soft_conflict(
    door, postgres_only, partner_admin, other_partner, monkeypatch
):
    """The batch finds its own similar names by the blocking keys the name probe uses (a word one or two letters
    apart, no word in common): same outcome as deciding the deals one at a time (PostgreSQL: the SQLite demo
    compares first words)."""
    other = PartnerUserFactory(partner=other_partner)
    order = [
        (other, "Kolokolchik", valid_inn(11), (APPROVED, Rule.AUTO_APPROVED)),
        (partner_admin, "Kolokolchek", valid_inn(12), (PENDING, Rule.SOFT_CONFLICT)),  # one letter apart
        (partner_admin, "Oduvanchik Servis", valid_inn(13), (APPROVED, Rule.AUTO_APPROVED)),
        (other, "Oduvanchek", valid_inn(14), (APPROVED, Rule.AUTO_APPROVED)),  # below the scorer's threshold
        (other, "Oduvanchik Servise", valid_inn(15), (PENDING, Rule.SOFT_CONFLICT)),
    ]
    regs = _registered_through(door, order, monkeypatch)
    assert [(r.status, r.decision_rule) for r in regs] == [o[-1] for o in order]
    assert [m["registration_id"] for m in regs[1].matches] == [regs[0].pk]
    assert regs[1].windows.count() == 0 and regs[0].windows.count() == 2


# Sixty unrelated company names (no two similar: each is decided without a second look).
NAMES = [f"{a} {b}" for a in ("Sever", "Yug", "Vostok", "Zapad", "Centr", "Ural") for b in (
    "Neft", "Les", "Mebel", "Hleb", "Stal", "Sahar", "Kabel", "Steklo", "Moloko", "Trans")]  # fmt: skip


def test_a_batch_asks_who_claims_the_customers_in_a_few_queries(
    postgres_only, partner_admin, monkeypatch, django_assert_max_num_queries
):
    """Set-based: the query count does not grow with the number of deals decided (on PostgreSQL: SQLite, the demo,
    asks for similar names one query per name)."""
    monkeypatch.setattr(sync, "registrations_submit", lambda **kwargs: None)
    items = [
        {"source_system": "crm", "external_id": f"d{n}", "title": f"Deal {n}",
         "customer": {"name": NAMES[n], "tax_id": valid_inn(100 + n)}}
        for n in range(60)
    ]  # fmt: skip
    sync.leads_bulk_upsert(items=items, partner_id=partner_admin.partner_id, actor=partner_admin)
    with django_assert_max_num_queries(40):
        assert registrations_check() == 60
    assert Registration.objects.filter(status=APPROVED).count() == 60


def test_the_csv_command_imports_and_decides(tmp_path, partner, held, django_capture_on_commit_callbacks, capsys):
    path = tmp_path / "deals.csv"
    path.write_text(f"external_id,title,customer,tax_id\nx1,Licences,Romashka,{HELD_INN}\nx2,Support,Vasilek,\n")
    with django_capture_on_commit_callbacks(execute=True):
        call_command("deals_import_csv", str(path), "--partner", str(partner.pk))
    assert "2 created" in capsys.readouterr().out
    statuses = dict(Registration.objects.filter(partner=partner).values_list("lead__title", "status"))
    assert statuses == {"Licences": REJECTED, "Support": APPROVED}
    assert Customer.objects.filter(tax_id=HELD_INN).count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("chunk", [1000, 7], ids=["one-chunk", "pipelined"])
def test_two_workers_deciding_imports_of_the_same_customers_neither_deadlock_nor_double_protect(
    chunk, postgres_only, partner_admin, other_partner, monkeypatch
):
    """Two partners import deals for the same thirty customers (in opposite orders) and two workers decide them at
    the same moment: each customer ends up protected by exactly one partner, the other's deal rejected. (The
    deadlock the key locks prevent needs the two window inserts to overlap, which this test does not force; the CRM
    mirror test in tests/api/test_change_feed_concurrency.py met it before they existed.) Pipelined: each worker's
    chunks of 7 in flight two at a time, a chunk not locking the keys the one before still holds."""
    monkeypatch.setattr(reg_service, "CHECK_CHUNK", chunk)
    import threading

    from django.db import connection

    from leads.models import ProtectionWindow

    monkeypatch.setattr(sync, "registrations_submit", lambda **kwargs: None)
    inns = [valid_inn(500 + n) for n in range(30)]
    batches = {}
    for partner_id, order in ((partner_admin.partner_id, inns), (other_partner.pk, inns[::-1])):
        results = sync.leads_bulk_upsert(
            items=[{"source_system": "crm", "external_id": inn, "title": f"Deal {inn}",
                    "customer": {"name": f"Company {inn}", "tax_id": inn}} for inn in order],
            partner_id=partner_id,
        )  # fmt: skip
        batches[partner_id] = [r.id for r in results]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(ids):
        try:
            barrier.wait(timeout=30)
            registrations_check(lead_ids=ids)
        except BaseException as exc:  # noqa: BLE001 - any exception fails the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(ids,)) for ids in batches.values()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    for inn in inns:
        regs = Registration.objects.filter(lead__customer__tax_id=inn)
        assert sorted(r.status for r in regs) == [APPROVED, REJECTED]
        assert ProtectionWindow.objects.filter(active=True, key_kind="tax_id", key=inn).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_failing_chunk_of_the_pipeline_keeps_the_earlier_ones_and_leaves_the_rest_to_the_periodic_check(
    postgres_only, partner_admin, monkeypatch
):
    monkeypatch.setattr(sync, "registrations_submit", lambda **kwargs: None)
    monkeypatch.setattr(reg_service, "CHECK_CHUNK", 1)
    results = sync.leads_bulk_upsert(
        items=[{"source_system": "crm", "external_id": f"d{n}", "title": f"Deal {n}",
                "customer": {"name": NAMES[n], "tax_id": valid_inn(700 + n)}} for n in range(4)],
        partner_id=partner_admin.partner_id, actor=partner_admin,
    )  # fmt: skip
    ids = [r.id for r in results]
    decide = reg_service._batch_decide

    def decide_or_fail(*, batch, earlier):
        if batch.items[0].registration.lead_id == ids[1]:
            raise RuntimeError("the database went away")
        return decide(batch=batch, earlier=earlier)

    monkeypatch.setattr(reg_service, "_batch_decide", decide_or_fail)
    with pytest.raises(RuntimeError, match="went away"):
        registrations_check(lead_ids=ids)
    assert list(Registration.objects.values_list("lead_id", flat=True)) == [ids[0]]
    monkeypatch.setattr(reg_service, "_batch_decide", decide)
    assert registrations_check() == 3  # the periodic job's sweep
    assert Registration.objects.filter(status=APPROVED).count() == 4


def _registered_through(door: str, order: list[tuple], monkeypatch) -> list[Registration]:
    """Register (user, customer name, tax id, _) in order through one door: one at a time as the portal does, or
    by the CRM's bulk upsert with every check left to the set-based job."""
    if door in ("batch", "pipelined"):
        monkeypatch.setattr(sync, "registrations_submit", lambda **kwargs: None)
    leads = []
    for n, (user, name, inn, _outcome) in enumerate(order):
        if door == "one_at_a_time":
            reg = deal_register(partner=user.partner, submitted_by=user, customer=CustomerData(name=name, tax_id=inn),
                                deal=DealData(title=f"Deal {n}"))  # fmt: skip
            leads.append(reg.lead_id)
        else:
            [result] = sync.leads_bulk_upsert(
                items=[{"source_system": "crm", "external_id": f"d{n}", "title": f"Deal {n}",
                        "customer": {"name": name, "tax_id": inn}}],
                partner_id=user.partner_id, actor=user,
            )  # fmt: skip
            leads.append(result.id)
    if door == "batch":
        assert registrations_check() == len(order)
    elif door == "pipelined":
        _check_pipelined(leads, monkeypatch)
    return [Registration.objects.get(lead_id=pk) for pk in leads]


def test_the_batch_finds_its_similar_names_by_the_keys_the_name_probe_uses(postgres_only):
    """The batch's own similar names (`_BatchNames`, in memory: the same keys in SQL cost 0.6 s a chunk of 1,000)
    are candidates by the blocking keys of leads migrations 0028 and 0035. Pinned to the SQL functions: a name's
    keys are `leads_name_blocks` (hashed), and an asked name's keys hold every key its probe asks for
    (`leads_name_blocks_group` of each word), so every protected name the probe can find is a candidate in the batch
    too."""
    pairs = csv.DictReader((Path(__file__).parent / "data" / "near_duplicate_names.csv").open(encoding="utf-8"))
    names = {customer_name_key(n) for p in pairs for n in (p["protected"], p["variant"])}
    names |= {"a", "ab cd", "abcdefghij", "kolokolchik", "x x x", "one two three four five six seven eight nine"}
    names = sorted(n for n in names if n)
    blocks = reg_service._BatchNames.blocks
    with connection.cursor() as cursor:
        for name in names:
            cursor.execute(
                "SELECT leads_name_blocks(%s), ARRAY(SELECT unnest(leads_name_blocks_group(%s, i)) "
                "FROM generate_series(1, 7) i), "
                "ARRAY(SELECT DISTINCT hashtext(k) FROM unnest(CAST(%s AS text[])) k ORDER BY 1), "
                "ARRAY(SELECT DISTINCT hashtext(k) FROM unnest(CAST(%s AS text[])) k)",
                [name, name, sorted(blocks(name)), sorted(blocks(name, deep=False))],
            )
            stored, probed, kept, asked = cursor.fetchone()
            assert stored == kept, name
            assert probed and set(probed) <= set(asked), name
