"""API for partners, their named contacts and the tier catalogue."""

import django_filters
from django.db import transaction
from rest_framework import mixins, serializers

from partners.models import Partner, PartnerContact, Tier
from prm.api_base import ReadOnlyScopedViewSet, ScopedViewSet, SyncFilterSet
from prm.services import audit_record


class TierSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tier
        fields = [
            "id",
            "code",
            "name",
            "rank",
            "commission_rate",
            "allocation_weight",
            "protection_days",
            "description",
            "updated_at",
        ]


class PartnerSerializer(serializers.ModelSerializer):
    tier = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    regions = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    competencies = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    website = serializers.CharField(read_only=True, help_text="A URL, or empty.")

    class Meta:
        model = Partner
        fields = [
            "id",
            "name",
            "legal_name",
            "country",
            "tax_id",
            "website",
            "email_domain",
            "program_model",
            "partner_type",
            "status",
            "tier",
            "regions",
            "competencies",
            "parent",
            "lead_capacity",
            "sla_score",
            "joined_at",
            "created_at",
            "updated_at",
        ]


class ContactSerializer(serializers.ModelSerializer):
    partner = serializers.PrimaryKeyRelatedField(
        queryset=Partner.objects.all(), required=False, help_text="Vendor keys only; partner keys use their own."
    )

    class Meta:
        model = PartnerContact
        fields = ["id", "partner", "role", "name", "email", "phone", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]
        validators = []  # (partner, role) uniqueness is checked by the service / database → 400 / 409


class PartnerFilter(SyncFilterSet):
    status = django_filters.CharFilter()
    program_model = django_filters.CharFilter()
    tier = django_filters.CharFilter(field_name="tier__code")

    class Meta:
        model = Partner
        fields = ["status", "program_model", "tier"]


class ContactFilter(SyncFilterSet):
    class Meta:
        model = PartnerContact
        fields = ["partner", "role"]


class TierFilter(SyncFilterSet):
    class Meta:
        model = Tier
        fields = ["code"]


class PartnerViewSet(ReadOnlyScopedViewSet):
    resource = "partners"
    serializer_class = PartnerSerializer
    filterset_class = PartnerFilter
    queryset = Partner.objects.all()

    def base_queryset(self):
        return Partner.objects.select_related("tier").prefetch_related("regions", "competencies")


class TierViewSet(ReadOnlyScopedViewSet):
    resource = "tiers"
    serializer_class = TierSerializer
    filterset_class = TierFilter
    queryset = Tier.objects.all()


def contact_save(*, contact: PartnerContact, actor, created: bool) -> PartnerContact:
    with transaction.atomic():
        contact.full_clean()
        contact.save()
        audit_record(actor=actor, action="contact.created" if created else "contact.updated", target=contact, data={})
    return contact


def contact_delete(*, contact: PartnerContact, actor) -> None:
    with transaction.atomic():
        audit_record(actor=actor, action="contact.deleted", target=contact.partner, data={"contact": contact.pk})
        contact.delete()


class ContactViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ScopedViewSet,
):
    resource = "contacts"
    serializer_class = ContactSerializer
    filterset_class = ContactFilter
    queryset = PartnerContact.objects.all()

    def perform_create(self, serializer):
        data = serializer.validated_data
        if self.key_partner_id is not None:
            data["partner_id"] = self.key_partner_id
            data.pop("partner", None)
        elif "partner" not in data:
            raise serializers.ValidationError({"partner": ["Vendor keys must name the partner."]})
        serializer.instance = contact_save(contact=PartnerContact(**data), actor=self.request.user.user, created=True)

    def perform_update(self, serializer):
        data = serializer.validated_data
        data.pop("partner", None)  # a contact never moves to another partner
        contact = serializer.instance
        for field, value in data.items():
            setattr(contact, field, value)
        serializer.instance = contact_save(contact=contact, actor=self.request.user.user, created=False)

    def perform_destroy(self, instance):
        contact_delete(contact=instance, actor=self.request.user.user)
