"""werfpull: share a stage build cache between build hosts through a container registry."""

__version__ = "0.1.0"
