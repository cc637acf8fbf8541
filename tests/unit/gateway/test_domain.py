"""The gateway's pure rules against independent computations and hand-worked examples."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from services.gateway.domain.degraded import confirm_from_snapshot
from services.gateway.domain.token_bucket import TokenBucket, retry_after_header
from services.gateway.domain.webhooks import backoff_s, next_status, sign, verify, verify_delivery


def test_bucket_admits_burst_then_refills_at_rate() -> None:
    bucket = TokenBucket.full(capacity=3, rate=2.0, now=0.0)
    assert [bucket.take(0.0)[0] for _ in range(4)] == [True, True, True, False]
    admitted, wait = bucket.take(0.0)
    assert not admitted and wait == 0.5  # (1 - 0) / 2 tokens per second
    assert bucket.take(0.5)[0] is True  # one token back after 0.5 s
    assert bucket.take(100.0)[0] and bucket.tokens == 2.0  # capped at capacity 3, minus the one taken


@given(st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=60))
def test_bucket_never_admits_more_than_capacity_plus_rate_times_elapsed(gaps: list[float]) -> None:
    capacity, rate = 5.0, 3.0
    bucket = TokenBucket.full(capacity, rate, 0.0)
    now, admitted = 0.0, 0
    for gap in gaps:
        now += gap
        admitted += bucket.take(now)[0]
        assert admitted <= capacity + rate * now + 1e-9


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    assert [retry_after_header(s) for s in (0.0, 0.2, 1.0, 1.01, 7.9)] == ["1", "1", "1", "2", "8"]


def test_confirm_hand_worked_example() -> None:
    # ATP 5 on day 10, 0 on day 11, 10 on day 14; 8 requested for day 12
    confirmed, unconfirmed = confirm_from_snapshot([(14, 10.0), (10, 5.0), (11, 0.0)], 8.0, 12)
    assert confirmed == [(12, 5.0), (14, 3.0)] and unconfirmed == 0.0


def test_negative_atp_is_not_confirmable() -> None:
    assert confirm_from_snapshot([(1, -4.0), (2, 3.0)], 5.0, 1) == ([(2, 3.0)], 2.0)


@given(
    st.lists(st.tuples(st.integers(0, 30), st.floats(-10, 50)), max_size=15),
    st.floats(0, 200),
    st.integers(0, 30),
)
def test_confirm_matches_a_plain_loop(buckets: list[tuple[int, float]], quantity: float, day: int) -> None:
    remaining, expected = quantity, {}
    for d, available in sorted(buckets):
        if remaining <= 0:
            break
        take = min(max(available, 0.0), remaining)
        if take > 0:
            expected[max(d, day)] = expected.get(max(d, day), 0.0) + take
            remaining -= take
    confirmed, unconfirmed = confirm_from_snapshot(buckets, quantity, day)
    assert confirmed == sorted(expected.items())
    assert abs(sum(q for _, q in confirmed) + unconfirmed - quantity) < 1e-6
    assert all(d >= day for d, _ in confirmed)


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"seq":1}'
    expected = "sha256=" + hmac.new(b"s3cret", b'1700000000.{"seq":1}', hashlib.sha256).hexdigest()
    assert sign("s3cret", 1700000000, body) == expected
    assert verify("s3cret", 1700000000, body, expected)
    assert not verify("s3cret", 1700000000, body + b" ", expected)
    assert not verify("other", 1700000000, body, expected)
    assert not verify("s3cret", 1700000001, body, expected)  # the timestamp is part of what is signed


def test_receiver_rejects_replayed_old_deliveries_and_restamped_ones() -> None:
    body = b'{"seq":7}'
    sent_at = 1_700_000_000
    signature = sign("k", sent_at, body)
    # fresh: accepted within the tolerance, either side (clock skew)
    assert verify_delivery("k", str(sent_at), body, signature, now_s=sent_at + 299)
    assert verify_delivery("k", str(sent_at), body, signature, now_s=sent_at - 299)
    # the same captured delivery replayed an hour later: its old timestamp is detected
    assert not verify_delivery("k", str(sent_at), body, signature, now_s=sent_at + 3600)
    # re-stamped with a fresh timestamp but the old signature: the signature no longer matches
    assert not verify_delivery("k", str(sent_at + 3600), body, signature, now_s=sent_at + 3600)
    # boundary and malformed headers
    assert verify_delivery("k", str(sent_at), body, signature, now_s=sent_at + 300)
    assert not verify_delivery("k", str(sent_at), body, signature, now_s=sent_at + 301)
    assert not verify_delivery("k", "", body, signature, now_s=sent_at)
    assert not verify_delivery("k", "-5", body, signature, now_s=sent_at)


def test_backoff_doubles_and_caps() -> None:
    assert [backoff_s(n, 1.0, 10.0) for n in range(0, 6)] == [0.0, 1.0, 2.0, 4.0, 8.0, 10.0]
    assert [next_status(n, 3) for n in (1, 2, 3, 4)] == ["pending", "pending", "dead", "dead"]
