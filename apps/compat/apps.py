from django.apps import AppConfig


class CompatConfig(AppConfig):
    name = "apps.compat"
    verbose_name = "Upstash-compatible REST API"
