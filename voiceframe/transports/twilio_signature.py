"""Twilio request signatures (``X-Twilio-Signature``), the algorithm Twilio documents.

Twilio signs every webhook and the WebSocket upgrade of a Media Stream: the full URL it requested
(scheme, host, path, query string), followed by each POST parameter's name and value sorted by name,
with no separators; HMAC-SHA1 of that string keyed with the account's Auth Token; base64. A GET (the
stream upgrade) has no parameters, so only the URL is signed.

Implemented here rather than taken from the ``twilio`` package: its validator is these few lines,
while the package pulls in ``requests``, ``PyJWT``, ``aiohttp`` and ``aiohttp-retry``.
``tests/transports/test_twilio_signature.py`` checks it against the examples Twilio publishes.

Like Twilio's own validators, a signature computed with or without the default port (443, 80) in the
URL is accepted: Twilio's signing side has not always been consistent about it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import SplitResult, urlsplit

__all__ = ["SIGNATURE_HEADER", "twilio_signature", "valid_twilio_signature"]

SIGNATURE_HEADER = "X-Twilio-Signature"

Params = Mapping[str, str] | Iterable[tuple[str, str]]


def _pairs(params: Params | None) -> list[tuple[str, str]]:
    if params is None:
        return []
    items = params.items() if isinstance(params, Mapping) else params
    # sorted by name, then value: a name sent twice (Digits=5678&Digits=1234) signs both, in order
    return sorted((str(k), str(v)) for k, v in items)


def twilio_signature(auth_token: str, url: str, params: Params | None = None) -> str:
    """The ``X-Twilio-Signature`` Twilio sends for a request to ``url`` with POST ``params``."""
    signed = url + "".join(name + value for name, value in _pairs(params))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _port_variants(url: str) -> list[str]:
    """``url`` as given, without its port, and with the scheme's default port."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default = 443 if parts.scheme in ("https", "wss") else 80
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    variants = [url]
    for netloc in (f"{prefix}{host}", f"{prefix}{host}:{default}"):
        variant = SplitResult(parts.scheme, netloc, parts.path, parts.query, parts.fragment).geturl()
        if variant not in variants:
            variants.append(variant)
    return variants


def valid_twilio_signature(
    auth_token: str, urls: str | Iterable[str], params: Params | None, signature: str | None
) -> bool:
    """Whether ``signature`` signs a request to one of ``urls`` with ``params``.

    ``urls``: the URL Twilio requested, or the candidates for it when a proxy hides it (``https``
    and ``http``, say). Every candidate is compared in constant time.
    """
    if not auth_token or not signature:
        return False
    pairs = _pairs(params)
    given = signature.strip().encode()
    valid = False
    for url in [urls] if isinstance(urls, str) else list(urls):
        for variant in _port_variants(url):
            expected = twilio_signature(auth_token, variant, pairs).encode()
            valid |= hmac.compare_digest(expected, given)
    return valid
