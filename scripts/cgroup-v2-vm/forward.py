#!/usr/bin/python3
"""TCP forwarder for the cgroup-v2 VM (see ./run --net): listens on LISTEN:PORT for each
PORT and connects every accepted connection to UPSTREAM:PORT, so the guest's loopback
registries (the test environment's 127.0.0.1:5577...) reach the host's through QEMU's
user-mode network (the host's 127.0.0.1 is 10.0.2.2 there).

Usage: forward.py [--ready FILE] LISTEN UPSTREAM PORT...

Binds every port first, then checks that each upstream port accepts a connection (a
warning if not), then writes FILE (when given) and serves until SIGTERM. Standard library
only: it runs under the host's python3, seen in the guest through the root overlay.
"""

import os
import signal
import socket
import sys
import threading

CHUNK = 256 * 1024


def log(msg):
    print(f"forward.py: {msg}", file=sys.stderr, flush=True)


def pipe(src, dst):
    """Copies src to dst until EOF, then half-closes dst (HTTP keep-alive and Range
    resumes depend on both directions ending independently)."""
    try:
        while True:
            data = src.recv(CHUNK)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def handle(client, upstream):
    try:
        server = socket.create_connection(upstream, timeout=30)
        server.settimeout(None)
    except OSError as e:
        log(f"connect {upstream[0]}:{upstream[1]}: {e}")
        client.close()
        return
    for s in (client, server):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    back = threading.Thread(target=pipe, args=(server, client), daemon=True)
    back.start()
    pipe(client, server)
    back.join()
    client.close()
    server.close()


def serve(listener, upstream):
    while True:
        try:
            client, _ = listener.accept()
        except OSError as e:
            log(f"accept: {e}")
            continue
        threading.Thread(target=handle, args=(client, upstream), daemon=True).start()


def main(argv):
    ready = None
    if len(argv) >= 2 and argv[0] == "--ready":
        ready, argv = argv[1], argv[2:]
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 64
    listen, upstream_host, ports = argv[0], argv[1], [int(p) for p in argv[2:]]
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    listeners = []
    for port in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((listen, port))
        s.listen(128)
        listeners.append((s, (upstream_host, port)))
    for s, upstream in listeners:
        threading.Thread(target=serve, args=(s, upstream), daemon=True).start()

    for _, upstream in listeners:
        try:
            socket.create_connection(upstream, timeout=10).close()
        except OSError as e:
            log(f"warning: upstream {upstream[0]}:{upstream[1]} does not answer: {e}")
    log(f"{listen} -> {upstream_host}, ports {' '.join(map(str, ports))}")
    if ready:
        with open(ready, "w") as f:
            f.write(f"{os.getpid()}\n")
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
