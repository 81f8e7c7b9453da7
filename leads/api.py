"""API for customers, leads/deals, registrations and activities, including the CRM bulk upserts."""

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins, permissions, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from leads.customers import customer_find_or_create, customer_name_clean, tax_id_clean
from leads.models import (
    Activity,
    ActivityKind,
    Customer,
    Dispute,
    DisputeOutcome,
    DisputeStatus,
    Lead,
    LeadKind,
    Offer,
    OfferStatus,
    Registration,
    Stage,
)
from leads.services import conflict, deals, offers, registration, sync
from prm import texts
from prm.api_base import ReadOnlyScopedViewSet, ScopedViewSet, SyncFilterSet
from prm.bulk import gc_paused
from prm.permissions import scope_for
from prm.services import audit_record

# --- serializers (thin: shapes only; rules live in leads.services.sync) ----------------------------------------


class CustomerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ["id", "name", "country", "tax_id", "domain", "region", "industry", "size", "created_at", "updated_at"]


class LeadSerializer(serializers.ModelSerializer):
    contact_email = serializers.CharField(read_only=True, help_text="An e-mail address, or empty.")

    class Meta:
        model = Lead
        fields = [
            "id",
            "partner",
            "customer",
            "customer_name",
            "title",
            "kind",
            "source",
            "stage",
            "region",
            "contact_name",
            "contact_email",
            "contact_phone",
            "products",
            "value",
            "currency",
            "expected_close",
            "notes",
            "lost_reason",
            "source_system",
            "external_id",
            "offered_at",
            "accepted_at",
            "first_contact_at",
            "last_activity_at",
            "won_at",
            "closed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class CustomerRefSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=300)
    tax_id = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    country = serializers.RegexField(r"^[A-Za-z]{2}$", required=False, default="RU")

    def validate_name(self, value):
        return customer_name_clean(value)

    def validate(self, attrs):
        attrs["country"] = attrs.get("country", "RU").upper()
        try:
            attrs["tax_id"] = tax_id_clean(attrs.get("tax_id", ""), attrs["country"])
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"tax_id": exc.messages}) from exc
        return attrs


class LeadWriteSerializer(serializers.ModelSerializer):
    """Fields a CRM owns. The stage moves only through `POST /leads/{id}/stage/`."""

    class Meta:
        model = Lead
        fields = [f for f in sync.LEAD_CRM_FIELDS if f != "customer_id"]  # the customer is set on create only
        extra_kwargs = {"currency": {"min_length": 3}, "contact_email": {"allow_blank": True}}


class LeadCreateSerializer(LeadWriteSerializer):
    customer = CustomerRefSerializer(help_text="Found by tax id, else by name; created when unknown.")
    partner = serializers.IntegerField(
        required=False, min_value=1, help_text="Vendor keys only; partner keys always create for their own partner."
    )

    class Meta(LeadWriteSerializer.Meta):
        fields = [*LeadWriteSerializer.Meta.fields, "customer", "partner", "source_system", "external_id"]
        validators = []


class StageChangeSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(choices=Stage.choices)
    lost_reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class LeadUpsertItemSerializer(serializers.Serializer):
    """Documentation of one bulk item; items are validated by the service, one result per item."""

    source_system = serializers.CharField(max_length=40)
    external_id = serializers.CharField(max_length=100)
    title = serializers.CharField(max_length=200)
    customer = CustomerRefSerializer()
    partner = serializers.IntegerField(required=False, help_text="Vendor keys only.")
    kind = serializers.ChoiceField(choices=LeadKind.choices, required=False)
    contact_name = serializers.CharField(required=False)
    contact_email = serializers.EmailField(required=False)
    contact_phone = serializers.CharField(required=False)
    products = serializers.CharField(required=False)
    value = serializers.DecimalField(max_digits=14, decimal_places=2, required=False)
    currency = serializers.CharField(required=False)
    expected_close = serializers.DateField(required=False, allow_null=True)
    notes = serializers.CharField(required=False)


class LeadRefSerializer(serializers.Serializer):
    source_system = serializers.CharField()
    external_id = serializers.CharField()


class ActivityUpsertItemSerializer(serializers.Serializer):
    source_system = serializers.CharField(max_length=40)
    external_id = serializers.CharField(max_length=100)
    lead = serializers.IntegerField(required=False, help_text="The lead's id, or give lead_ref.")
    lead_ref = LeadRefSerializer(required=False)
    kind = serializers.ChoiceField(choices=ActivityKind.choices, required=False)
    occurred_at = serializers.DateTimeField()
    subject = serializers.CharField(max_length=200)
    notes = serializers.CharField(required=False)


class ItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["created", "updated", "unchanged", "error"])
    id = serializers.IntegerField(allow_null=True)
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class BulkResultSerializer(serializers.Serializer):
    results = ItemResultSerializer(many=True)


class LeadBulkRequestSerializer(serializers.Serializer):
    items = LeadUpsertItemSerializer(many=True, max_length=sync.MAX_BATCH)


class ActivityBulkRequestSerializer(serializers.Serializer):
    items = ActivityUpsertItemSerializer(many=True, max_length=sync.MAX_BATCH)


class RegistrationSerializer(serializers.ModelSerializer):
    # The system's reasons are stored as code + parameters; clients get the text (in the request's language).
    decision_reason = serializers.CharField(source="decision_reason_text", read_only=True)

    class Meta:
        model = Registration
        fields = [
            "id",
            "lead",
            "partner",
            "status",
            "protected_from",
            "protected_until",
            "extended",
            "decided_at",
            "decision_reason",
            "review_due",
            "created_at",
            "updated_at",
        ]


class ActivitySerializer(serializers.ModelSerializer):
    lead = serializers.PrimaryKeyRelatedField(queryset=Lead.objects.none())

    class Meta:
        model = Activity
        fields = [
            "id",
            "lead",
            "partner",
            "kind",
            "occurred_at",
            "subject",
            "notes",
            "source_system",
            "external_id",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["partner", "created_at", "updated_at"]
        validators = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        view = self.context.get("view")
        if view is not None and getattr(view, "request", None) is not None and "lead" in self.fields:
            # Only leads the key can see are valid targets: another partner's lead is "does not exist".
            self.fields["lead"].queryset = scope_for(Lead.objects.filter(partner__isnull=False), view.request.user)


# --- filters ------------------------------------------------------------------------------------------------------


class CustomerFilter(SyncFilterSet):
    class Meta:
        model = Customer
        fields = ["tax_id", "country"]


class LeadFilter(SyncFilterSet):
    stage = django_filters.MultipleChoiceFilter(choices=Stage.choices)

    class Meta:
        model = Lead
        fields = ["stage", "partner", "customer", "source_system", "external_id"]


class RegistrationFilter(SyncFilterSet):
    class Meta:
        model = Registration
        fields = ["status", "lead"]


class ActivityFilter(SyncFilterSet):
    class Meta:
        model = Activity
        fields = ["lead", "kind", "source_system", "external_id"]


# --- viewsets -----------------------------------------------------------------------------------------------------


class CustomerViewSet(ReadOnlyScopedViewSet):
    resource = "customers"
    serializer_class = CustomerSerializer
    filterset_class = CustomerFilter
    queryset = Customer.objects.all()


class LeadViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin, ScopedViewSet
):
    resource = "leads"
    serializer_class = LeadSerializer
    filterset_class = LeadFilter
    queryset = Lead.objects.all()

    def base_queryset(self):
        if self.request.method in permissions.SAFE_METHODS:
            return Lead.objects.all()  # the serializer shows the related rows' ids, which are the lead's own columns
        return Lead.objects.select_related("customer", "partner", "owner", "registration")  # the services read them

    def get_object(self):
        lead = super().get_object()
        # A co-seller sees the deal (and logs activities on it); only its owner changes it, as in the portal.
        if self.request.method not in permissions.SAFE_METHODS and self.key_partner_id not in (None, lead.partner_id):
            raise exceptions.PermissionDenied("Only the partner that owns the deal changes it.")
        return lead

    @extend_schema(request=LeadCreateSerializer, responses={201: LeadSerializer})
    def create(self, request, *args, **kwargs):
        incoming = LeadCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        ref = data.pop("customer")
        partner = data.pop("partner", None)
        if self.key_partner_id is not None:
            if partner not in (None, self.key_partner_id):
                raise serializers.ValidationError({"partner": ["A partner key creates only its own partner's leads."]})
            partner = self.key_partner_id
        elif partner is not None and not sync.Partner.objects.filter(pk=partner).exists():
            raise serializers.ValidationError({"partner": ["No such partner."]})
        with transaction.atomic():
            found = customer_find_or_create(name=ref["name"], tax_id=ref["tax_id"], country=ref["country"])
            lead = sync.lead_create_from_api(
                partner_id=partner,
                customer_id=found.customer.pk,
                customer_name=ref["name"],
                actor=request.user,
                by_partner=self.key_partner_id is not None,
                **data,
            )
        self._etag_object = lead
        return Response(LeadSerializer(lead).data, status=201)

    @extend_schema(request=LeadWriteSerializer, responses=LeadSerializer)
    def update(self, request, *args, **kwargs):
        lead = self.get_object()
        incoming = LeadWriteSerializer(lead, data=request.data, partial=kwargs.get("partial", False))
        incoming.is_valid(raise_exception=True)
        lead = sync.lead_update_from_api(lead=lead, actor=request.user, **incoming.validated_data)
        return Response(LeadSerializer(lead).data)

    @extend_schema(request=LeadWriteSerializer, responses=LeadSerializer)
    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)

    @extend_schema(request=StageChangeSerializer, responses=LeadSerializer)
    @action(detail=True, methods=["post"])
    def stage(self, request, pk=None):
        """Move a deal to another stage by the same rules as the portal's pipeline (400 otherwise)."""
        lead = self.get_object()
        incoming = StageChangeSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            lead = deals.deal_stage_change(
                lead=lead,
                to_stage=incoming.validated_data["stage"],
                actor=sync.api_actor(request.user),
                lost_reason=incoming.validated_data.get("lost_reason", ""),
            )
        except DjangoValidationError as exc:
            # The portal form calls the field to_stage; the API calls it stage.
            raise DjangoValidationError(
                {("stage" if k == "to_stage" else k): v for k, v in exc.message_dict.items()}
            ) from exc
        return Response(LeadSerializer(lead).data)

    @extend_schema(request=LeadBulkRequestSerializer, responses=BulkResultSerializer)
    @action(detail=False, methods=["post"], url_path="bulk-upsert")
    def bulk_upsert(self, request):
        """Create or update up to 5,000 leads by (source_system, external_id); one result per item.

        A partner key's new deals are deal registrations: checked for conflicts right after the request (see
        `/registrations/?lead=`), protected and workable only once approved. A registered deal keeps its customer.
        """
        with gc_paused():  # parsing 5,000 items is part of the batch's allocations
            results = sync.leads_bulk_upsert(items=_items(request), partner_id=self.key_partner_id, actor=request.user)
            return Response({"results": [r.as_dict() for r in results]})


def _items(request) -> list:
    data = request.data
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise serializers.ValidationError({"items": ["A list of objects."]})
    if len(items) > sync.MAX_BATCH:
        raise serializers.ValidationError({"items": [f"At most {sync.MAX_BATCH} items per request."]})
    return items


class WithdrawSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300)


class RegistrationViewSet(ReadOnlyScopedViewSet):
    resource = "registrations"
    serializer_class = RegistrationSerializer
    filterset_class = RegistrationFilter
    queryset = Registration.objects.all()

    @extend_schema(request=WithdrawSerializer, responses=RegistrationSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        """The registering partner gives up its claim, as the portal's "Withdraw registration" button does: the
        registration is withdrawn, its protection released and the deal closed as lost (400 when not possible)."""
        reg = self.get_object()
        incoming = WithdrawSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        reg = registration.registration_withdraw(
            registration=reg,
            user=sync.api_actor(request.user),
            reason=incoming.validated_data["reason"],
            partner_id=self.key_partner_id,
        )
        return Response(RegistrationSerializer(reg).data)

    @extend_schema(request=None, responses=RegistrationSerializer)
    @action(detail=True, methods=["post"])
    def extend(self, request, pk=None):
        """Extend the protection once by the program's extension days, as the deal page's button does (400 when
        the registration cannot be extended)."""
        reg = self.get_object()
        if self.key_partner_id not in (None, reg.partner_id):
            raise exceptions.PermissionDenied("Only the registering partner extends its registration.")
        reg = registration.registration_extend(registration=reg, actor=sync.api_actor(request.user))
        self._etag_object = reg
        return Response(RegistrationSerializer(reg).data)


def activity_save(*, activity: Activity, actor) -> Activity:
    with transaction.atomic():
        activity.partner_id = Lead.objects.values_list("partner_id", flat=True).get(pk=activity.lead_id)
        activity.full_clean()
        activity.save()
        deals.leads_activity_clock(lead_ids=[activity.lead_id])
    return activity


def activity_delete(*, activity: Activity, actor) -> None:
    with transaction.atomic():
        audit_record(actor=getattr(actor, "user", actor), action="activity.deleted", target=activity.lead)
        lead_id = activity.lead_id
        activity.delete()
        deals.leads_activity_clock(lead_ids=[lead_id])


class ActivityViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ScopedViewSet,
):
    resource = "activities"
    serializer_class = ActivitySerializer
    filterset_class = ActivityFilter
    queryset = Activity.objects.all()

    def perform_create(self, serializer):
        serializer.instance = activity_save(activity=Activity(**serializer.validated_data), actor=self.request.user)

    def perform_update(self, serializer):
        activity = serializer.instance
        for name, value in serializer.validated_data.items():
            setattr(activity, name, value)
        serializer.instance = activity_save(activity=activity, actor=self.request.user)

    def perform_destroy(self, instance):
        activity_delete(activity=instance, actor=self.request.user)

    @extend_schema(request=ActivityBulkRequestSerializer, responses=BulkResultSerializer)
    @action(detail=False, methods=["post"], url_path="bulk-upsert")
    def bulk_upsert(self, request):
        """Create or update up to 5,000 activities by (source_system, external_id); one result per item."""
        with gc_paused():
            results = sync.activities_bulk_upsert(
                items=_items(request), partner_id=self.key_partner_id, actor=request.user
            )
            return Response({"results": [r.as_dict() for r in results]})


# --- offers: the partner's CRM answers the vendor's offers (the portal's services, leads.services.offers) ----------


class OfferSerializer(serializers.ModelSerializer):
    title = serializers.CharField(source="lead.title", read_only=True)
    customer_name = serializers.CharField(source="lead.customer_name", read_only=True)
    reason = serializers.SerializerMethodField(
        help_text="Why the offer closed, in the request's language (Accept-Language) when the system wrote it."
    )

    class Meta:
        model = Offer
        fields = [
            "id",
            "lead",
            "partner",
            "title",
            "customer_name",
            "status",
            "offered_at",
            "deadline",
            "responded_at",
            "reason",
            "created_at",
            "updated_at",
        ]

    def get_reason(self, offer) -> str:
        return texts.render(offer.reason)


class OfferFilter(SyncFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=OfferStatus.choices)

    class Meta:
        model = Offer
        fields = ["status", "lead"]


class DeclineSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000)


class OfferViewSet(ReadOnlyScopedViewSet):
    """Offers of leads to the key's partner (`?status=pending` for the open ones, answer before `deadline`)."""

    resource = "offers"
    serializer_class = OfferSerializer
    filterset_class = OfferFilter
    queryset = Offer.objects.all()

    def base_queryset(self):
        return Offer.objects.select_related("lead")

    @extend_schema(request=None, responses=OfferSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        """Take the lead, as the portal's Accept button does: it becomes your deal (`lead`), or, when another
        partner meanwhile protects the customer, waits for a channel manager (the offer is then closed)."""
        offer = self.get_object()
        offers.offer_accept(offer=offer, user=sync.api_actor(request.user))
        offer.refresh_from_db()
        self._etag_object = offer
        return Response(OfferSerializer(offer).data)

    @extend_schema(request=DeclineSerializer, responses=OfferSerializer)
    @action(detail=True, methods=["post"])
    def decline(self, request, pk=None):
        """Pass with a reason, as the portal's Decline button does: the lead goes to the next partner."""
        offer = self.get_object()
        incoming = DeclineSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        offers.offer_decline(offer=offer, user=sync.api_actor(request.user), reason=incoming.validated_data["reason"])
        offer.refresh_from_db()
        self._etag_object = offer
        return Response(OfferSerializer(offer).data)


# --- disputes: a partner contests who holds a customer, the vendor decides (leads.services.conflict) ---------------


class DisputeSerializer(serializers.ModelSerializer):
    """`held_registration` (the other side) is the vendor's to see, as in the portal: partner keys get null."""

    has_attachment = serializers.SerializerMethodField()
    held_registration = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text="The registration that holds the customer; null for partner keys."
    )
    outcome = serializers.ChoiceField(choices=DisputeOutcome.choices, allow_blank=True, read_only=True)

    class Meta:
        model = Dispute
        fields = [
            "id",
            "partner",
            "registration",
            "held_registration",
            "customer_name",
            "tax_id",
            "first_contact_date",
            "description",
            "has_attachment",
            "status",
            "due_at",
            "outcome",
            "cosell_share",
            "decision_reason",
            "decided_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_has_attachment(self, obj) -> bool:
        return bool(obj.attachment)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        if getattr(getattr(request, "auth", None), "partner_id", None) is not None:
            data["held_registration"] = None
        return data


class DisputeOpenSerializer(serializers.Serializer):
    registration = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="One of your registrations, or name the customer."
    )
    customer_name = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    tax_id = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    first_contact_date = serializers.DateField(help_text="Your first contact with the customer; not in the future.")
    description = serializers.CharField(max_length=10_000, help_text="What happened.")


class DisputeDecisionSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=DisputeOutcome.choices)
    reason = serializers.CharField(max_length=10_000)
    share = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        required=False,
        allow_null=True,
        help_text="The disputing partner's co-sell share, % (cosell only).",
    )


class DisputeFilter(SyncFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=DisputeStatus.choices)

    class Meta:
        model = Dispute
        fields = ["status", "registration"]


class DisputeViewSet(mixins.CreateModelMixin, ReadOnlyScopedViewSet):
    """Disputes over who holds a customer: a partner key opens and follows its own, a vendor key decides.

    The portal's services (`dispute_open`, `dispute_decide`): the same checks, deadlines, audit and notices.
    """

    resource = "disputes"
    serializer_class = DisputeSerializer
    filterset_class = DisputeFilter
    queryset = Dispute.objects.all()

    @extend_schema(request=DisputeOpenSerializer, responses={201: DisputeSerializer})
    def create(self, request, *args, **kwargs):
        """Open a dispute on one of your registrations, or on a customer named by name or tax id (partner keys)."""
        user = self.key_user(side="partner")
        incoming = DisputeOpenSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        reg_id = data.pop("registration", None)
        reg = None
        if reg_id is not None:
            # Another partner's registration is "does not exist", as for any id the key cannot see.
            reg = Registration.objects.filter(pk=reg_id, partner_id=self.key_partner_id).first()
            if reg is None:
                raise serializers.ValidationError({"registration": [_("Choose one of your company's registrations.")]})
        dispute = conflict.dispute_open(user=user, registration=reg, **data)
        self._etag_object = dispute
        return Response(DisputeSerializer(dispute, context={"request": request}).data, status=201)

    @extend_schema(request=DisputeDecisionSerializer, responses=DisputeSerializer)
    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        """A channel manager's decision (vendor keys): uphold, transfer the protection or split as co-sell."""
        dispute = self.get_object()
        user = self.key_user(side="vendor")
        incoming = DisputeDecisionSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        d = incoming.validated_data
        dispute = conflict.dispute_decide(
            dispute=dispute, actor=user, outcome=d["outcome"], reason=d["reason"], share=d.get("share")
        )
        self._etag_object = dispute
        return Response(DisputeSerializer(dispute, context={"request": request}).data)
