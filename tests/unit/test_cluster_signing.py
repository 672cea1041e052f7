"""Signed grants between cluster nodes: what is accepted, and everything that is not."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coachd.cluster.signing import (
    MAX_TOKEN_LENGTH,
    Grant,
    GrantRefused,
    Verifier,
    decode,
    issue,
    sign,
)
from coachd.core.modes import Mode

SECRET = b"a-cluster-secret-of-at-least-32-bytes!"
NOW = 1_800_000_000.0


def grant(**overrides: object) -> tuple[Grant, str]:
    args: dict[str, object] = {
        "secret": SECRET,
        "issuer": "pbx",
        "audience": "pbx2",
        "supervisor": "sup1",
        "endpoint": "PJSIP/2001",
        "agent": "1301",
        "mode": Mode.WHISPER,
        "modes": [Mode.MONITOR, Mode.WHISPER],
        "session_id": "abc123def456",
        "ttl": 15.0,
        "now": NOW,
    }
    args.update(overrides)
    return issue(**args)  # type: ignore[arg-type]


def verifier(node: str = "pbx2", now: float = NOW, **kw: object) -> Verifier:
    return Verifier(node=node, secret=SECRET, clock=lambda: now, **kw)  # type: ignore[arg-type]


def refusal(v: Verifier, token: str) -> str:
    with pytest.raises(GrantRefused) as info:
        v.verify(token)
    return info.value.reason


def test_a_grant_round_trips_and_is_accepted_once() -> None:
    issued, token = grant()
    v = verifier()
    assert v.verify(token) == issued
    assert issued.modes == frozenset({Mode.MONITOR, Mode.WHISPER})
    assert issued.expires == NOW + 15
    assert refusal(v, token) == "replayed"


def test_token_is_safe_in_a_sip_header_and_a_dialplan_argument() -> None:
    _, token = grant()
    assert token.startswith("v1.")
    assert token.isascii()
    assert not set(token) & set(",; \t\r\n\"'|()")
    assert len(token) < 512


def test_a_forged_token_signed_with_another_secret_is_refused() -> None:
    _, token = grant(secret=b"not-the-cluster-secret-but-as-long-as-it")
    assert refusal(verifier(), token) == "bad_signature"


def test_changing_any_claim_breaks_the_signature() -> None:
    _, token = grant()
    version, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["modes"] = ["barge", "monitor", "whisper"]
    claims["mode"] = "barge"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert refusal(verifier(), f"{version}.{forged}.{signature}") == "bad_signature"


def test_an_unsigned_token_is_refused() -> None:
    _, token = grant()
    version, payload, _ = token.split(".")
    assert refusal(verifier(), f"{version}.{payload}.") == "malformed"
    assert refusal(verifier(), f"{version}.{payload}") == "malformed"
    assert refusal(verifier(), payload) == "malformed"


def test_a_token_for_another_node_is_refused() -> None:
    _, token = grant(audience="pbx3")
    assert refusal(verifier("pbx2"), token) == "wrong_node"


def test_an_expired_token_is_refused() -> None:
    _, token = grant(ttl=5.0)
    assert refusal(verifier(now=NOW + 5), token) == "expired"
    assert verifier(now=NOW + 4.5).verify(token).agent == "1301"


def test_a_token_living_longer_than_the_verifier_allows_is_refused() -> None:
    _, token = grant(ttl=3600.0)
    assert refusal(verifier(max_ttl=60.0), token) == "expired"


def test_a_replayed_nonce_is_refused_even_in_another_token() -> None:
    _, first = grant(nonce="0123456789abcdef0123456789abcdef")
    _, second = grant(nonce="0123456789abcdef0123456789abcdef", session_id="other")
    v = verifier()
    v.verify(first)
    assert refusal(v, second) == "replayed"


def test_nonces_are_forgotten_once_their_tokens_expired() -> None:
    now = [NOW]
    v = Verifier(node="pbx2", secret=SECRET, clock=lambda: now[0])
    for i in range(5):
        v.verify(grant(nonce=f"{i:032x}")[1])
    assert v.remembered == 5
    now[0] = NOW + 20
    v.verify(grant(now=NOW + 20)[1])
    assert v.remembered == 1


def test_a_full_replay_cache_fails_closed() -> None:
    v = verifier(max_nonces=2)
    v.verify(grant()[1])
    v.verify(grant()[1])
    assert refusal(v, grant()[1]) == "replayed"


def test_the_requested_mode_must_be_granted() -> None:
    with pytest.raises(ValueError):
        grant(mode=Mode.BARGE)


def test_authentic_but_nonsensical_claims_are_refused() -> None:
    """Signed with the right secret (our own bug, or a stolen secret), still checked."""

    def signed(claims: dict[str, object]) -> str:
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        mac = hmac.new(SECRET, b"coachd-grant.v1." + payload.encode(), hashlib.sha256).digest()
        return f"v1.{payload}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"

    good, _ = grant()
    base = good.claims()
    assert decode(signed(base), SECRET) == good
    for bad in (
        {**base, "mode": "shout"},
        {**base, "modes": ["monitor"]},
        {**base, "modes": "whisper"},
        {**base, "exp": "soon"},
        {**base, "exp": True},
        {**base, "agent": "10/42"},
        {**base, "ep": "2001"},
        {**base, "nonce": "short"},
        {**base, "extra": 1},
        {k: v for k, v in base.items() if k != "sid"},
    ):
        with pytest.raises(GrantRefused) as info:
            decode(signed(bad), SECRET)
        assert info.value.reason == "malformed", bad


def test_oversized_tokens_are_refused_unread() -> None:
    assert refusal(verifier(), "v1." + "A" * MAX_TOKEN_LENGTH + ".AA") == "malformed"


def test_signing_needs_a_secret() -> None:
    good, _ = grant()
    with pytest.raises(ValueError):
        sign(good, b"")


@given(st.text(max_size=300))
def test_arbitrary_text_is_never_accepted(text: str) -> None:
    with pytest.raises(GrantRefused):
        verifier().verify(text)


@given(st.binary(min_size=1, max_size=40), st.integers(min_value=0, max_value=10_000))
def test_any_single_character_change_is_refused(junk: bytes, position: int) -> None:
    _, token = grant()
    i = position % len(token)
    replacement = "A" if token[i] != "A" else "B"
    tampered = token[:i] + replacement + token[i + 1 :]
    with pytest.raises(GrantRefused):
        decode(tampered, SECRET)
    # and a different secret never verifies the original
    if junk != SECRET:
        with pytest.raises(GrantRefused):
            decode(token, junk)


@given(
    supervisor=st.from_regex(r"\A[a-z][a-z0-9_.@-]{0,30}\Z"),
    agent=st.from_regex(r"\A[A-Za-z0-9_.-]{1,64}\Z"),
    modes=st.sets(st.sampled_from(list(Mode)), min_size=1),
    data=st.data(),
)
def test_every_valid_grant_round_trips(
    supervisor: str, agent: str, modes: set[Mode], data: st.DataObject
) -> None:
    mode = data.draw(st.sampled_from(sorted(modes, key=lambda m: m.value)))
    issued, token = grant(supervisor=supervisor, agent=agent, modes=modes, mode=mode)
    assert decode(token, SECRET) == issued
    assert not set(token) & set(", ;")
