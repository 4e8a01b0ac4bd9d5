#!/usr/bin/env python3
"""A Docker registry token server for drover's test environment.

Standard library only; tokens are signed (RS256) by `openssl dgst`. It speaks
the token protocol that distribution's `auth: token` registries point
clients at (https://distribution.github.io/distribution/spec/auth/token/):

  GET /token?service=SERVICE&scope=repository:NAME:ACTIONS[&scope=...]
      optional HTTP Basic credentials
  -> 200 {"token": JWT, "access_token": JWT, "expires_in": 300, "issued_at": ...}
  -> 401 when Basic credentials are present but wrong

Policy (the registry enforces it by what the token grants):
  - anonymous: `pull` on repositories under an --anonymous-pull prefix;
  - a --user: `pull` and `push` on every repository;
  - anything else: a token with an empty access list, which the registry
    answers with 401 UNAUTHORIZED.

The JWT header carries `x5c` (the signing certificate, base64 DER); the
registry verifies it against its `rootcertbundle`, which holds that same
self-signed certificate. Claims: iss, sub, aud (the service), exp, nbf, iat,
jti, access [{type, name, actions}].

GET /healthz answers one line naming the service, issuer, and the SHA-256 of
the certificate file and of this script, so scripts/testenv/up can tell a
current server from a stale one.

Usage:
  token-server.py --listen 127.0.0.1:5580 --key KEY.pem --cert CERT.pem \\
      --service SERVICE --issuer ISSUER [--user NAME:PASSWORD]... \\
      [--anonymous-pull PREFIX]...
"""

import argparse
import base64
import binascii
import datetime
import hashlib
import http.server
import json
import secrets
import subprocess
import sys
import time
import urllib.parse

TOKEN_TTL = 300  # seconds
KNOWN_ACTIONS = ("pull", "push")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pem_to_der_b64(pem_text):
    """The first certificate of a PEM file, as standard base64 of its DER (x5c form)."""
    lines, inside = [], False
    for line in pem_text.splitlines():
        line = line.strip()
        if line == "-----BEGIN CERTIFICATE-----":
            inside = True
        elif line == "-----END CERTIFICATE-----":
            break
        elif inside:
            lines.append(line)
    if not lines:
        raise ValueError("no certificate in PEM file")
    der = base64.b64decode("".join(lines), validate=True)
    return base64.b64encode(der).decode("ascii")


def sha256_file(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def parse_scopes(values):
    """`type:name:actions` items (several per parameter, space-separated, are allowed).

    The name may itself contain ':' (a registry host with a port), so the type is
    everything before the first ':' and the actions everything after the last.
    """
    out = []
    for value in values:
        for item in value.split():
            typ, sep1, rest = item.partition(":")
            name, sep2, actions = rest.rpartition(":")
            if not sep1 or not sep2 or not typ or not name:
                raise ValueError(f"malformed scope {item!r}")
            typ = typ.split("(", 1)[0]  # "repository(plugin)" -> "repository"
            out.append((typ, name, [a for a in actions.split(",") if a]))
    return out


class Policy:
    def __init__(self, users, anonymous_prefixes):
        self.users = users  # name -> password
        self.anonymous_prefixes = anonymous_prefixes

    def authenticate(self, header):
        """-> (subject, error). Subject "" is anonymous; error is set for bad credentials."""
        if header is None:
            return "", None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None, "unsupported authorization scheme"
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None, "malformed basic credentials"
        user, sep, password = decoded.partition(":")
        want = self.users.get(user)
        if not sep or want is None or not secrets.compare_digest(want, password):
            return None, "incorrect username or password"
        return user, None

    def grant(self, subject, typ, name, actions):
        if typ != "repository":
            return []
        if subject:
            allowed = KNOWN_ACTIONS
        elif any(name.startswith(p) for p in self.anonymous_prefixes):
            allowed = ("pull",)
        else:
            allowed = ()
        # "*" asks for everything the subject may do.
        wanted = allowed if "*" in actions else actions
        return [a for a in wanted if a in allowed]


class Signer:
    def __init__(self, key_path, cert_path):
        self.key_path = key_path
        with open(cert_path, encoding="ascii") as fh:
            self.x5c = [pem_to_der_b64(fh.read())]

    def sign(self, claims):
        header = {"typ": "JWT", "alg": "RS256", "x5c": self.x5c}
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        proc = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", self.key_path],
            input=signing_input.encode("ascii"),
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0 or not proc.stdout:
            raise RuntimeError(f"openssl dgst -sign failed: {proc.stderr.decode(errors='replace').strip()}")
        return signing_input + "." + b64url(proc.stdout)


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "drover-testenv-token/1"
    protocol_version = "HTTP/1.1"

    # Set on the class by main().
    policy = None
    signer = None
    service = None
    issuer = None
    health = None

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"), self.client_address[0], fmt % args))

    def reply(self, code, body, content_type="application/json", headers=()):
        data = body if isinstance(body, bytes) else body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def error(self, code, errcode, message, headers=()):
        body = json.dumps({"errors": [{"code": errcode, "message": message}], "details": message})
        self.reply(code, body + "\n", headers=headers)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/healthz":
            self.reply(200, self.health + "\n", content_type="text/plain; charset=utf-8")
            return
        if url.path != "/token":
            self.error(404, "NOT_FOUND", "no such endpoint (try /token)")
            return
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        service = query.get("service", [self.service])[0]
        if service != self.service:
            self.error(400, "UNSUPPORTED", f"unknown service {service!r} (this server issues tokens for {self.service!r})")
            return
        try:
            scopes = parse_scopes(query.get("scope", []))
        except ValueError as e:
            self.error(400, "INVALID_SCOPE", str(e))
            return

        subject, problem = self.policy.authenticate(self.headers.get("Authorization"))
        if problem is not None:
            self.log_message("refused: %s", problem)
            self.error(401, "UNAUTHORIZED", problem,
                       headers=[("WWW-Authenticate", f'Basic realm="{self.issuer}"')])
            return

        access = []
        for typ, name, actions in scopes:
            granted = self.policy.grant(subject, typ, name, actions)
            access.append({"type": typ, "name": name, "actions": granted})
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + TOKEN_TTL,
            "nbf": now,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        try:
            token = self.signer.sign(claims)
        except RuntimeError as e:
            self.error(500, "UNKNOWN", str(e))
            return
        issued = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.log_message(
            "token for %s: %s",
            subject or "(anonymous)",
            ", ".join(f"{a['type']}:{a['name']}:{','.join(a['actions']) or '-'}" for a in access) or "no scope",
        )
        self.reply(200, json.dumps({
            "token": token,
            "access_token": token,
            "expires_in": TOKEN_TTL,
            "issued_at": issued,
        }) + "\n")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops connections when test binaries pull in parallel


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--listen", default="127.0.0.1:5580", help="HOST:PORT")
    ap.add_argument("--key", required=True, help="RSA private key (PEM)")
    ap.add_argument("--cert", required=True, help="certificate of that key (PEM), sent as x5c")
    ap.add_argument("--service", required=True, help="the registry's service name (token audience)")
    ap.add_argument("--issuer", required=True, help="token issuer, as the registry's config names it")
    ap.add_argument("--user", action="append", default=[], metavar="NAME:PASSWORD",
                    help="a user granted pull and push everywhere (repeatable)")
    ap.add_argument("--anonymous-pull", action="append", default=[], metavar="PREFIX",
                    help="repositories whose name starts with PREFIX are anonymously pullable (repeatable)")
    args = ap.parse_args()

    users = {}
    for spec in args.user:
        name, sep, password = spec.partition(":")
        if not sep or not name:
            ap.error(f"--user wants NAME:PASSWORD, got {spec!r}")
        users[name] = password
    host, sep, port = args.listen.rpartition(":")
    if not sep or not port.isdigit():
        ap.error(f"--listen wants HOST:PORT, got {args.listen!r}")

    Handler.policy = Policy(users, args.anonymous_pull)
    Handler.signer = Signer(args.key, args.cert)
    Handler.service = args.service
    Handler.issuer = args.issuer
    Handler.health = (
        f"drover-testenv-token-server service={args.service} issuer={args.issuer}"
        f" cert={sha256_file(args.cert)} script={sha256_file(__file__)}"
    )
    # Sign once now: a key or openssl problem shows at startup, not at the first pull.
    Handler.signer.sign({"probe": True})

    httpd = Server((host, int(port)), Handler)
    sys.stderr.write(f"token server on {args.listen}: service {args.service}, issuer {args.issuer}, "
                     f"users {sorted(users)}, anonymous pull under {args.anonymous_pull}\n")
    sys.stderr.flush()
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
