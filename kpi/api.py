"""API for KPI snapshots, tier changes and the commission ledger (all read-only: the nightly run writes them)."""

import django_filters
from rest_framework import serializers

from kpi.models import CommissionEntry, KpiSnapshot, TierChange
from prm.api_base import ReadOnlyScopedViewSet, SyncFilterSet


class KpiSnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = KpiSnapshot
        exclude = ["certified_by_competency", "score_components"]


class TierChangeSerializer(serializers.ModelSerializer):
    reason = serializers.CharField(source="reason_text", read_only=True, help_text="In the request's language.")

    class Meta:
        model = TierChange
        fields = [
            "id",
            "partner",
            "kind",
            "from_tier",
            "to_tier",
            "effective_on",
            "reason",
            "reason_code",
            "reason_params",
            "evaluation",
            "grace_until",
            "created_at",
        ]


class CommissionEntrySerializer(serializers.ModelSerializer):
    line = serializers.CharField(read_only=True, help_text="The entry's line in the request's language.")

    class Meta:
        model = CommissionEntry
        exclude = ["source_key"]


class KpiSnapshotFilter(SyncFilterSet):
    date_from = django_filters.DateFilter(field_name="date", lookup_expr="gte")
    date_to = django_filters.DateFilter(field_name="date", lookup_expr="lte")

    class Meta:
        model = KpiSnapshot
        fields = ["date_from", "date_to"]


class TierChangeFilter(SyncFilterSet):
    class Meta:
        model = TierChange
        fields = ["kind"]


class CommissionEntryFilter(SyncFilterSet):
    entry_date_from = django_filters.DateFilter(field_name="entry_date", lookup_expr="gte")
    entry_date_to = django_filters.DateFilter(field_name="entry_date", lookup_expr="lte")

    class Meta:
        model = CommissionEntry
        fields = ["kind", "lead", "entry_date_from", "entry_date_to"]


class KpiSnapshotViewSet(ReadOnlyScopedViewSet):
    resource = "kpi_snapshots"
    serializer_class = KpiSnapshotSerializer
    filterset_class = KpiSnapshotFilter
    queryset = KpiSnapshot.objects.all()


class TierChangeViewSet(ReadOnlyScopedViewSet):
    resource = "tier_changes"
    sync_field = "created_at"  # append-only: a decision never changes after it is made
    serializer_class = TierChangeSerializer
    filterset_class = TierChangeFilter
    queryset = TierChange.objects.all()


class CommissionEntryViewSet(ReadOnlyScopedViewSet):
    resource = "commission_entries"
    serializer_class = CommissionEntrySerializer
    filterset_class = CommissionEntryFilter
    queryset = CommissionEntry.objects.all()
