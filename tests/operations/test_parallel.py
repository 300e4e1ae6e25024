"""The suite in parallel (tests/parallel.py): each pytest-xdist worker gets a Redis database of its own."""

from __future__ import annotations

import pytest

from tests.parallel import redis_url_for_worker


def test_worker_n_takes_the_nth_database_after_the_one_redis_url_names() -> None:
    assert redis_url_for_worker("redis://127.0.0.1:6379/1", 0) == "redis://127.0.0.1:6379/1"
    assert redis_url_for_worker("redis://127.0.0.1:6379/1", 1) == "redis://127.0.0.1:6379/2"
    assert redis_url_for_worker("redis://127.0.0.1:6379", 1) == "redis://127.0.0.1:6379/1"  # no database: 0
    assert redis_url_for_worker("rediss://:secret@cache.example:6380/6", 2) == "rediss://:secret@cache.example:6380/8"


def test_a_worker_past_redis_last_database_is_refused_with_what_to_do() -> None:
    with pytest.raises(RuntimeError, match=r"database 16 does not exist \(0-15\); give REDIS_URL a lower database"):
        redis_url_for_worker("redis://127.0.0.1:6379/15", 1)
