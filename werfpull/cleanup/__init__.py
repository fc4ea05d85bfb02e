"""Cleanup: which stages no kept commit needs, planned and reviewed like a pull, then
deleted by digest; and host cleanup of local stores."""
