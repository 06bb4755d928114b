"""The admin API for keys: list, create, rotate, revoke. Only keys with the admin grant may call it."""

import logging

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api.errors import Conflict, InvalidInput, ResourceNotFound
from apps.api.permissions import AdminGrantPermission
from apps.audit.context import acting_as, api_key_actor
from apps.audit.source import source_address
from apps.tenancy.keys import KeyNotRotatable, create_api_key, rotate_api_key
from apps.tenancy.models import ApiKey, IpAllowlistEntry, Namespace

from .serializers import ApiKeySerializer, CreateKeySerializer, RotateKeySerializer

logger = logging.getLogger(__name__)

MAX_LIST_LIMIT = 1000


class AdminApiView(APIView):
    """Base view: admin grant required, and every change recorded with the calling key as actor."""

    permission_classes = [AdminGrantPermission]

    def dispatch(self, request, *args, **kwargs):
        # The actor is looked up when a change is recorded, after DRF has authenticated the key.
        def actor():
            key = getattr(request, "auth", None)
            return api_key_actor(key.prefix if key is not None else "unknown", source_address(request))

        with acting_as(actor):
            return super().dispatch(request, *args, **kwargs)


def _keys():
    return ApiKey.objects.select_related("quota_policy", "rotated_from").prefetch_related(
        "grants__namespace", "allowlist"
    )


def _get_key(prefix: str) -> ApiKey:
    api_key = _keys().filter(prefix=prefix).first()
    if api_key is None:
        raise ResourceNotFound(_("No API key has the prefix '%(prefix)s'.") % {"prefix": prefix}, code="key_not_found")
    return api_key


def _parse_int(request, name: str, default: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= maximum:
        raise InvalidInput(
            _("Invalid '%(name)s': use an integer from 0 to %(maximum)d.") % {"name": name, "maximum": maximum}
        )
    return value


TAGS = ["admin"]


class KeyListView(AdminApiView):
    @extend_schema(
        operation_id="admin_keys_list",
        tags=TAGS,
        parameters=[
            OpenApiParameter("limit", int, description="Keys per page, 0 to 1000. Default 100."),
            OpenApiParameter("offset", int, description="Keys to skip. Default 0."),
        ],
        responses=ApiKeySerializer(many=True),
    )
    def get(self, request):
        limit = _parse_int(request, "limit", 100, MAX_LIST_LIMIT)
        offset = _parse_int(request, "offset", 0, 10**9)
        keys = _keys().order_by("-created_at", "-id")
        return Response(
            {
                "count": keys.count(),
                "keys": ApiKeySerializer(keys[offset : offset + limit], many=True).data,
            }
        )

    @extend_schema(
        operation_id="admin_keys_create", tags=TAGS, request=CreateKeySerializer, responses={201: ApiKeySerializer}
    )
    def post(self, request):
        serializer = CreateKeySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        grants = {namespace: set(permissions) for namespace, permissions in data["grants"].items()}
        missing = sorted(set(grants) - set(Namespace.objects.filter(name__in=grants).values_list("name", flat=True)))
        if missing:
            raise InvalidInput(
                _("Invalid 'grants': no namespace named %(names)s. Create it in the admin first.")
                % {"names": ", ".join(missing)},
                code="namespace_not_found",
            )
        with transaction.atomic():
            new_key = create_api_key(data["name"], grants, expires_at=data["expires_at"], is_admin=data["is_admin"])
            api_key = new_key.api_key
            if data["quota_policy"] is not None:
                api_key.quota_policy = data["quota_policy"]
                api_key.save(update_fields=["quota_policy"])
            for network in dict.fromkeys(data["networks"]):
                IpAllowlistEntry.objects.create(api_key=api_key, network=network)
        body = {"key": ApiKeySerializer(_get_key(api_key.prefix)).data, "plain_key": new_key.plain_key}
        return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})


class KeyDetailView(AdminApiView):
    @extend_schema(operation_id="admin_keys_retrieve", tags=TAGS, responses=ApiKeySerializer)
    def get(self, request, prefix: str):
        return Response({"key": ApiKeySerializer(_get_key(prefix)).data})


class KeyRotateView(AdminApiView):
    @extend_schema(
        operation_id="admin_keys_rotate", tags=TAGS, request=RotateKeySerializer, responses={201: ApiKeySerializer}
    )
    def post(self, request, prefix: str):
        api_key = _get_key(prefix)
        serializer = RotateKeySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            new_key = rotate_api_key(api_key, serializer.validated_data["overlap_s"])
        except KeyNotRotatable as exc:
            raise Conflict(
                _("API key '%(prefix)s' is revoked and cannot be rotated.") % {"prefix": prefix}, code="key_revoked"
            ) from exc
        body = {
            "key": ApiKeySerializer(_get_key(new_key.api_key.prefix)).data,
            "plain_key": new_key.plain_key,
            "old_key": ApiKeySerializer(_get_key(prefix)).data,
        }
        return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})


class KeyRevokeView(AdminApiView):
    @extend_schema(operation_id="admin_keys_revoke", tags=TAGS, request=None, responses=ApiKeySerializer)
    def post(self, request, prefix: str):
        api_key = _get_key(prefix)
        if api_key.revoked_at is None:
            api_key.revoked_at = timezone.now()
            api_key.save(update_fields=["revoked_at"])
            logger.info("API key %s revoked through the admin API by %s", prefix, request.auth.prefix)
        return Response({"key": ApiKeySerializer(_get_key(prefix)).data})
