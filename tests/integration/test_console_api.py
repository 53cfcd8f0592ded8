"""The web console's JSON API (synqd --http, docs/tools.md "Web console"):
every action against a real synqd on loopback, the shapes `synq --json`
prints for the same command, the refusals (bad JSON, wrong method, cross
origin, huge bodies, tokens, Host), durability before the reply (kill -9,
and a failing fdatasync that must not be acknowledged), and the history the
charts draw."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import sqharness
from consoleclient import ConsoleServer, raw_request, request


def synq_json(port, *args):
    """What `synq --json ARGS` prints, each line parsed."""
    cli = os.path.join(os.environ["SQ_BIN_DIR"], "synq")
    out = subprocess.run([cli, "--json", "-p", str(port)] + list(args), check=True,
                         capture_output=True, timeout=10).stdout.decode()
    return [json.loads(line) for line in out.splitlines() if line.strip()]


class ConsoleCase(unittest.TestCase):
    EXTRA = ()

    def setUp(self):
        self.cs = ConsoleServer(self.EXTRA).start()
        self.addCleanup(self.cs.stop)

    def get(self, path, **kw):
        return request(self.cs.http, path, **kw)

    def post(self, path, body, **kw):
        return request(self.cs.http, path, body=body, **kw)

    def ok(self, reply):
        self.assertEqual(reply.status, 200, reply)
        return reply.json

    def proto(self):
        c = sqharness.Client(self.cs.port)
        self.addCleanup(c.close)
        return c


class Page(ConsoleCase):
    def test_page_is_compiled_in_and_self_contained(self):
        page = self.get("/")
        self.assertEqual(page.status, 200)
        self.assertTrue(page.headers["Content-Type"].startswith("text/html"))
        csp = page.headers["Content-Security-Policy"]
        self.assertIn("default-src 'none'", csp)
        self.assertIn("connect-src 'self'", csp)
        self.assertEqual(page.headers["X-Content-Type-Options"], "nosniff")
        html = page.raw.decode()
        files = {"/console.js": "text/javascript", "/console.css": "text/css",
                 "/favicon.svg": "image/svg+xml"}
        for path, ctype in files.items():
            self.assertIn('"%s"' % path, html)
            r = self.get(path)
            self.assertEqual(r.status, 200, path)
            self.assertTrue(r.headers["Content-Type"].startswith(ctype), path)
            text = r.raw.decode()
            # Nothing is fetched from elsewhere: no absolute URL but the SVG namespace.
            self.assertEqual(re.findall(r"https?://(?!www\.w3\.org/2000/svg)", text), [], path)
        self.assertEqual(re.findall(r"(?:src|href)=\"(?!/)", html), [])
        self.assertEqual(self.get("/", method="HEAD").raw, b"")
        self.assertEqual(self.get("/nope").status, 404)
        self.assertEqual(self.get("/metrics").status, 200)


class Actions(ConsoleCase):
    def test_put_text_binary_unique_and_read_back(self):
        self.assertEqual(self.ok(self.post("/api/put", {"tube": "mail", "body": "héllo <b>"})),
                         {"id": 1})
        self.assertEqual(self.ok(self.post("/api/put", {"tube": "mail", "body_hex": "00ff0a41"})),
                         {"id": 2})
        self.assertEqual(self.ok(self.post("/api/put", {"tube": "mail", "body": "k", "key": "o-7"})),
                         {"id": 3})
        self.assertEqual(self.ok(self.post("/api/put", {"tube": "mail", "body": "k", "key": "o-7"})),
                         {"id": 3, "exists": True})
        c = self.proto()
        c.send(b"peek 1\r\n")
        self.assertEqual(c.read_job("FOUND"), (1, "héllo <b>".encode()))
        c.send(b"peek 2\r\n")
        self.assertEqual(c.read_job("FOUND"), (2, b"\x00\xff\nA"))
        jobs = self.ok(self.get("/api/jobs?tube=mail&state=ready"))
        self.assertEqual([j["id"] for j in jobs], [1, 2, 3])
        self.assertEqual(jobs[0]["body"], "héllo <b>")
        self.assertFalse(jobs[0]["binary"])
        self.assertTrue(jobs[1]["binary"])
        self.assertEqual(jobs[1]["body_hex"], "00ff0a41")
        # The list-jobs figures are the CLI's `synq --json jobs` objects, plus the body.
        cli = synq_json(self.cs.port, "jobs", "mail")
        self.assertEqual([set(j) | {"body", "truncated", "binary", "body_hex"} for j in cli],
                         [set(j) | {"body_hex"} for j in jobs])
        job = self.ok(self.get("/api/job?id=2"))
        self.assertEqual((job["tube"], job["state"], job["size"]), ("mail", "ready", 4))
        self.assertEqual(set(job) - {"body", "size", "truncated", "binary", "body_hex"},
                         set(synq_json(self.cs.port, "stats-job", "2")[0]))

    def test_put_options_and_long_bodies_are_cut_in_listings(self):
        self.ok(self.post("/api/put", {"tube": "t", "body": "x" * 3000, "pri": 7, "delay": 100,
                                       "ttr": 9}))
        job = self.ok(self.get("/api/jobs?tube=t&state=delayed"))[0]
        self.assertEqual((job["pri"], job["size"], job["truncated"], len(job["body"])),
                         (7, 3000, True, 1024))
        full = self.ok(self.get("/api/job?id=1"))
        self.assertEqual((full["ttr"], full["body"], full["truncated"]), (9, "x" * 3000, False))

    def test_reads_do_not_count_themselves_as_clients(self):
        # No protocol client is connected: nobody uses or watches default, and the API's
        # own reads and changes must not show up as one.
        self.ok(self.post("/api/put", {"tube": "a", "body": "1"}))
        self.ok(self.post("/api/flush", {"tube": "a"}))
        default = self.ok(self.get("/api/tube?tube=default"))
        self.assertEqual((default["current-using"], default["current-watching"]), (0, 0))
        self.assertEqual([t["current-watching"] for t in self.ok(self.get("/api/tubes"))], [0])

    def test_tubes_and_stats_match_the_cli(self):
        self.ok(self.post("/api/put", {"tube": "a", "body": "1"}))
        tubes = self.ok(self.get("/api/tubes"))
        cli = synq_json(self.cs.port, "tubes")[0]
        self.assertEqual([t["name"] for t in tubes], [t["name"] for t in cli])
        self.assertEqual([set(t) for t in tubes], [set(t) for t in cli])
        self.assertEqual(tubes[1]["current-jobs-ready"], 1)
        self.assertEqual(set(self.ok(self.get("/api/stats"))), set(synq_json(self.cs.port, "stats")[0]))
        one = self.ok(self.get("/api/tube?tube=a"))
        self.assertEqual(one["total-jobs"], 1)
        self.assertEqual(self.get("/api/tube?tube=none").status, 404)
        info = self.ok(self.get("/api/tube-info?tube=a"))
        self.assertEqual(set(info), set(synq_json(self.cs.port, "tube-info", "a")[0]))
        summary = self.ok(self.get("/api/summary"))
        self.assertEqual(summary["stats"]["current-jobs-ready"], 1)
        self.assertIsNone(summary["log"])
        self.assertGreater(summary["memory"]["resident_bytes"], 0)
        self.assertEqual(summary["memory"]["job_bytes"], 1 + 152)

    def bury(self, tube, n):
        """n jobs put into tube and buried through the protocol; their ids."""
        c = self.proto()
        c.send(b"use %s\r\n" % tube.encode())
        c.read_line()
        c.send(b"watch %s\r\n" % tube.encode())
        c.read_line()
        ids = []
        for i in range(n):
            c.send(b"put 0 0 60 1\r\nb\r\n")
            ids.append(int(c.read_line().split()[1]))
            c.send(b"reserve-with-timeout 0\r\n")
            c.read_job("RESERVED")
            c.send(b"bury %d 0\r\n" % ids[-1])
            self.assertEqual(c.read_line(), b"BURIED\r\n")
        return ids

    def test_kick_kick_all_and_kick_job(self):
        ids = self.bury("k", 4)
        self.ok(self.post("/api/put", {"tube": "k", "body": "later", "delay": 300}))
        self.assertEqual(self.ok(self.post("/api/kick", {"tube": "k", "bound": 1})), {"kicked": 1})
        self.assertEqual(self.ok(self.post("/api/kick-job", {"id": ids[1]})),
                         {"id": ids[1], "kicked": 1})
        # kick all: every buried job, and the delayed one stays delayed.
        self.assertEqual(self.ok(self.post("/api/kick", {"tube": "k"})), {"kicked": 2})
        self.assertEqual(self.ok(self.post("/api/kick", {"tube": "k"})), {"kicked": 0})
        st = self.ok(self.get("/api/tube?tube=k"))
        self.assertEqual((st["current-jobs-ready"], st["current-jobs-delayed"]), (4, 1))
        self.assertEqual(self.post("/api/kick-job", {"id": ids[0]}).status, 404)

    def test_delete(self):
        ids = self.bury("d", 1)
        self.assertEqual(self.ok(self.post("/api/delete", {"id": ids[0]})),
                         {"id": ids[0], "deleted": True})
        gone = self.post("/api/delete", {"id": ids[0]})
        self.assertEqual((gone.status, gone.json["error"]), (404, "NOT_FOUND"))
        c = self.proto()
        c.send(b"peek %d\r\n" % ids[0])
        self.assertEqual(c.read_line(), b"NOT_FOUND\r\n")

    def test_flush_over_several_passes_and_move(self):
        c = self.proto()
        c.send(b"use f\r\n")
        c.read_line()
        n = 3000  # more than one 1024-job chunk: the reply waits for the last pass
        c.send(b"".join(b"put 0 0 60 1\r\nx\r\n" for _ in range(n)))
        for _ in range(n):
            c.read_line()
        self.assertEqual(self.ok(self.post("/api/flush", {"tube": "f", "state": "ready"})),
                         {"flushed": n})
        # A client that half-closes after its request still gets the reply of a flush that
        # runs over several passes.
        c.send(b"".join(b"put 0 0 60 1\r\nx\r\n" for _ in range(n)))
        for _ in range(n):
            c.read_line()
        body = b'{"tube": "f"}'
        out = raw_request(self.cs.http_port,
                          b"POST /api/flush HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                          b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
                          timeout=10, half_close=True)
        self.assertTrue(out.startswith(b"HTTP/1.1 200 "), out[:80])
        self.assertTrue(out.endswith(b'{"flushed": %d}\n' % n), out[-80:])
        self.assertEqual(self.ok(self.get("/api/tube?tube=default"))["current-jobs-ready"], 0)
        self.bury("m", 3)
        self.assertEqual(self.ok(self.post("/api/move", {"from": "m", "to": "dlq", "max": 2})),
                         {"moved": 2})
        self.assertEqual(self.ok(self.get("/api/tube?tube=dlq"))["current-jobs-buried"], 2)
        self.assertEqual(self.ok(self.post("/api/flush", {"tube": "m"})), {"flushed": 1})

    def test_pause_and_tube_set(self):
        self.ok(self.post("/api/put", {"tube": "p", "body": "x"}))
        self.assertEqual(self.ok(self.post("/api/pause", {"tube": "p", "delay": 30})),
                         {"tube": "p", "pause": 30})
        self.assertEqual(self.ok(self.get("/api/tube?tube=p"))["pause"], 30)
        self.assertEqual(self.ok(self.post("/api/tube-set", {"tube": "p", "name": "rate",
                                                             "value": 5})), {"set": True})
        self.assertEqual(self.ok(self.get("/api/tube-info?tube=p"))["rate"], 5)
        self.assertEqual(self.post("/api/tube-set", {"tube": "p", "name": "nope",
                                                     "value": 5}).status, 400)

    def test_drain_mode_refuses_puts_with_503(self):
        self.cs.srv.signal(signal.SIGUSR1)
        time.sleep(0.2)
        r = self.post("/api/put", {"body": "x"})
        self.assertEqual((r.status, r.json["error"]), (503, "DRAINING"))
        self.assertTrue(self.ok(self.get("/api/summary"))["stats"]["draining"])

    def test_history_counts_each_second(self):
        for _ in range(5):
            self.ok(self.post("/api/put", {"tube": "h", "body": "x"}))
        self.ok(self.post("/api/delete", {"id": 1}))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            h = self.ok(self.get("/api/history"))
            if sum(h["put"]) >= 5 and sum(h["delete"]) >= 1:
                break
            time.sleep(0.3)
        self.assertEqual((sum(h["put"]), sum(h["delete"])), (5, 1))
        self.assertEqual(h["interval_s"], 1)
        self.assertEqual(len(h["put"]), h["samples"])
        self.assertEqual(h["tubes"]["h"][-1], 4)
        self.assertLessEqual(h["samples"], 600)


class Refusals(ConsoleCase):
    def test_bad_json_and_bad_arguments_are_400(self):
        for raw in (b"{", b"[]", b"{\"body\": \"x\"} trailing", b"{\"a\": {\"b\": 1}}", b""):
            r = self.post("/api/put", None, raw_body=raw, headers={"Content-Type": "application/json"})
            self.assertEqual((r.status, r.json["error"]), (400, "bad-json"), raw)
        for body in ({"tube": "a b", "body": "x"}, {"tube": "x" * 201, "body": "x"},
                     {"tube": "-x", "body": "x"}, {"body": "x", "pri": -1},
                     {"body": "x", "pri": 2 ** 32}, {"body_hex": "abc"}, {},
                     {"body": "x", "body_hex": "00"}):
            self.assertEqual(self.post("/api/put", body).status, 400, body)
        self.assertEqual(self.post("/api/delete", {}).status, 400)
        self.assertEqual(self.post("/api/delete", {"id": "x"}).status, 400)
        self.assertEqual(self.get("/api/jobs?tube=a&state=sideways").status, 400)
        self.assertEqual(self.get("/api/jobs?tube=a&count=1001").status, 400)

    def test_wrong_method_is_405(self):
        for path in ("/api/put", "/api/kick", "/api/kick-job", "/api/delete", "/api/flush",
                     "/api/move", "/api/pause", "/api/tube-set"):
            r = self.get(path)
            self.assertEqual((r.status, r.headers["Allow"]), (405, "POST"), path)
        r = self.post("/api/tubes", {})
        self.assertEqual((r.status, r.headers["Allow"]), (405, "GET, HEAD"))
        self.assertEqual(self.post("/metrics", {}).status, 405)
        self.assertEqual(self.get("/api/nope").status, 404)

    def test_cross_origin_posts_are_403(self):
        host = "127.0.0.1:%d" % self.cs.http_port
        for hdrs in ({"Origin": "http://evil.example"}, {"Origin": "http://127.0.0.1:1"},
                     {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                     {"Origin": "http://" + host, "Sec-Fetch-Site": "cross-site"}):
            r = self.post("/api/put", {"body": "x"}, headers=hdrs)
            self.assertEqual((r.status, r.json["error"]), (403, "cross-origin"), hdrs)
        self.assertEqual(self.ok(self.get("/api/stats"))["current-jobs-ready"], 0)
        same = {"Origin": "http://" + host, "Sec-Fetch-Site": "same-origin"}
        self.assertEqual(self.ok(self.post("/api/put", {"body": "x"}, headers=same)), {"id": 1})

    def test_a_page_of_another_host_name_reads_nothing(self):
        # DNS rebinding: evil.example resolving to 127.0.0.1 sends its own Host.
        r = self.get("/api/stats", headers={"Host": "evil.example:%d" % self.cs.http_port})
        self.assertEqual((r.status, r.json["error"]), (403, "host"))
        self.assertEqual(self.get("/api/stats", headers={"Host": "localhost"}).status, 200)

    def test_non_json_content_type_is_415(self):
        r = self.post("/api/put", None, raw_body=b"body=x",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 415)

    def test_huge_body_is_413_before_it_is_read(self):
        head = (b"POST /api/put HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % (2 * 1024 * 1024))
        out = raw_request(self.cs.http_port, head)
        self.assertTrue(out.startswith(b"HTTP/1.1 413 "), out[:80])
        # Just under the limit is read (and refused for what it says).
        body = b"{\"body\": \"" + b"x" * (1024 * 1024 - 12) + b"\"}"
        self.assertEqual(len(body), 1024 * 1024)
        r = self.post("/api/put", None, raw_body=body, headers={"Content-Type": "application/json"})
        self.assertEqual((r.status, r.json["error"]), (413, "JOB_TOO_BIG"))

    def test_chunked_bodies_and_long_targets_are_refused(self):
        out = raw_request(self.cs.http_port,
                          b"POST /api/put HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked"
                          b"\r\nContent-Type: application/json\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 501 "), out[:80])
        out = raw_request(self.cs.http_port, b"GET /api/jobs?" + b"a" * 3000 + b" HTTP/1.1\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 414 "), out[:80])
        out = raw_request(self.cs.http_port, b"POST /api/put HTTP/1.1\r\nContent-Length: 2\r\n"
                                             b"Content-Length: 3\r\n\r\n{}")
        self.assertTrue(out.startswith(b"HTTP/1.1 400 "), out[:80])

    def test_body_that_never_arrives_times_out(self):
        with socket.create_connection(("127.0.0.1", self.cs.http_port), timeout=10) as s:
            s.sendall(b"POST /api/put HTTP/1.1\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 10\r\n\r\n{")
            t0 = time.monotonic()
            out = s.recv(4096)
            self.assertTrue(out.startswith(b"HTTP/1.1 408 "), out[:80])
            self.assertLess(time.monotonic() - t0, 8)


class Token(ConsoleCase):
    def setUp(self):
        d = tempfile.mkdtemp(prefix="synq-token-")
        self.addCleanup(shutil.rmtree, d, True)
        self.token = "s3cret-token-0123456789"
        path = os.path.join(d, "token")
        with open(path, "w") as f:
            f.write(self.token + "\n")
        self.EXTRA = ("--http-token-file", path)
        super().setUp()

    def test_api_needs_the_bearer_token(self):
        r = self.get("/api/stats")
        self.assertEqual((r.status, r.headers["WWW-Authenticate"]), (401, "Bearer"))
        self.assertEqual(self.get("/api/stats", headers={"Authorization": "Bearer nope"}).status, 401)
        self.assertEqual(self.post("/api/put", {"body": "x"}).status, 401)
        good = {"Authorization": "Bearer " + self.token}
        self.assertEqual(self.get("/api/stats", headers=good).status, 200)
        self.assertEqual(self.ok(self.post("/api/put", {"body": "x"}, headers=good)), {"id": 1})
        # The page and /metrics do not need it (they change nothing).
        self.assertEqual(self.get("/").status, 200)
        self.assertEqual(self.get("/metrics").status, 200)

    def test_a_short_token_file_is_refused_at_start(self):
        d = tempfile.mkdtemp(prefix="synq-token-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "short")
        with open(path, "w") as f:
            f.write("short\n")
        srv = sqharness.Server("synqd", ["--http", "0", "--http-token-file", path])
        with self.assertRaises(sqharness.ProtocolError) as cm:
            srv.start()
        self.assertIn("16 to", str(cm.exception))


class Addresses(unittest.TestCase):
    def start(self, spec, extra=()):
        from consoleclient import free_port
        port = free_port()
        srv = sqharness.Server("synqd", ["--http", spec % port] + list(extra))
        srv.start()
        self.addCleanup(srv.stop)
        return srv, "http://127.0.0.1:%d" % port

    def test_a_bare_port_is_loopback(self):
        srv, base = self.start("%d")
        self.assertEqual(request(base, "/api/stats").status, 200)
        with open("/proc/net/tcp") as f:
            listening = [l.split()[1] for l in f.read().splitlines()[1:] if l.split()[3] == "0A"]
        port_hex = base.rsplit(":", 1)[1]
        self.assertIn("0100007F:%04X" % int(port_hex), listening)

    def test_off_loopback_the_api_needs_a_token(self):
        srv, base = self.start("0.0.0.0:%d")
        r = request(base, "/api/stats")
        self.assertEqual((r.status, r.json["error"]), (403, "no-token"))
        self.assertEqual(request(base, "/api/put", body={"body": "x"}).status, 403)
        self.assertEqual(request(base, "/metrics").status, 200)
        self.assertEqual(request(base, "/").status, 200)
        self.assertIn("console's API is off", srv.log_text())
        d = tempfile.mkdtemp(prefix="synq-token-")
        self.addCleanup(shutil.rmtree, d, True)
        with open(os.path.join(d, "t"), "w") as f:
            f.write("0123456789abcdef\n")
        srv, base = self.start("0.0.0.0:%d", ["--http-token-file", os.path.join(d, "t")])
        r = request(base, "/api/stats", headers={"Authorization": "Bearer 0123456789abcdef"})
        self.assertEqual(r.status, 200)


class Durability(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="synq-console-log-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def test_an_acknowledged_put_survives_kill_9(self):
        cs = ConsoleServer(["-b", self.dir, "-f", "0"]).start()
        self.addCleanup(cs.stop)
        r = request(cs.http, "/api/put", body={"tube": "keep", "body": "durable"})
        self.assertEqual(r.json, {"id": 1})
        cs.srv.proc.kill()
        cs.srv.proc.wait(5)
        cs.stop()
        again = ConsoleServer(["-b", self.dir, "-f", "0"]).start()
        self.addCleanup(again.stop)
        jobs = request(again.http, "/api/jobs?tube=keep").json
        self.assertEqual([(j["id"], j["body"]) for j in jobs], [(1, "durable")])

    def test_a_put_the_log_could_not_sync_is_never_acknowledged(self):
        # The first fdatasync fails: the put's reply must not go out (the connection is reset),
        # exactly as a session's INSERTED would not.
        srv = sqharness.Server("synqd", [])
        port = ConsoleServer().http_port
        srv.extra_args = ["-b", self.dir, "-f", "0", "--http", "127.0.0.1:%d" % port]
        env = dict(os.environ, SYNQD_WAL_FAULT="fdatasync:1:EIO:sticky")
        old = os.environ.copy()
        os.environ.update(env)
        try:
            srv.start()
        finally:
            os.environ.clear()
            os.environ.update(old)
        self.addCleanup(srv.stop)
        base = "http://127.0.0.1:%d" % port
        try:
            r = request(base, "/api/put", body={"body": "x"})
            self.fail("a reply came for a put the log failed: %r" % r)
        except (ConnectionError, OSError) as e:
            self.assertNotIsInstance(e, TimeoutError)
        # Later changes are refused as the protocol refuses them.
        r = request(base, "/api/put", body={"body": "y"})
        self.assertEqual((r.status, r.json["error"]), (500, "INTERNAL_ERROR"))


if __name__ == "__main__":
    sqharness.main()
