"""The REST API's shared parts: one error shape, role permissions, schema helpers and the /api/v1/ routes.

Endpoints live in their apps (``reporting/api.py``, ...) and are listed in ``urls.py``.
"""
