"""`werfpull push`: send the local stages the stages repository lacks."""

from werfpull.apply.push import push

__all__ = ["push"]
