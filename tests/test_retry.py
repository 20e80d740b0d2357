"""RetryPolicy: which responses are retried, backoff bounds, Retry-After and the budget."""

from __future__ import annotations

import dataclasses
import random

import pytest

from rudder_fast import ConfigError, RetryPolicy
from rudder_fast._retry import Decision


@pytest.mark.parametrize(
    ("status", "code", "decision"),
    [
        (None, "connection_error", Decision.RETRY),
        (None, "timeout", Decision.RETRY),
        (None, "tls_error", Decision.FAIL),
        (200, "", Decision.DONE),
        (400, "", Decision.FAIL),
        (401, "", Decision.FAIL),
        (404, "", Decision.FAIL),
        (408, "", Decision.RETRY),
        (413, "", Decision.SPLIT),
        (429, "", Decision.RETRY),
        (500, "", Decision.RETRY),
        (502, "", Decision.RETRY),
        (503, "", Decision.RETRY),
        (504, "", Decision.RETRY),
        (301, "", Decision.FAIL),
    ],
)
def test_decision_per_response(status: int | None, code: str, decision: Decision) -> None:
    """Each gateway response maps to retry, split, fail or done."""
    assert RetryPolicy().decide(status, code) is decision


def test_backoff_is_full_jitter_under_the_cap() -> None:
    """Waits are uniform between zero and min(cap, base * 2**n)."""
    policy = RetryPolicy(backoff_base_s=0.5, backoff_max_s=4.0)
    rng = random.Random(3)
    for retries_done in range(12):
        bound = min(4.0, 0.5 * 2**retries_done)
        waits = [policy.backoff_s(retries_done, None, rng) for _ in range(200)]
        assert all(0.0 <= wait <= bound for wait in waits)
        assert max(waits) > bound * 0.8


def test_retry_after_is_honoured_and_capped() -> None:
    """A Retry-After header wins over the backoff, up to retry_after_max_s."""
    policy = RetryPolicy(retry_after_max_s=30.0)
    rng = random.Random(0)
    assert policy.backoff_s(0, "7", rng) == 7.0
    assert policy.backoff_s(0, "3600", rng) == 30.0
    assert policy.backoff_s(0, "not a number", rng) <= policy.backoff_base_s


def test_budget_and_count_limit_retries() -> None:
    """Retries stop at max_retries, past the time budget, or after unreadable bodies."""
    policy = RetryPolicy(max_retries=3, budget_s=10.0, unreadable_body_retries=1)
    assert policy.may_retry(2, 0, 1.0, 1.0)
    assert not policy.may_retry(3, 0, 1.0, 1.0)
    assert not policy.may_retry(0, 0, 9.5, 1.0)
    assert policy.may_retry(0, 1, 0.0, 0.0)
    assert not policy.may_retry(0, 2, 0.0, 0.0)


def test_policy_is_frozen_and_replaceable() -> None:
    """Policies are immutable; derive variants with dataclasses.replace."""
    policy = RetryPolicy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.max_retries = 1  # type: ignore[misc]
    assert dataclasses.replace(policy, max_retries=1).max_retries == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_retries", -1, "max_retries must be an integer >= 0"),
        ("backoff_base_s", -0.1, "backoff_base_s must be a finite number of seconds >= 0"),
        ("budget_s", 0, "budget_s must be a finite number of seconds > 0"),
        ("backoff_max_s", 0.01, "backoff_max_s (0.01) must be >= backoff_base_s"),
        ("retry_after_max_s", float("inf"), "retry_after_max_s must be a finite number"),
    ],
)
def test_invalid_policy_names_the_field(field: str, value: object, message: str) -> None:
    """Invalid fields raise ConfigError naming the field and the rule."""
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RetryPolicy(**{field: value})  # type: ignore[arg-type]
