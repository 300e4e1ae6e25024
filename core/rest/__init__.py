"""What every app's REST endpoints share: permissions by role, pagination, schema helpers, error mapping."""
