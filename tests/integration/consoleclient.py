"""Helpers for the web console's tests: a synqd started with --http on a free
loopback port, and a small HTTP client (urllib, standard library only) that
returns (status, headers, parsed JSON or bytes) instead of raising on 4xx/5xx."""

import json
import socket
import urllib.error
import urllib.request

import sqharness


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ConsoleServer:
    """synqd with --http; `http` is its console's base URL."""

    def __init__(self, extra_args=()):
        self.http_port = free_port()
        self.srv = sqharness.Server("synqd", ["--http", "127.0.0.1:%d" % self.http_port]
                                    + list(extra_args))

    def start(self):
        self.srv.start()
        self.http = "http://127.0.0.1:%d" % self.http_port
        return self

    @property
    def port(self):
        return self.srv.port

    def stop(self):
        return self.srv.stop()


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.raw = body
        ctype = headers.get("Content-Type", "")
        self.json = json.loads(body) if ctype.startswith("application/json") and body else None

    def __repr__(self):
        return "Reply(%d, %r)" % (self.status, self.raw[:300])


def request(base, path, body=None, method=None, headers=None, raw_body=None, timeout=10):
    """One request; body (a dict) is sent as JSON with POST."""
    hdrs = dict(headers or {})
    data = raw_body
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(base + path, data=data, headers=hdrs,
                                 method=method or ("POST" if data is not None else "GET"))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Reply(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        with e:
            return Reply(e.code, e.headers, e.read())


def raw_request(port, data, timeout=5, half_close=False):
    """Sends data as is (then half-closes, with half_close) and returns every
    byte until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk
