#!/usr/bin/env python3
"""A real SMTP server for tests: accepts every message and writes it to a directory.

Usage:
    python3 tests/support/smtp_sink.py --port 0 --dir DIR

Listens on 127.0.0.1 (``--port 0`` picks a free port) and prints exactly one line,
``SMTP_PORT=<n>``, to stdout once it is accepting connections. Each received message is
written atomically (temp file, then rename) as ``DIR/<counter>-<first-recipient>.eml``
holding the raw RFC 5322 bytes as received (after SMTP dot-unstuffing, nothing added),
and then one JSON line is appended to ``DIR/index.jsonl``:

    {"file": "000001-cashier@example.test.eml", "mail_from": "...", "rcpt_tos": ["..."]}

The ``.eml`` file exists before its index line is written, so a reader that finds a line
can always open its file. A reader should ignore a last line without a trailing newline.

Exits with status 0 on SIGTERM or SIGINT. Needs aiosmtpd (see tests/requirements.txt).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")


def _safe_name(address: str) -> str:
    name = _UNSAFE.sub("_", address.strip().strip("<>"))[:100]
    return name or "unknown"


class SinkHandler:
    """aiosmtpd handler that stores every message it is given."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.counter = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content
        if raw is None:  # only when decode_data=True, which we never set; be safe anyway
            content = envelope.content or b""
            raw = content.encode("utf-8", "surrogateescape") if isinstance(content, str) else content
        self.counter += 1
        first = envelope.rcpt_tos[0] if envelope.rcpt_tos else "unknown"
        name = f"{self.counter:06d}-{_safe_name(first)}.eml"
        tmp = self.directory / f".{name}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.directory / name)

        entry = {"file": name, "mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos)}
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        # One write() on an O_APPEND descriptor: the line lands whole, after earlier ones.
        fd = os.open(self.directory / "index.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        print(f"smtp_sink: stored {name} from {envelope.mail_from} to {envelope.rcpt_tos}", file=sys.stderr, flush=True)
        return "250 Message accepted for delivery"


async def serve(port: int, directory: Path) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    handler = SinkHandler(directory)
    server = await loop.create_server(
        # hostname given so aiosmtpd does not do a (possibly slow) FQDN lookup.
        lambda: SMTP(handler, hostname="smtp-sink.test", enable_SMTPUTF8=True),
        host="127.0.0.1",
        port=port,
    )
    bound = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"SMTP_PORT={bound}\n")
    sys.stdout.flush()

    await stop.wait()
    server.close()
    try:
        await asyncio.wait_for(server.wait_closed(), timeout=2)
    except asyncio.TimeoutError:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="SMTP sink for tests")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 picks a free one")
    parser.add_argument("--dir", required=True, type=Path, help="directory to write messages to")
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args.port, args.dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
