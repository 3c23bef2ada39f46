"""`/device`: the page where a person approves a device-code sign-in (loom-api.md §1.3).

Loom's page asks a signed-in browser for the code. Locally nobody signs in to a browser, so the
form takes the key to approve with (the admin key or a user's own key) along with the code, and
the program that showed the code is signed in as that key's user. A cross-site page cannot post
the form: it must carry the token set with it in a `SameSite=Strict` cookie, and a foreign
`Origin` (or `Referer`) is refused. Answers are plain HTML that echo nothing typed.
"""
from __future__ import annotations

import hmac
import secrets
from html import escape
from typing import Any
from urllib.parse import parse_qsl, urlparse

from .. import errors as e
from ..base import LocalHandler, error_body

XSRF_COOKIE = "loom_device_xsrf"
_FORM_TYPE = "application/x-www-form-urlencoded"
_STYLE = ("body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}"
          "label{display:block;margin:1rem 0 .25rem}input{width:100%;padding:.4rem;"
          "font-size:1rem;box-sizing:border-box}button{margin-top:1.25rem;padding:.5rem 1.5rem;"
          "font-size:1rem}p.hint{color:#555;font-size:.9rem}")


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)} - Loom (local)</title><style>{_STYLE}</style></head>"
            f"<body><h1>{escape(title)}</h1>{body}</body></html>")


def _form(token: str) -> str:
    return (
        "<p>A program is asking to sign in to this Loom as you. Approve it only if you started "
        "it and it shows the same code.</p>"
        "<form method=\"post\">"
        f"<input type=\"hidden\" name=\"_xsrf\" value=\"{escape(token)}\">"
        "<label for=\"user_code\">Code</label>"
        "<input id=\"user_code\" name=\"user_code\" placeholder=\"123-456-789\" required "
        "autocomplete=\"off\" autofocus>"
        "<label for=\"key\">Your key</label>"
        "<input id=\"key\" name=\"key\" type=\"password\" required autocomplete=\"off\">"
        "<p class=\"hint\">The admin key (the file <code>admin.key</code> in the server's data "
        "directory) or your own <code>lk_</code> key. The program is signed in as its user.</p>"
        "<button type=\"submit\">Approve</button></form>")


class DevicePageHandler(LocalHandler):
    auth_required = False  # the form carries the key; a bearer header is not looked at

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline';"
                        " form-action 'self'; frame-ancestors 'none'")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        status, body = error_body(status_code, kwargs.get("exc_info", (None, None, None))[1])
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(_page("Not approved", f"<p>{escape(body['message'])}</p>"
                                          "<p><a href=\"device\">Try again</a></p>"))

    def get(self) -> None:
        token = secrets.token_urlsafe(32)
        self.set_cookie(XSRF_COOKIE, token, path="/device", httponly=True, samesite="Strict")
        self.finish(_page("Approve a sign-in", _form(token)))

    def post(self) -> None:
        self._require_same_site()
        form = self._form_fields()
        self._require_form_token(form.get("_xsrf", ""))
        principal = self.state.auth.authenticate_bearer(form.get("key", "").strip())
        if principal is None:
            raise e.NotAuthenticated("That key is not valid here: use the admin key or your own")
        self.state.devices.approve(principal.user_id, form.get("user_code"))
        self.finish(_page("Approved", f"<p>The program is signed in as "
                                      f"{escape(principal.display_name)}. You can close this page."
                                      "</p>"))

    def _require_same_site(self) -> None:
        source = self.request.headers.get("Origin") or self.request.headers.get("Referer")
        if source and urlparse(source).netloc != self.request.host:
            raise e.NotAllowed("This form can only be sent from its own page")

    def _require_form_token(self, sent: str) -> None:
        expected = self.get_cookie(XSRF_COOKIE) or ""
        if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
            raise e.NotAllowed("The form has expired: reload the page and try again")

    def _form_fields(self) -> dict[str, str]:
        if self._too_large:
            raise self._payload_too_large()
        ctype = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != _FORM_TYPE:
            raise e.UnsupportedMediaType(f"Expected a form ({_FORM_TYPE})")
        try:
            return dict(parse_qsl(bytes(self._body).decode("utf-8"), keep_blank_values=True))
        except (UnicodeDecodeError, ValueError):
            raise e.InvalidRequest("The form is not valid UTF-8") from None


ROUTES = [(r"/device", DevicePageHandler)]

_HTML = {"text/html": {"schema": {"type": "string"}}}


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": _HTML}


_FIELDS = {"type": "object", "required": ["user_code", "key", "_xsrf"], "properties": {
    "user_code": {"type": "string"}, "key": {"type": "string"}, "_xsrf": {"type": "string"}}}

OPENAPI_PATHS = {"/device": {
    "get": {"summary": "The page where a person approves a device-code sign-in (HTML form)",
            "tags": ["auth"], "security": [], "responses": {"200": _html("The form")}},
    "post": {"summary": "Approve a code with a key: the form of the page above (same-site only)",
             "tags": ["auth"], "security": [],
             "requestBody": {"required": True, "content": {_FORM_TYPE: {"schema": _FIELDS}}},
             "responses": {"200": _html("Approved"), **{
                 str(s): _html(r) for s, r in ((400, "Bad code or form"), (401, "Bad key"),
                                               (403, "Cross-site post or stale form"),
                                               (413, "Too large"), (415, "Not a form"))}}},
}}
