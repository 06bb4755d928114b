from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from apps.tenancy.models import ApiKey, QuotaPolicy, normalize_network
from apps.tenancy.permissions import Permission


class ApiKeySerializer(serializers.ModelSerializer):
    """An API key as the admin API lists it: never the plain key or its digest."""

    state = serializers.SerializerMethodField()
    grants = serializers.SerializerMethodField()
    networks = serializers.SerializerMethodField()
    quota_policy = serializers.SlugRelatedField(slug_field="name", read_only=True)
    rotated_from = serializers.SlugRelatedField(slug_field="prefix", read_only=True)

    class Meta:
        model = ApiKey
        fields = [
            "prefix",
            "name",
            "state",
            "is_admin",
            "grants",
            "networks",
            "quota_policy",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
            "last_used_ip",
            "rotated_from",
        ]

    def get_state(self, api_key: ApiKey) -> str:
        return api_key.state()

    def get_grants(self, api_key: ApiKey) -> dict[str, list[str]]:
        return {
            grant.namespace.name: [
                permission.value
                for permission, allowed in ((Permission.READ, grant.can_read), (Permission.WRITE, grant.can_write))
                if allowed
            ]
            for grant in api_key.grants.all()
        }

    def get_networks(self, api_key: ApiKey) -> list[str]:
        return [entry.network for entry in api_key.allowlist.all()]


class NetworkField(serializers.CharField):
    def to_internal_value(self, data) -> str:
        text = super().to_internal_value(data)
        try:
            return normalize_network(text)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc


class CreateKeySerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    grants = serializers.DictField(
        child=serializers.ListField(child=serializers.ChoiceField(choices=[p.value for p in Permission])),
        help_text=_('Namespace name -> permissions, e.g. {"shop": ["read", "write"]}.'),
    )
    is_admin = serializers.BooleanField(default=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    quota_policy = serializers.SlugRelatedField(
        slug_field="name", queryset=QuotaPolicy.objects.all(), required=False, allow_null=True, default=None
    )
    networks = serializers.ListField(child=NetworkField(), required=False, default=list, max_length=100)


class RotateKeySerializer(serializers.Serializer):
    overlap_s = serializers.IntegerField(min_value=0, max_value=90 * 24 * 3600)
