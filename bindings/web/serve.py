#!/usr/bin/env python3
"""Serve this folder over HTTP with the headers wasm threads need: `python serve.py [--port 8000]`.

A shared WebAssembly.Memory reaches Web Workers only on a cross-origin-isolated page, i.e. one served with
`Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp`. Without them the
page still runs the model, on one thread. Any static server that sends those two headers will do.
"""

from __future__ import annotations

import argparse
import functools
import http.server
from pathlib import Path


class IsolatedHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with COOP / COEP (and the MIME types module scripts and wasm streaming compile need)."""

    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".js": "text/javascript",
        ".wasm": "application/wasm",
        ".json": "application/json",
    }

    def end_headers(self) -> None:
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        if not self.server.quiet:
            super().log_message(format, *args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="0: any free port (the URL is printed)")
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--quiet", action="store_true", help="no request log")
    args = parser.parse_args()
    handler = functools.partial(IsolatedHandler, directory=str(Path(__file__).resolve().parent))
    with http.server.ThreadingHTTPServer((args.bind, args.port), handler) as server:
        server.quiet = args.quiet
        print(f"serving http://{args.bind}:{server.server_address[1]}/ (COOP/COEP on: threads enabled)", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
