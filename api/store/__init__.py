"""MongoDB storage: one collection wrapper per file, all on PyMongo's async API."""
