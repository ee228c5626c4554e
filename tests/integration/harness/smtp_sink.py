#!/usr/bin/env python3
"""A relay sink for Dovecot's submission service: an SMTP server (aiosmtpd)
that stores every message it receives, byte for byte, as DIR/NNNNNN.eml with
its envelope in DIR/NNNNNN.json. Run with Debian's /usr/bin/python3:

    /usr/bin/python3 smtp_sink.py --listen 127.0.0.1:2525 --dir /tmp/sink
"""
import argparse
import asyncio
import itertools
import json
import os
import signal

from aiosmtpd.smtp import SMTP


class RawSink:
    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        existing = [int(n.split(".")[0]) for n in os.listdir(directory) if n.endswith(".eml")]
        self.counter = itertools.count(max(existing, default=0) + 1)

    async def handle_DATA(self, server, session, envelope):
        n = next(self.counter)
        base = os.path.join(self.directory, "%06d" % n)
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        with open(base + ".json.tmp", "w") as f:
            json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                       "peer": list(session.peer) if session.peer else None}, f)
        with open(base + ".eml.tmp", "wb") as f:
            f.write(content)
        os.rename(base + ".json.tmp", base + ".json")
        os.rename(base + ".eml.tmp", base + ".eml")   # .eml last: readers poll for it
        return "250 2.0.0 OK stored %06d" % n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True, help="HOST:PORT")
    ap.add_argument("--dir", required=True)
    args = ap.parse_args()
    host, port = args.listen.rsplit(":", 1)
    handler = RawSink(args.dir)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(loop.create_server(
        lambda: SMTP(handler, hostname="sink.localhost", data_size_limit=0,
                     enable_SMTPUTF8=True),
        host=host, port=int(port)))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, loop.stop)
    try:
        loop.run_forever()
    finally:
        server.close()
        loop.run_until_complete(server.wait_closed())


if __name__ == "__main__":
    main()
