"""Tickets synced from a partner's ITSM: idempotent bulk upsert by (partner, source_system, external_id).

Each item goes through the same services as the portal (ticket_open, ticket_set_priority, ticket_transition), so
clocks, breaches and audit follow whichever door a ticket came in by. Items are applied one by one, each in its
own savepoint, one result per item.
"""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from leads.services.sync import ItemResult, _choice, _datetime, _id, _key, _text

from . import services
from .models import Priority, ServiceContract, Ticket, TicketKind, TicketSource, TicketStatus

MAX_TICKET_BATCH = 1000
_PRIORITIES, _KINDS, _STATUSES = set(Priority.values), set(TicketKind.values), set(TicketStatus.values)


def _parse(item, errors) -> dict:
    values = {
        "title": _text(item, errors, "title", max_length=200, required=True),
        "description": _text(item, errors, "description", max_length=100_000),
        "contact_name": _text(item, errors, "contact_name", max_length=200),
    }
    for name, choices in (("priority", _PRIORITIES), ("kind", _KINDS), ("status", _STATUSES)):
        if name in item:
            values[name] = _choice(item, errors, name, choices, None)
    if item.get("opened_at") not in (None, ""):
        values["opened_at"] = _datetime(item, errors, "opened_at")
        if values["opened_at"] and values["opened_at"] > timezone.now() + timedelta(minutes=5):
            errors["opened_at"] = ["Cannot be in the future."]
    return values


def ticket_upsert(
    *, partner_id: int | None, actor, key: tuple[str, str], contract_id, values: dict
) -> tuple[Ticket, str]:
    """Create or update one ticket by its ITSM key; returns the ticket and created | updated | unchanged."""
    contracts = (
        ServiceContract.objects.all() if partner_id is None else ServiceContract.objects.filter(partner_id=partner_id)
    )
    contract = contracts.filter(pk=contract_id).first() if contract_id is not None else None
    owner_id = contract.partner_id if contract is not None else partner_id
    existing = None
    if owner_id is not None:
        existing = Ticket.objects.filter(partner_id=owner_id, source_system=key[0], external_id=key[1]).first()
    status, priority = values.pop("status", None), values.pop("priority", None)
    opened_at = values.pop("opened_at", None)
    with transaction.atomic():
        if existing is None:
            if contract is None:
                raise ValidationError({"contract": ["No such contract."]})
            ticket = services.ticket_open(
                contract=contract,
                actor=actor,
                source=TicketSource.API,
                source_system=key[0],
                external_id=key[1],
                priority=priority or Priority.P3,
                at=opened_at,
                **{k: v for k, v in values.items() if v is not None},
            )
            if status and status != TicketStatus.NEW:
                ticket = services.ticket_transition(ticket=ticket, to_status=status, actor=actor)
            return ticket, "created"
        ticket, changed = existing, False
        fields = {
            k: v for k, v in values.items() if k in ("title", "description", "contact_name") and getattr(ticket, k) != v
        }
        if fields:
            for name, value in fields.items():
                setattr(ticket, name, value)
            ticket.full_clean()
            ticket.save(update_fields=[*fields, "updated_at"])
            changed = True
        if priority and priority != ticket.priority:
            ticket = services.ticket_set_priority(ticket=ticket, priority=priority, actor=actor)
            changed = True
        if status and status != ticket.status:
            ticket = services.ticket_transition(ticket=ticket, to_status=status, actor=actor)
            changed = True
        return ticket, "updated" if changed else "unchanged"


def tickets_bulk_upsert(*, items: list, partner_id: int | None, actor) -> list[ItemResult]:
    if len(items) > MAX_TICKET_BATCH:
        raise ValidationError({"items": [f"At most {MAX_TICKET_BATCH} items per request."]})
    results, seen = [], set()
    for index, item in enumerate(items):
        result = ItemResult(index=index)
        results.append(result)
        if not isinstance(item, dict):
            result.errors["non_field_errors"] = ["Each item must be an object."]
            continue
        key = _key(item, result.errors)
        values = _parse(item, result.errors)
        contract_id = _id(item.get("contract"))
        if "contract" in item and contract_id is None:
            result.errors["contract"] = ["A contract id."]
        if result.errors:
            continue
        if (contract_id, key) in seen:
            result.errors["external_id"] = ["Duplicate of an earlier item in this request."]
            continue
        seen.add((contract_id, key))
        try:
            ticket, status = ticket_upsert(
                partner_id=partner_id, actor=actor, key=key, contract_id=contract_id, values=values
            )
        except ValidationError as exc:
            result.errors = {
                k: [str(m) for m in v]
                for k, v in getattr(exc, "message_dict", {"non_field_errors": exc.messages}).items()
            }
            continue
        result.id, result.status = ticket.pk, status
    return results
