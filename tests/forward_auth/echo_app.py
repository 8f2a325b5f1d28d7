#!/usr/bin/env python3
"""The app nginx protects in tests/api/forward_auth.rs: answers every request
with JSON of what it received (method, path, headers as sent, in order),
so the test sees exactly what nginx passed on.

Usage: echo_app.py [PORT]  — listens on PORT of 127.0.0.1 (default: a free
one) and prints the port as the first line on stdout; runs until killed.
README.md's forward-auth walk-through uses it as the app on port 3000.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        # http.server decodes header bytes as Latin-1; the test wants the
        # bytes nginx sent, which are UTF-8 for names such as "Bob 小明".
        headers = [
            [name, value.encode("latin-1").decode("utf-8", "backslashreplace")]
            for name, value in self.headers.items()
        ]
        out = json.dumps(
            {"method": self.command, "path": self.path, "headers": headers, "body": body}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = answer

    def log_message(self, *args):
        pass


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = ThreadingHTTPServer(("127.0.0.1", port), Echo)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
