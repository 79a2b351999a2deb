"""X-Twilio-Signature against the examples Twilio publishes.

The values come from Twilio's "Webhooks security / Validating requests" documentation (Auth Token
``12345``, a POST to ``https://mycompany.com/myapp.php?foo=1&bar=2`` from a ``<Gather>``) and the
test vectors of Twilio's own Python helper library (``tests/unit/test_request_validator.py`` in
twilio/twilio-python: repeated parameters, the port rules).
"""

from __future__ import annotations

import pytest

from voiceframe.transports.twilio_signature import twilio_signature, valid_twilio_signature

TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_the_documented_example() -> None:
    assert twilio_signature(TOKEN, URL, PARAMS) == EXPECTED
    assert valid_twilio_signature(TOKEN, URL, PARAMS, EXPECTED)
    # the order the form fields arrive in does not matter: they are sorted by name
    assert valid_twilio_signature(TOKEN, URL, list(reversed(list(PARAMS.items()))), EXPECTED)


def test_a_repeated_parameter_signs_every_value() -> None:
    params = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    assert twilio_signature(TOKEN, URL, params) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


@pytest.mark.parametrize(
    ("url", "signature"),
    [
        pytest.param(URL.replace(".com", ".com:1234"), EXPECTED, id="https-port-removed"),
        pytest.param(
            URL.replace(".com", ".com:1234").replace("https", "http"),
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=",
            id="http-own-port",
        ),
        pytest.param(URL, "kvajT1Ptam85bY51eRf/AJRuM3w=", id="https-port-443-added"),
        pytest.param(URL.replace("https", "http"), "0ZXoZLH/DfblKGATFgpif+LLRf4=", id="http-port-80-added"),
    ],
)
def test_signed_with_or_without_the_port(url: str, signature: str) -> None:
    assert valid_twilio_signature(TOKEN, url, PARAMS, signature)


@pytest.mark.parametrize(
    ("token", "url", "params", "signature"),
    [
        pytest.param(TOKEN, URL, {**PARAMS, "Digits": "9999"}, EXPECTED, id="changed-parameter"),
        pytest.param(TOKEN, URL, {**PARAMS, "Extra": "1"}, EXPECTED, id="added-parameter"),
        pytest.param(TOKEN, URL.replace("foo=1", "foo=2"), PARAMS, EXPECTED, id="changed-query"),
        pytest.param(TOKEN, URL.replace("myapp", "other"), PARAMS, EXPECTED, id="other-path"),
        pytest.param("54321", URL, PARAMS, EXPECTED, id="other-auth-token"),
        pytest.param(TOKEN, URL, PARAMS, EXPECTED[:-2] + "A=", id="forged"),
        pytest.param(TOKEN, URL, PARAMS, "", id="empty"),
        pytest.param(TOKEN, URL, PARAMS, None, id="missing"),
        pytest.param("", URL, PARAMS, EXPECTED, id="no-auth-token"),
    ],
)
def test_anything_else_is_refused(
    token: str, url: str, params: dict[str, str], signature: str | None
) -> None:
    assert not valid_twilio_signature(token, url, params, signature)


def test_any_candidate_url_may_match() -> None:
    # behind a TLS proxy the server tries the URL with each scheme Twilio may have used
    candidates = [URL.replace("https", "http"), URL]
    assert valid_twilio_signature(TOKEN, candidates, PARAMS, EXPECTED)
    assert not valid_twilio_signature(TOKEN, candidates[:1], PARAMS, EXPECTED)
