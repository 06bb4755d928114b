"""Validation of plainly valid JSON arguments without building DRF serializers.

``validation.validated_data`` returns what a serializer's ``validated_data`` would be, and
runs the serializer itself for any input that the plain-Python checkers do not accept, so
every error still comes from the serializer. ``fields`` contains the checkers, derived from
each serializer's declared fields.
"""
