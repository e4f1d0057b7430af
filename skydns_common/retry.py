"""The one backoff every retry in the stack uses (through tenacity)."""

from __future__ import annotations

from tenacity import wait_exponential, wait_random


def backoff(first: float, most: float, jitter: float = 0.2):
    """Exponential waits from ``first`` up to ``most`` seconds, plus up to
    ``jitter`` seconds of randomness so replicas do not retry in step."""
    return wait_exponential(multiplier=first, min=first, max=most) + wait_random(0, jitter)
