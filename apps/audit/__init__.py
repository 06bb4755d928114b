"""The audit trail: who changed which tenancy row, when, from where, and how."""


def register(model, exclude: tuple[str, ...] = ()) -> None:
    """Record every create, update and delete of ``model``, leaving the ``exclude`` fields out of the values.

    Call it from an ``AppConfig.ready()``. Imported lazily so that this package can be
    imported before the app registry is ready.
    """
    from .recording import register as register_model

    register_model(model, exclude)
