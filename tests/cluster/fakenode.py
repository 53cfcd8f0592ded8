#!/usr/bin/env python3
"""A stand-in for `synqd --node`, to test the harness itself (test_harness_selftest.py).

Model: every fake node relays its clients to one real single synqd, the
backend (FAKE_BACKEND=host:port), which holds the only copy of the jobs; so
the "cluster" never loses or diverges unless told to. Leadership is a toy:
every 100 ms each node tries to connect to every peer's Raft port, and the
lowest id that answers is leader, if a majority answers; the term is the
leader's id, so the nodes that agree on the leader agree on it. On a change of
leader a node closes its client connections, as the contract says; while it
knows no leader it holds a client's command, closing after 3 s. It answers
`stats-cluster` itself in the contract's format, its figures drawn from the
backend's `stats`.

FAKE_BUG makes it wrong on purpose, so the self-test sees the checker fail:
"lose": every 20th put is answered INSERTED with an id that never exists;
"diverge": node 2 reports another digest.

Command line: the one cluster.py gives synqd (`-l -p -b --node --peers
--election-timeout`); `-h` prints the options, among them --node.
"""

import hashlib
import os
import re
import signal
import socket
import sys
import threading
import time

HOLD_S = 3.0
POLL_S = 0.1


def parse(argv):
    if "-h" in argv:
        print("fakenode: -l ADDR -p PORT -b DIR --node ID --peers LIST --election-timeout MS")
        sys.exit(0)
    argv = [a for a in argv if a != "--insecure-listen"]  # synqd's only valueless flag here
    opts = dict(zip(argv[::2], argv[1::2]))
    peers = {}
    for entry in opts["--peers"].split(","):
        node_id, addr = entry.split("=")
        host, port = addr.rsplit(":", 1)
        peers[int(node_id)] = (host, int(port))
    return int(opts["--node"]), opts["-l"], int(opts["-p"]), peers


class FakeNode:
    def __init__(self, me, peers, backend):
        self.me, self.peers, self.backend = me, peers, backend
        self.leader = 0
        self.bug = os.environ.get("FAKE_BUG", "")
        self.puts = 0
        self.clients = set()
        self.lock = threading.Lock()

    def elect_forever(self):
        while True:
            alive = []
            for node_id, addr in sorted(self.peers.items()):
                try:
                    socket.create_connection(addr, timeout=0.2).close()
                    alive.append(node_id)
                except OSError:
                    pass
            new = alive[0] if 2 * len(alive) > len(self.peers) else 0
            if new != self.leader:
                self.leader = new
                with self.lock:
                    for c in self.clients:
                        _shutdown(c)
            time.sleep(POLL_S)

    def backend_stats(self):
        with socket.create_connection(self.backend, timeout=2) as b:
            b.sendall(b"stats\r\n")
            data = b""
            while data.count(b"\r\n") < 2:
                chunk = b.recv(65536)
                if not chunk:
                    break
                data += chunk
        fields = dict(re.findall(r"^([\w-]+): (\S+)$", data.decode(), re.M))
        jobs = sum(int(fields["current-jobs-" + s])
                   for s in ("ready", "reserved", "delayed", "buried"))
        return jobs, int(fields["cmd-put"]) + int(fields["cmd-delete"])

    def stats_cluster(self):
        jobs, index = self.backend_stats()
        state = "leader" if self.leader == self.me else "follower" if self.leader else "candidate"
        digest = hashlib.sha1(b"%d" % jobs).hexdigest()
        if self.bug == "diverge" and self.me == 2:
            digest = hashlib.sha1(b"other").hexdigest()
        doc = ("---\nid: %d\nstate: %s\nleader: %d\nterm: %d\ncommit-index: %d\n"
               "applied-index: %d\njobs: %d\ndigest: %s\npeers:\n"
               % (self.me, state, self.leader, self.leader, index, index, jobs, digest))
        for node_id, (host, port) in sorted(self.peers.items()):
            doc += "- id: %d\n  address: %s:%d\n" % (node_id, host, port)
        return b"OK %d\r\n%s\r\n" % (len(doc), doc.encode())

    def serve(self, client):
        with self.lock:
            self.clients.add(client)
        backend = None
        try:
            reader = _Reader(client)
            while True:
                line = reader.line()
                if line == b"stats-cluster\r\n":
                    client.sendall(self.stats_cluster())
                    continue
                body = b""
                m = re.fullmatch(rb"put \d+ \d+ \d+ (\d+)\r\n", line)
                if m:
                    body = reader.exact(int(m.group(1)) + 2)
                if not self.wait_leader():
                    return
                if m and self.bug == "lose":
                    self.puts += 1
                    if self.puts % 20 == 0:
                        client.sendall(b"INSERTED %d\r\n" % (10 ** 9 + self.puts))
                        continue
                if backend is None:
                    backend = socket.create_connection(self.backend)
                    threading.Thread(target=_pump, args=(backend, client), daemon=True).start()
                backend.sendall(line + body)
        except (OSError, EOFError):
            pass
        finally:
            with self.lock:
                self.clients.discard(client)
            client.close()
            if backend is not None:
                backend.close()

    def wait_leader(self):
        deadline = time.monotonic() + HOLD_S
        while self.leader == 0:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True


class _Reader:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def _more(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError()
        self.buf += chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self._more()
        i = self.buf.index(b"\r\n") + 2
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def exact(self, n):
        while len(self.buf) < n:
            self._more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def _shutdown(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _pump(src, dst):
    """Backend replies to the client, byte for byte, until either side closes."""
    try:
        while True:
            chunk = src.recv(65536)
            if not chunk:
                break
            dst.sendall(chunk)
    except OSError:
        pass
    _shutdown(dst)


def _listen(addr):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(addr)
    s.listen(128)
    return s


def _accept_and_close(sock):
    while True:
        c, _ = sock.accept()
        c.close()


def main():
    me, host, port, peers = parse(sys.argv[1:])
    backend_host, backend_port = os.environ["FAKE_BACKEND"].rsplit(":", 1)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    node = FakeNode(me, peers, (backend_host, int(backend_port)))
    raft = _listen(peers[me])
    clients = _listen((host, port))
    threading.Thread(target=_accept_and_close, args=(raft,), daemon=True).start()
    threading.Thread(target=node.elect_forever, daemon=True).start()
    while True:
        c, _ = clients.accept()
        threading.Thread(target=node.serve, args=(c,), daemon=True).start()


if __name__ == "__main__":
    main()
