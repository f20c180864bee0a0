"""Who may use the explorer (an ASGI middleware in front of every route), as Jupyter decides it.

- **Host**: a request is answered only when its `Host` header names the address the server was
  started on, with its port: 127.0.0.1, localhost or [::1] (always), or the `--host` given. A page
  on another site that points its own name at 127.0.0.1 (DNS rebinding) sends its own name as the
  Host and is refused. A server on every address (`--host 0.0.0.0` or `::`) takes any name with its
  port: its token guards it.
- **Origin**: a request that can change something (any method but GET, HEAD and OPTIONS) is refused
  when its `Origin` is another site's (or `null`: a sandboxed frame or a file; or `https://` with this
  host and port: this server speaks plain http, so that page is another one), and when the browser
  says it comes from another site (`Sec-Fetch-Site: cross-site` or `same-site`; a page of
  127.0.0.1:3000 is the same *site* as 127.0.0.1:8765 but not the same origin). A request with
  neither header comes from a program (curl, Python), not from a page a person has open, and is
  served, as Jupyter serves it: browsers send `Origin` with every POST a page makes.
- **Token**: when the server listens beyond this machine's loopback (or `--token` asks for one),
  every request carries the token the startup line prints: in the URL (`?token=...`, which also
  sets a cookie for this server's port, so the page's own requests carry it), a cookie, or an
  `Authorization: token ...` header. Compared in constant time.

A refused request gets a 403 with one line (JSON `{"error": ...}` under /api/, plain text elsewhere)."""
from __future__ import annotations

import hmac
import ipaddress
import json
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs, urlsplit

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
ANY_ADDRESS = ("0.0.0.0", "::", "")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split_host(value: str) -> tuple[str, int | None]:
    """'name:port' (or '[v6]:port') -> (lowercase name without brackets or a final dot, port or None;
    -1 for a port that is not a number)."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif value.count(":") == 1:
        name, _, port = value.partition(":")
    else:
        name, port = value, None
    try:
        return name.rstrip("."), int(port) if port else None
    except ValueError:
        return name.rstrip("."), -1


class Guard:
    """The checks above, in front of `app`. `host`, `port`: where the server listens (port None:
    any port, for a server whose port is not known, as under a test client); `token`: the secret
    every request must carry, or None (a loopback server)."""

    def __init__(self, app, *, host: str = "127.0.0.1", port: int | None = None, token: str | None = None):
        self.app, self.port, self.token = app, port, token
        name = host.strip("[]").lower()
        self.any_name = name in ANY_ADDRESS
        self.names = set(LOOPBACK_NAMES) | {name.rstrip(".")}
        self.cookie = f"logitscope-explore-{port or 'token'}"

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refused = self.refusal(scope, headers)
        if refused:
            return await _refuse(scope, send, refused)
        if self.token and self._query_token(scope):      # the tokenised URL: remember the token for the page
            send = self._setting_cookie(send)
        return await self.app(scope, receive, send)

    def refusal(self, scope, headers: dict) -> str | None:
        """Why this request is refused (one line), or None."""
        host = headers.get("host", "")
        if not self._host_ok(*_split_host(host)):
            if self.any_name:                          # every address: only the port is checked here
                return (f"refused: this explorer listens on every address and answers any host name with port "
                        f"{self.port}, not Host '{host[:80]}'")
            return (f"refused: this explorer answers only as {self._where()}, not as Host '{host[:80]}' "
                    "(another name for this machine, as a page on another site would use)")
        if scope["method"] not in SAFE_METHODS:
            origin = headers.get("origin")
            if origin is not None and not self._same_origin(origin, host):
                return f"refused: a page at {origin[:80]} may not use this explorer (cross-origin request)"
            site = headers.get("sec-fetch-site")
            if site is not None and site not in ("same-origin", "none"):
                return f"refused: a request from another site ({site}) may not use this explorer"
        if self.token and not self._has_token(scope, headers):
            return "refused: this explorer needs its token: open the URL with ?token=... that probe explore printed"
        return None

    def _host_ok(self, name: str, port: int | None) -> bool:
        if not (self.any_name or name in self.names):
            return False
        return self.port is None or port == self.port or (port is None and self.port == 80)

    def _where(self) -> str:
        port = f":{self.port}" if self.port else ""
        names = sorted(self.names - {""})
        return " or ".join(f"{'[' + n + ']' if ':' in n else n}{port}" for n in names)

    @staticmethod
    def _same_origin(origin: str, host: str) -> bool:
        parts = urlsplit(origin)
        return parts.scheme == "http" and parts.netloc.lower() == host.strip().lower()

    def _query_token(self, scope) -> str | None:
        values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
        return values[0] if values else None

    def _has_token(self, scope, headers: dict) -> bool:
        offered = [self._query_token(scope)]
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() in ("token", "bearer"):
            offered.append(value.strip())
        if "cookie" in headers:
            jar = SimpleCookie()
            try:
                jar.load(headers["cookie"])
            except CookieError:                            # a malformed cookie header carries no token
                jar = SimpleCookie()
            if self.cookie in jar:
                offered.append(jar[self.cookie].value)
        want = self.token.encode("utf-8")
        return any(o is not None and hmac.compare_digest(o.encode("utf-8"), want) for o in offered)

    def _setting_cookie(self, send):
        value = f"{self.cookie}={self.token}; Path=/; HttpOnly; SameSite=Strict".encode("latin-1")

        async def wrapped(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": list(message.get("headers", [])) + [(b"set-cookie", value)]}
            await send(message)
        return wrapped


async def _refuse(scope, send, line: str) -> None:
    if scope["path"].startswith("/api/"):
        body, kind = json.dumps({"error": line}).encode("utf-8"), b"application/json"
    else:
        body, kind = (line + "\n").encode("utf-8"), b"text/plain; charset=utf-8"
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
