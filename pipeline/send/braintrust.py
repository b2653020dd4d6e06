"""Braintrust's hosts as its own SDKs find them: the app (login) and the API (OTLP, attachments).

The rules, from the Python SDK's source (braintrust 0.48: `env.py` `resolve_app_url`,
`resolve_org_name`; `api/auth.py` `AuthAPI.login` and `_select_organization`;
`otel/__init__.py`), which the Ruby and Go SDKs follow too:

- the login is `POST {BRAINTRUST_APP_URL}/api/apikey/login`, the app URL defaulting to
  `https://www.braintrust.dev`;
- the organization is the one named by `BRAINTRUST_ORG_NAME`, else the first the key sees;
  a name the key does not see is an error listing those it does;
- the API URL is `BRAINTRUST_API_URL`, else the chosen organization's `api_url` (a self-hosted
  or regional data plane), else `https://api.braintrust.dev`;
- OTLP goes to `{BRAINTRUST_API_URL or https://api.braintrust.dev}/otel/v1/traces`: the
  SDK's exporter does not log in, so it never takes the organization's URL.

Pure: no request is made here (`attachments` logs in).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pipeline.errors import ConfigError, UploadError

DEFAULT_APP_URL = "https://www.braintrust.dev"
DEFAULT_API_URL = "https://api.braintrust.dev"
_OTLP_SUFFIXES = ("/otel/v1/traces", "/otel")


def base_url(url: str, variable: str = "BRAINTRUST_API_URL") -> str:
    """A Braintrust URL as a base to build on: no trailing slash, and no `/otel` or
    `/otel/v1/traces` (the OTLP endpoint given for the API's base), so nothing is doubled.
    A query or fragment would follow every path built on it: refused, naming `variable`."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.hostname:
        raise ConfigError(f"{variable} {url!r}: expected a URL such as {DEFAULT_API_URL}")
    if parts.query or parts.fragment:
        raise ConfigError(
            f"{variable} has a query string or fragment: give the base URL only "
            f"(such as {DEFAULT_API_URL})"
        )
    path = parts.path.rstrip("/")
    for suffix in _OTLP_SUFFIXES:
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return urlunsplit(parts._replace(path=path))


def login_url(app_url: str) -> str:
    """Where an API key logs in: the app host, never the API's."""
    return base_url(app_url, "BRAINTRUST_APP_URL") + "/api/apikey/login"


def otlp_endpoint(api_url: str | None) -> str:
    """The OTLP endpoint (HTTP appends `/v1/traces`) of `BRAINTRUST_API_URL`, or Braintrust's."""
    return base_url(api_url or DEFAULT_API_URL) + "/otel"


@dataclass(frozen=True, slots=True)
class Org:
    """One organization of a login answer (`org_info`)."""

    id: str
    name: str
    api_url: str | None = None


@dataclass(frozen=True, slots=True)
class Login:
    """What a login settled: the organization, the API URL to use, and how many the key sees."""

    org: Org
    api_url: str
    orgs_seen: int


def _orgs(answer: Any) -> list[Org]:
    raw = answer.get("org_info") if isinstance(answer, Mapping) else None
    if not isinstance(raw, list):
        return []
    orgs = []
    for o in raw:
        if (
            isinstance(o, Mapping)
            and isinstance(o.get("id"), str)
            and isinstance(o.get("name"), str)
        ):
            url = o.get("api_url")
            orgs.append(Org(o["id"], o["name"], url if isinstance(url, str) and url else None))
    return orgs


def choose(answer: Any, org_name: str | None, api_url: str | None) -> Login:
    """The organization and API URL the SDKs would use, from a login answer.

    `org_name`: BRAINTRUST_ORG_NAME; `api_url`: BRAINTRUST_API_URL (both None when unset)."""
    orgs = _orgs(answer)
    if not orgs:
        raise UploadError("Braintrust's login answered no organization for this API key")
    chosen = orgs[0] if org_name is None else next((o for o in orgs if o.name == org_name), None)
    if chosen is None:
        names = ", ".join(o.name for o in orgs)
        raise ConfigError(
            f"BRAINTRUST_ORG_NAME {org_name!r} is not an organization this API key can see "
            f"({names}): set it to one of them, or unset it for the first"
        )
    url = base_url(api_url) if api_url else base_url(chosen.api_url or DEFAULT_API_URL, "api_url")
    return Login(chosen, url, len(orgs))
