import base64

import pytest

from xinyong.core.settings import reset_settings
from xinyong.identifiers import vault
from xinyong.identifiers.vault import Vault

KEY = b"0123456789abcdef0123456789abcdef"


def test_round_trip_and_random_nonce():
    v = Vault(KEY)
    a, b = v.encrypt("11010519491231002X"), v.encrypt("11010519491231002X")
    assert a != b and a.startswith("v1:") and "11010519491231002X" not in a
    assert v.decrypt(a) == v.decrypt(b) == "11010519491231002X"
    assert v.decrypt(v.encrypt("")) == ""
    assert v.decrypt(v.encrypt("张三")) == "张三"


def test_tampering_is_detected():
    v = Vault(KEY)
    token = v.encrypt("11010519491231002X")
    blob = bytearray(base64.urlsafe_b64decode(token[3:]))
    for i in (0, 12, len(blob) - 1):  # nonce, ciphertext, tag
        forged = bytearray(blob)
        forged[i] ^= 1
        with pytest.raises(ValueError):
            v.decrypt("v1:" + base64.urlsafe_b64encode(bytes(forged)).decode())


@pytest.mark.parametrize("token", ["", "garbage", "v2:AAAA", "v1:!!!!", "v1:AAAA"])
def test_malformed_tokens(token):
    with pytest.raises(ValueError):
        Vault(KEY).decrypt(token)


def test_other_key_or_associated_data_cannot_decrypt():
    token = Vault(KEY).encrypt("secret", associated_data="subject:1")
    assert Vault(KEY).decrypt(token, associated_data="subject:1") == "secret"
    with pytest.raises(ValueError):
        Vault(KEY).decrypt(token, associated_data="subject:2")
    with pytest.raises(ValueError):
        Vault(KEY).decrypt(token)
    with pytest.raises(ValueError):
        Vault(b"another-master-key-of-enough-length").decrypt(token, associated_data="subject:1")


def test_lookup_hash_is_deterministic_normalised_and_keyed():
    v = Vault(KEY)
    h = v.lookup_hash("11010519491231002X")
    assert len(h) == 64 and int(h, 16) >= 0
    assert h == Vault(KEY).lookup_hash("11010519491231002X")
    assert h == v.lookup_hash("110105 19491231 002x") == v.lookup_hash("110105491231002")  # 15 -> 18 digits
    assert h != v.lookup_hash("110105194912310021")
    assert h != Vault(b"another-master-key-of-enough-length").lookup_hash("11010519491231002X")


def test_purposes_have_separate_keys():
    v = Vault(KEY)
    assert v.lookup_hash("ABC", purpose="uscc") != v.lookup_hash("ABC", purpose="org_code")
    assert v.lookup_hash("张 三", purpose="person_name") == v.lookup_hash("张三", purpose="person_name")
    assert v.lookup_hash("a-b", purpose="custom_thing") == v.lookup_hash("A-B", purpose="custom_thing")
    with pytest.raises(ValueError):
        v.lookup_hash("x", purpose="Bad Purpose")


def test_short_master_key_refused_and_repr_hides_keys():
    with pytest.raises(ValueError):
        Vault(b"short")
    assert "0123" not in repr(Vault(KEY))


def test_get_vault_follows_settings(monkeypatch):
    first = vault.get_vault()
    assert first is vault.get_vault()
    token = first.encrypt("x")
    monkeypatch.setenv("XINYONG_SECRET_KEY", "a-different-secret-key-for-this-test")
    reset_settings()
    second = vault.get_vault()
    assert second is not first
    with pytest.raises(ValueError):
        second.decrypt(token)
