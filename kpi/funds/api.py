"""MDF requests and claims: partner keys create them, vendor keys decide them (POST …/{id}/decide/)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from prm.api_base import ScopedViewSet, SyncFilterSet
from prm.permissions import scope_for

from . import services
from .models import ActivityType, Allocation, FundClaim, FundRequest

MAX_INT = 2**31 - 1


class FundRequestSerializer(serializers.ModelSerializer):
    class Meta:
        model = FundRequest
        exclude = ["decided_by", "submitted_by"]


class FundRequestCreateSerializer(serializers.Serializer):
    allocation = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    activity_type = serializers.ChoiceField(choices=ActivityType.choices)
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    starts_on = serializers.DateField()
    ends_on = serializers.DateField()
    planned_cost = serializers.DecimalField(max_digits=14, decimal_places=2)
    requested_amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    expected_leads = serializers.IntegerField(min_value=0, max_value=MAX_INT, required=False, default=0)
    expected_pipeline = serializers.DecimalField(max_digits=16, decimal_places=2, required=False, default=0)


class DecisionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["approve", "reject"])
    approved_amount = serializers.DecimalField(max_digits=14, decimal_places=2, required=False, allow_null=True)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class FundClaimSerializer(serializers.ModelSerializer):
    class Meta:
        model = FundClaim
        exclude = ["decided_by", "submitted_by", "proof"]


class FundClaimCreateSerializer(serializers.Serializer):
    request = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    proof = serializers.FileField()
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    leads_generated = serializers.IntegerField(min_value=0, max_value=MAX_INT, required=False, default=0)


class FundRequestFilter(SyncFilterSet):
    class Meta:
        model = FundRequest
        fields = ["status", "activity_type"]


class FundClaimFilter(SyncFilterSet):
    class Meta:
        model = FundClaim
        fields = ["status", "request"]


def _own(model, viewer, pk, field):
    obj = scope_for(model.objects.all(), viewer).filter(pk=pk).first()
    if obj is None:
        raise DjangoValidationError({field: ["No such object of yours."]})
    return obj


def _decide(view, service, target_name, out_serializer):
    obj = view.get_object()
    incoming = DecisionSerializer(data=view.request.data)
    incoming.is_valid(raise_exception=True)
    data = incoming.validated_data
    result = service(
        actor=view.request.user,
        approve=data["decision"] == "approve",
        approved_amount=data.get("approved_amount"),
        reason=data.get("reason", ""),
        **{target_name: obj},
    )
    return Response(out_serializer(result).data)


class FundRequestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    resource = "mdf_requests"
    serializer_class = FundRequestSerializer
    filterset_class = FundRequestFilter
    queryset = FundRequest.objects.all()

    @extend_schema(request=FundRequestCreateSerializer, responses={201: FundRequestSerializer})
    def create(self, request, *args, **kwargs):
        """A partner key asks for funds from its own allocation (400 with field messages otherwise)."""
        incoming = FundRequestCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        data["allocation"] = _own(Allocation, request.user, data["allocation"], "allocation")
        created = services.fund_request_submit(actor=request.user, **data)
        return Response(FundRequestSerializer(created).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=DecisionSerializer, responses=FundRequestSerializer)
    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        """Vendor keys approve (in full or `approved_amount`) or reject with a `reason`."""
        return _decide(self, services.fund_request_decide, "request", FundRequestSerializer)


class FundClaimViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    resource = "mdf_claims"
    serializer_class = FundClaimSerializer
    filterset_class = FundClaimFilter
    queryset = FundClaim.objects.all()
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(request=FundClaimCreateSerializer, responses={201: FundClaimSerializer})
    def create(self, request, *args, **kwargs):
        """A partner key claims an approved request's costs with the proof file (multipart)."""
        incoming = FundClaimCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        data["request"] = _own(FundRequest, request.user, data["request"], "request")
        created = services.fund_claim_submit(actor=request.user, **data)
        return Response(FundClaimSerializer(created).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=DecisionSerializer, responses=FundClaimSerializer)
    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        """Vendor keys approve (the claimed amount or less: one reimbursement entry) or reject with a `reason`."""
        return _decide(self, services.fund_claim_decide, "claim", FundClaimSerializer)
