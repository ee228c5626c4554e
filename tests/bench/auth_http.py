#!/usr/bin/python3
"""A minimal nginx mail `auth_http` service for the benchmark: every request
gets Auth-Status OK and the one Dovecot backend. asyncio, no parsing beyond
the end of the headers, so that it costs nginx's side as little as possible
(its CPU is still measured and reported with nginx's).

    auth_http.py --listen 127.0.0.1:PORT --backend 127.0.0.1:IMAPPORT
"""
import argparse
import asyncio


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--backend", required=True)
    args = ap.parse_args()
    host, _, port = args.listen.rpartition(":")
    bhost, _, bport = args.backend.rpartition(":")
    reply = ("HTTP/1.0 200 OK\r\nAuth-Status: OK\r\nAuth-Server: %s\r\nAuth-Port: %s\r\n"
             "Content-Length: 0\r\nConnection: close\r\n\r\n" % (bhost, bport)).encode()

    async def handle(reader, writer):
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(reply)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def serve():
        server = await asyncio.start_server(handle, host, int(port), backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
