URL = "/api/v1/identifiers/validate"


def test_validates_several_codes(client):
    r = client.get(URL, params=[("code", "91350100M000100Y43"), ("code", "11010519491231002X"), ("code", "59467239-8")])
    assert r.status_code == 200
    data = r.json()
    assert [d["kind"] for d in data] == ["uscc", "resident_id", "org_code"]
    assert [d["valid"] for d in data] == [True, True, False]
    assert data[0]["details"]["region_name"] == "福建省福州市"
    assert data[2]["errors"][0]["code"] == "org_code_check_digit"


def test_resident_ids_are_masked(client):
    r = client.get(URL, params={"code": "11010519491231002X"})
    assert r.status_code == 200
    assert "11010519491231002X" not in r.text and "19491231" not in r.text and "1949-12-31" not in r.text
    assert r.json()[0]["input"] == "110105********002X" and r.json()[0]["masked"] is True


def test_allow_bad_check(client):
    strict = client.get(URL, params={"code": "91350211M00013FA1N"}).json()[0]
    tolerant = client.get(URL, params={"code": "91350211M00013FA1N", "allow_bad_check": "true"}).json()[0]
    assert strict["valid"] is False and tolerant["valid"] is True


def test_no_code_is_rejected(client):
    r = client.get(URL)
    assert r.status_code == 422 and r.json()["error"]["code"] == "no_code"


def test_too_many_codes_is_rejected(client):
    r = client.get(URL, params=[("code", "59467239-9")] * 101)
    assert r.status_code == 422 and r.json()["error"]["code"] == "too_many_codes"
    assert client.get(URL, params=[("code", "59467239-9")] * 100).status_code == 200


def test_too_long_code_is_rejected(client):
    r = client.get(URL, params=[("code", "59467239-9"), ("code", "9" * 65)])
    assert r.status_code == 422 and r.json()["error"]["code"] == "code_too_long"
    assert "9" * 65 not in r.text
    assert client.get(URL, params={"code": "9" * 64}).status_code == 200
