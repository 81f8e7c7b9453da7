"""Statements for partner keys (read-only: the payout cycle writes them)."""

import django_filters
from rest_framework import serializers

from prm.api_base import ReadOnlyScopedViewSet, SyncFilterSet

from ..models import Statement


class StatementSerializer(serializers.ModelSerializer):
    class Meta:
        model = Statement
        exclude = ["approved_by", "paid_by"]


class StatementFilter(SyncFilterSet):
    period = django_filters.DateFilter()

    class Meta:
        model = Statement
        fields = ["status", "period"]


class StatementViewSet(ReadOnlyScopedViewSet):
    resource = "statements"
    serializer_class = StatementSerializer
    filterset_class = StatementFilter
    queryset = Statement.objects.all()
