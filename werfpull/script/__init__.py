"""Rendering a plan into a standalone POSIX sh pull script (`render` and templates/)."""
