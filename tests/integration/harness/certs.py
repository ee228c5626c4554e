#!/usr/bin/env python3
"""Test certificates made with the openssl CLI.

    c = make_certs(dir)     # idempotent: reuses files already there
    c.ca_cert               # dir/ca.pem       (self-signed CA)
    c.cert, c.key           # dir/cert.pem, dir/key.pem: server cert signed by the CA,
                            #   SAN DNS:localhost, DNS:mail.example.com, IP:127.0.0.1
    c.chain                 # dir/chain.pem: cert.pem + ca.pem

Clients verify with `ssl.create_default_context(cafile=c.ca_cert)` and
server_hostname "localhost" (or connect to 127.0.0.1 with check_hostname on:
the IP SAN matches). `make_self_signed(cert, key)` writes a single self-signed
cert (what scripts/demo.sh uses).
"""
import collections
import os
import subprocess
import sys

Certs = collections.namedtuple("Certs", "dir ca_cert ca_key cert key chain")

SAN = "subjectAltName=DNS:localhost,DNS:mail.example.com,IP:127.0.0.1"


def _run(*args):
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def make_certs(directory, days=3650):
    directory = os.path.abspath(str(directory))
    os.makedirs(directory, exist_ok=True)
    p = lambda n: os.path.join(directory, n)  # noqa: E731
    c = Certs(directory, p("ca.pem"), p("ca-key.pem"), p("cert.pem"), p("key.pem"),
              p("chain.pem"))
    if all(os.path.exists(x) for x in (c.ca_cert, c.ca_key, c.cert, c.key, c.chain)):
        return c
    _run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(days),
         "-subj", "/CN=mailgate test CA", "-keyout", c.ca_key, "-out", c.ca_cert,
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    csr = p("cert.csr")
    _run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
         "-keyout", c.key, "-out", csr)
    ext = p("cert.ext")
    with open(ext, "w") as f:
        f.write(SAN + "\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    _run("x509", "-req", "-in", csr, "-CA", c.ca_cert, "-CAkey", c.ca_key,
         "-CAcreateserial", "-days", str(days), "-extfile", ext, "-out", c.cert)
    with open(c.chain, "w") as out:
        for src in (c.cert, c.ca_cert):
            with open(src) as f:
                out.write(f.read())
    os.chmod(c.key, 0o644)   # readable by a daemon that dropped privileges
    for leftover in (csr, ext):
        os.unlink(leftover)
    return c


def make_self_signed(cert, key, days=3650):
    """One self-signed certificate for localhost/127.0.0.1 (the demo's)."""
    os.makedirs(os.path.dirname(os.path.abspath(cert)), exist_ok=True)
    _run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(days),
         "-subj", "/CN=localhost", "-keyout", key, "-out", cert, "-addext", SAN)
    os.chmod(key, 0o600)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--self-signed":
        make_self_signed(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 2:
        print(make_certs(sys.argv[1]))
    else:
        sys.exit("usage: certs.py DIR | certs.py --self-signed CERT KEY")
