"""An RFC 3161 timestamp authority on 127.0.0.1: OpenSSL's own `openssl ts -reply` behind a
small HTTP wrapper, with a test root and a TSA certificate made for the run.

POST a DER TimeStampReq (Content-Type: application/timestamp-query) and get the DER
TimeStampResp back (application/timestamp-reply), as from any public TSA.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.fakes import serve

CONFIG = """\
[tsa]
default_tsa = tsa_config

[tsa_config]
dir = {folder}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/ca.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.4146.2.3
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


@dataclass
class FakeTSA:
    folder: Path
    url: str = ""
    requests: list[bytes] = field(default_factory=list)

    @property
    def root_pem(self) -> bytes:
        return (self.folder / "ca.pem").read_bytes()


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_authority(folder: Path) -> None:
    """A P-256 root and a TSA certificate it issued, for timeStamping only."""
    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    _openssl("req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
             "-subj", "/CN=vibot test TSA root", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)  # fmt: skip
    _openssl(
        "req", *curve, "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", "/CN=vibot test TSA", cwd=folder
    )
    (folder / "tsa.ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n"
    )
    _openssl("x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "tsa.pem", "-days", "30", "-extfile", "tsa.ext", cwd=folder)  # fmt: skip
    (folder / "serial").write_text("01\n")
    (folder / "tsa.cnf").write_text(CONFIG.format(folder=folder))


def handler_for(fake: FakeTSA) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            query = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Content-Type") != "application/timestamp-query":
                self.send_error(415, "send application/timestamp-query")
                return
            fake.requests.append(query)
            with tempfile.TemporaryDirectory(dir=fake.folder) as work:
                request, reply = Path(work) / "q.tsq", Path(work) / "r.tsr"
                request.write_bytes(query)
                made = subprocess.run(
                    ["openssl", "ts", "-reply", "-config", str(fake.folder / "tsa.cnf"),
                     "-queryfile", str(request), "-out", str(reply)],
                    capture_output=True, check=False,
                )  # fmt: skip
                if made.returncode != 0:
                    self.send_error(400, "not a timestamp query")
                    return
                body = reply.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def fake_tsa() -> Iterator[FakeTSA]:
    with tempfile.TemporaryDirectory(prefix="vibot-tsa-") as made:
        fake = FakeTSA(Path(made))
        make_authority(fake.folder)
        with serve(handler_for(fake)) as url:
            fake.url = url
            yield fake
