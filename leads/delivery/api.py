"""API for implementations, service contracts, tickets and customer check-ins (same keys, scopes, pagination, feed
and tenancy as the other resources); rules live in leads.delivery.services, leads.delivery.sync and
leads.delivery.checkins."""

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from leads.api import BulkResultSerializer, _items
from leads.models import Customer
from leads.services.sync import api_actor
from partners.models import Partner
from prm.api_base import ScopedViewSet, SyncFilterSet
from prm.models import User
from prm.permissions import scope_for

from . import services, sync
from .dispatch import ticket_dispatch
from .models import (
    CheckIn,
    Coverage,
    Implementation,
    ImplementationStatus,
    Milestone,
    Priority,
    ServiceContract,
    Ticket,
    TicketClock,
    TicketKind,
    TicketStatus,
)

# --- serializers ------------------------------------------------------------------------------------------------


class MilestoneSerializer(serializers.ModelSerializer):
    class Meta:
        model = Milestone
        fields = ["id", "title", "due_on", "owner", "done_at"]


class ImplementationSerializer(serializers.ModelSerializer):
    milestones = MilestoneSerializer(many=True, read_only=True)

    class Meta:
        model = Implementation
        fields = [
            "id",
            "lead",
            "partner",
            "customer",
            "owner",
            "team",
            "planned_go_live",
            "status",
            "signed_off_at",
            "signed_off_by",
            "milestones",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ImplementationWriteSerializer(serializers.Serializer):
    owner = serializers.IntegerField(required=False, min_value=1, help_text="A user of the partner's staff.")
    planned_go_live = serializers.DateField(required=False)
    status = serializers.ChoiceField(
        choices=[ImplementationStatus.PLANNED, ImplementationStatus.IN_PROGRESS, ImplementationStatus.CANCELLED],
        required=False,
    )


class ServiceContractSerializer(serializers.ModelSerializer):
    # Local wall-clock times of the customer's zone ("09:00:00"), not RFC 3339 times with an offset.
    work_start = serializers.CharField(read_only=True, help_text="HH:MM:SS in the contract's time zone.")
    work_end = serializers.CharField(read_only=True, help_text="HH:MM:SS in the contract's time zone.")

    class Meta:
        model = ServiceContract
        fields = [
            "id",
            "partner",
            "customer",
            "lead",
            "number",
            "coverage",
            "timezone",
            "country",
            "work_start",
            "work_end",
            "targets",
            "onsite_included",
            "monthly_fee",
            "currency",
            "credit_pct_per_breach",
            "credit_pct_per_downtime_hour",
            "credit_cap_pct",
            "penalty_per_breach",
            "penalty_currency",
            "support_owner",
            "starts_on",
            "ends_on",
            "source_system",
            "external_id",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ServiceContractCreateSerializer(serializers.Serializer):
    customer = serializers.IntegerField(min_value=1, help_text="A customer of the partner's deals.")
    partner = serializers.IntegerField(required=False, min_value=1, help_text="Vendor keys only.")
    starts_on = serializers.DateField()
    ends_on = serializers.DateField(required=False, allow_null=True)
    number = serializers.CharField(max_length=40, required=False, allow_blank=True)
    coverage = serializers.ChoiceField(choices=Coverage.choices, required=False)
    targets = serializers.JSONField(required=False, help_text='{"p1": {"response_minutes": 30, ...}, ...}')
    onsite_included = serializers.BooleanField(required=False)
    monthly_fee = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False)
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False)
    support_owner = serializers.IntegerField(required=False, min_value=1)
    source_system = serializers.CharField(max_length=40, required=False, allow_blank=True)
    external_id = serializers.CharField(max_length=100, required=False, allow_blank=True)


class ClockSerializer(serializers.ModelSerializer):
    class Meta:
        model = TicketClock
        fields = ["kind", "state", "target_seconds", "elapsed_seconds", "due_at", "breached_at", "stopped_at"]


class TicketSerializer(serializers.ModelSerializer):
    clocks = ClockSerializer(many=True, read_only=True)
    work_order = serializers.SerializerMethodField(
        help_text="The on-site work order's lead id, once dispatched (the newest, after a reopen)."
    )

    class Meta:
        model = Ticket
        fields = [
            "id",
            "partner",
            "customer",
            "contract",
            "title",
            "description",
            "priority",
            "kind",
            "status",
            "source",
            "contact_name",
            "resolved_at",
            "closed_at",
            "reopen_count",
            "rating",
            "source_system",
            "external_id",
            "clocks",
            "work_order",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_work_order(self, ticket) -> int | None:
        dispatches = ticket.dispatches.all()  # prefetched, newest first
        return dispatches[0].work_order_id if dispatches else None


class TicketCreateSerializer(serializers.Serializer):
    contract = serializers.PrimaryKeyRelatedField(queryset=ServiceContract.objects.none())
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.P3)
    kind = serializers.ChoiceField(choices=TicketKind.choices, default=TicketKind.INCIDENT)
    contact_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    source_system = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    external_id = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")

    def __init__(self, *args, contracts=None, **kwargs):
        super().__init__(*args, **kwargs)
        if contracts is not None:
            # Only contracts the key can see: another partner's contract is "does not exist".
            self.fields["contract"].queryset = contracts


class TicketStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=TicketStatus.choices)


class TicketPrioritySerializer(serializers.Serializer):
    priority = serializers.ChoiceField(choices=Priority.choices)


class TicketUpsertItemSerializer(serializers.Serializer):
    """Documentation of one bulk item; items are validated by the service, one result per item."""

    source_system = serializers.CharField(max_length=40)
    external_id = serializers.CharField(max_length=100)
    contract = serializers.IntegerField(help_text="Needed to create; a ticket keeps its contract.")
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    kind = serializers.ChoiceField(choices=TicketKind.choices, required=False)
    status = serializers.ChoiceField(choices=TicketStatus.choices, required=False)
    contact_name = serializers.CharField(required=False)
    opened_at = serializers.DateTimeField(required=False, help_text="When the ITSM opened it (clocks start there).")


class TicketBulkRequestSerializer(serializers.Serializer):
    items = TicketUpsertItemSerializer(many=True, max_length=sync.MAX_TICKET_BATCH)


class CheckInSerializer(serializers.ModelSerializer):
    """A customer check-in 30, 90 or 180 days after go-live; the one-time link's token is never shown."""

    customer = serializers.IntegerField(source="implementation.customer_id", read_only=True)
    lead = serializers.IntegerField(source="implementation.lead_id", read_only=True)
    answered = serializers.SerializerMethodField()

    class Meta:
        model = CheckIn
        fields = [
            "id",
            "implementation",
            "lead",
            "customer",
            "partner",
            "day",
            "due_on",
            "invited_at",
            "answered",
            "answered_at",
            "rating",
            "comment",
            "author_name",
            "consent_publish",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_answered(self, checkin) -> bool:
        return checkin.answered_at is not None


# --- filters ----------------------------------------------------------------------------------------------------


class ImplementationFilter(SyncFilterSet):
    class Meta:
        model = Implementation
        fields = ["status", "lead", "customer"]


class ServiceContractFilter(SyncFilterSet):
    class Meta:
        model = ServiceContract
        fields = ["customer", "source_system", "external_id"]


class TicketFilter(SyncFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=TicketStatus.choices)

    class Meta:
        model = Ticket
        fields = ["status", "priority", "kind", "customer", "contract", "source_system", "external_id"]


class CheckInFilter(SyncFilterSet):
    answered = django_filters.BooleanFilter(field_name="answered_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = CheckIn
        fields = ["implementation", "day", "answered"]


# --- viewsets ---------------------------------------------------------------------------------------------------


def _user_of(partner_id, pk, field):
    if pk is None:
        return None
    user = User.objects.filter(pk=pk, partner_id=partner_id).first()
    if user is None:
        raise serializers.ValidationError({field: ["No such user on the partner's staff."]})
    return user


class ImplementationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, ScopedViewSet):
    resource = "implementations"
    serializer_class = ImplementationSerializer
    filterset_class = ImplementationFilter
    queryset = Implementation.objects.prefetch_related("milestones", "team")

    @extend_schema(request=ImplementationWriteSerializer, responses=ImplementationSerializer)
    def update(self, request, *args, **kwargs):
        implementation = self.get_object()
        incoming = ImplementationWriteSerializer(data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        owner = _user_of(implementation.partner_id, data.pop("owner", None), "owner")
        implementation = services.implementation_update(
            implementation=implementation, actor=api_actor(request.user), owner=owner, **data
        )
        return Response(ImplementationSerializer(implementation).data)

    @extend_schema(request=ImplementationWriteSerializer, responses=ImplementationSerializer)
    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, **kwargs)


class ServiceContractViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, ScopedViewSet):
    resource = "service_contracts"
    serializer_class = ServiceContractSerializer
    filterset_class = ServiceContractFilter
    queryset = ServiceContract.objects.all()

    @extend_schema(request=ServiceContractCreateSerializer, responses={201: ServiceContractSerializer})
    def create(self, request, *args, **kwargs):
        incoming = ServiceContractCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        partner_id = data.pop("partner", None)
        if self.key_partner_id is not None:
            if partner_id not in (None, self.key_partner_id):
                raise serializers.ValidationError({"partner": ["A partner key creates only its own contracts."]})
            partner_id = self.key_partner_id
        partner = Partner.objects.filter(pk=partner_id).first() if partner_id else None
        if partner is None:
            raise serializers.ValidationError({"partner": ["No such partner."]})
        customer = Customer.objects.filter(pk=data.pop("customer")).first()
        if customer is None:
            raise serializers.ValidationError({"customer": ["No such customer."]})
        data["support_owner"] = _user_of(partner.pk, data.pop("support_owner", None), "support_owner")
        contract = services.contract_create(
            customer=customer,
            partner=partner,
            actor=api_actor(request.user),
            **{k: v for k, v in data.items() if v is not None},
        )
        self._etag_object = contract
        return Response(ServiceContractSerializer(contract).data, status=201)


class TicketViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, ScopedViewSet):
    resource = "tickets"
    serializer_class = TicketSerializer
    filterset_class = TicketFilter
    queryset = Ticket.objects.prefetch_related("clocks", "dispatches")

    @extend_schema(request=TicketCreateSerializer, responses={201: TicketSerializer})
    def create(self, request, *args, **kwargs):
        incoming = TicketCreateSerializer(
            data=request.data, contracts=scope_for(ServiceContract.objects.all(), request.user)
        )
        incoming.is_valid(raise_exception=True)
        ticket = services.ticket_open(actor=api_actor(request.user), source="api", **incoming.validated_data)
        self._etag_object = ticket
        return Response(
            TicketSerializer(Ticket.objects.prefetch_related("clocks", "dispatches").get(pk=ticket.pk)).data,
            status=201,
        )

    def _answer(self, ticket):
        return Response(
            TicketSerializer(Ticket.objects.prefetch_related("clocks", "dispatches").get(pk=ticket.pk)).data
        )

    @extend_schema(request=TicketStatusSerializer, responses=TicketSerializer)
    @action(detail=True, methods=["post"])
    def status(self, request, pk=None):
        """Move the ticket by the same rules as the portal; its SLA clocks follow (400 for a move not allowed)."""
        ticket = self.get_object()
        incoming = TicketStatusSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        ticket = services.ticket_transition(
            ticket=ticket, to_status=incoming.validated_data["status"], actor=api_actor(request.user)
        )
        return self._answer(ticket)

    @extend_schema(request=TicketPrioritySerializer, responses=TicketSerializer)
    @action(detail=True, methods=["post"])
    def priority(self, request, pk=None):
        """Change the priority: the clocks take the new targets and keep the time already used."""
        ticket = self.get_object()
        incoming = TicketPrioritySerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        ticket = services.ticket_set_priority(
            ticket=ticket, priority=incoming.validated_data["priority"], actor=api_actor(request.user)
        )
        return self._answer(ticket)

    @extend_schema(request=None, responses=TicketSerializer)
    @action(detail=True, methods=["post"], url_path="dispatch")
    def dispatch_onsite(self, request, pk=None):
        """Offer the on-site work to an operational partner in the customer's region (400 when the ticket is not an
        open on-site work order, its visit is already dispatched and not ended, or your company serves the region
        itself). A ticket reopened after its visit ended is dispatched again."""
        ticket = self.get_object()
        ticket_dispatch(ticket=ticket, actor=api_actor(request.user))
        return self._answer(ticket)

    @extend_schema(request=TicketBulkRequestSerializer, responses=BulkResultSerializer)
    @action(detail=False, methods=["post"], url_path="bulk-upsert")
    def bulk_upsert(self, request):
        """Create or update up to 1,000 tickets by (source_system, external_id); one result per item. Status and
        priority changes go through the same rules as the portal, so the SLA clocks stay right."""
        results = sync.tickets_bulk_upsert(
            items=_items(request), partner_id=self.key_partner_id, actor=api_actor(request.user)
        )
        return Response({"results": [r.as_dict() for r in results]})


class CheckInViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Read-only: answers come only from the customer's one-time link (leads.delivery.checkins.checkin_answer), which
    also sends the webhook `checkin.received`."""

    resource = "checkins"
    serializer_class = CheckInSerializer
    filterset_class = CheckInFilter
    queryset = CheckIn.objects.select_related("implementation")
