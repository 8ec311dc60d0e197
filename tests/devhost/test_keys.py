"""The stand-ins' key ring (devhost/keys.py): reused keys must never make a forged signature a valid one."""

import jwt
import pytest

from devhost.keys import RING_SIZE, KeyPair


def test_any_ring_size_key_pairs_in_a_row_hold_distinct_keys_under_distinct_kids():
    pairs = [KeyPair() for _ in range(RING_SIZE)]
    numbers = {pair.private.private_numbers().public_numbers.n for pair in pairs}
    assert len(numbers) == RING_SIZE
    assert len({pair.kid for pair in pairs}) == RING_SIZE


def test_a_key_pair_made_with_another_s_kid_cannot_sign_for_it():
    genuine = KeyPair()
    forger = KeyPair(kid=genuine.kid)
    token = forger.sign({"sub": "someone"})
    assert jwt.get_unverified_header(token)["kid"] == genuine.kid
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, genuine.private.public_key(), algorithms=["RS256"])
    assert jwt.decode(genuine.sign({"sub": "someone"}), genuine.private.public_key(), algorithms=["RS256"])["sub"]
