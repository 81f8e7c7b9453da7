"""API for requests to the vendor: a partner's CRM opens and follows its own, the vendor's answers and moves them.

The portal's services (`request_open`, `request_message_add`, `request_transition`): the same SLA deadlines,
owner, audit, notices and status rules whatever the door.
"""

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from prm.api_base import ReadOnlyScopedViewSet, SyncFilterSet

from . import services
from .models import PartnerRequest, RequestCategory, RequestMessage, RequestStatus


class RequestMessageSerializer(serializers.ModelSerializer):
    has_attachment = serializers.SerializerMethodField()

    class Meta:
        model = RequestMessage
        fields = ["id", "from_vendor", "body", "has_attachment", "created_at"]
        read_only_fields = fields

    def get_has_attachment(self, obj) -> bool:
        return bool(obj.attachment)


class VendorRequestSerializer(serializers.ModelSerializer):
    messages = RequestMessageSerializer(many=True, read_only=True, help_text="The conversation, oldest first.")

    class Meta:
        model = PartnerRequest
        fields = [
            "id",
            "partner",
            "category",
            "subject",
            "status",
            "response_due_at",
            "resolution_due_at",
            "responded_at",
            "resolved_at",
            "messages",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class VendorRequestOpenSerializer(serializers.Serializer):
    category = serializers.ChoiceField(choices=RequestCategory.choices)
    subject = serializers.CharField(max_length=200)
    body = serializers.CharField(max_length=20_000, help_text="The first message.")


class VendorRequestMessageSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=20_000)


class VendorRequestStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=RequestStatus.choices)
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class VendorRequestFilter(SyncFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=RequestStatus.choices)
    category = django_filters.MultipleChoiceFilter(choices=RequestCategory.choices)

    class Meta:
        model = PartnerRequest
        fields = ["status", "category"]


class VendorRequestViewSet(mixins.CreateModelMixin, ReadOnlyScopedViewSet):
    """Requests to the vendor (technical help, pre-sales, commercial, disputes, MDF) with their conversation."""

    resource = "vendor_requests"
    serializer_class = VendorRequestSerializer
    filterset_class = VendorRequestFilter
    queryset = PartnerRequest.objects.all()

    def base_queryset(self):
        return PartnerRequest.objects.prefetch_related("messages")

    def _answer(self, request_obj, status=200):
        fresh = self.get_queryset().get(pk=request_obj.pk)
        self._etag_object = fresh
        return Response(self.get_serializer(fresh).data, status=status)

    @extend_schema(request=VendorRequestOpenSerializer, responses={201: VendorRequestSerializer})
    def create(self, request, *args, **kwargs):
        """Open a request (partner keys): the owner and the business-hours deadlines come from the vendor's SLA."""
        user = self.key_user(side="partner")
        incoming = VendorRequestOpenSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        opened = services.request_open(actor=user, **incoming.validated_data)
        return self._answer(opened, status=201)

    @extend_schema(request=VendorRequestMessageSerializer, responses=VendorRequestSerializer)
    @action(detail=True, methods=["post"])
    def messages(self, request, pk=None):
        """Add a message: the vendor's first answer counts as its response; a partner's reply reopens the request."""
        partner_request = self.get_object()
        user = self.key_user(side="vendor" if self.key_partner_id is None else "partner")
        incoming = VendorRequestMessageSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        services.request_message_add(actor=user, request=partner_request, body=incoming.validated_data["body"])
        return self._answer(partner_request)

    @extend_schema(request=VendorRequestStatusSerializer, responses=VendorRequestSerializer)
    @action(detail=True, methods=["post"])
    def status(self, request, pk=None):
        """Move the request as the portal's buttons do: the vendor runs the flow (waiting, resolved, closed), the
        partner confirms a resolution, reopens or closes (400 for a move its side may not make)."""
        partner_request = self.get_object()
        user = self.key_user(side="vendor" if self.key_partner_id is None else "partner")
        incoming = VendorRequestStatusSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        services.request_transition(actor=user, request=partner_request, **incoming.validated_data)
        return self._answer(partner_request)
