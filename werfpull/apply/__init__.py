"""Applying a plan: the copy engine (`transfer`) and its two directions, `pull` (registry
to destination) and `push` (local storage to registry)."""
