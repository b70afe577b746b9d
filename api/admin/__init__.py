"""`gethory admin ...`: operator commands run where the server runs, on its own settings and
database (see `api.admin.cli`)."""
