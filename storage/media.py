"""The media store: files named by their SHA-256, on disk or in S3-compatible storage.

- On disk (the default), under VIBOT_HOME/media. A file is written to a temporary name,
  flushed to disk and renamed into place, so a crash never leaves a half-written file
  under a real name, and the same bytes are stored once however often they are added.
- In S3 (`VIBOT_MEDIA_STORE=s3://bucket/prefix`, through boto3; credentials from the
  environment, as boto3 reads them). The keys are the same content-addressed paths under
  the prefix; every upload carries its SHA-256, which the server checks, and every
  download is hashed again and refused if it does not match its name. The disk store
  under VIBOT_HOME/media becomes a cache: steps that read files (the disclosure checks,
  uploads to platforms, the review UI) read the cached copy, fetched once. Platforms
  that fetch media by URL get a presigned GET URL instead of vibot's own public server.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from content.errors import ConfigError, NotFoundError, StorageError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredFile:
    relative_path: str
    sha256: str
    bytes: int


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class MediaStore(Protocol):
    root: Path  # where its local files are: the store itself, or its cache

    def add(self, source: Path) -> StoredFile:
        """Copy `source` into the store (its suffix is kept) and return where it lives."""

    def path(self, relative_path: str) -> Path:
        """A local file with the stored path's bytes; NotFoundError for anything else."""

    def url(self, relative_path: str, expires_s: int) -> str | None:
        """A URL anyone may GET the file from until `expires_s` from now; None: the store
        has none of its own (vibot's public media server serves it)."""

    def remove_incoming(self) -> None:
        """Delete temporary files left by a crash."""


PRESIGNED_URL_S = 6 * 3600  # platforms fetch within minutes; a reel may wait hours in a queue
_STORED_NAME = re.compile(r"^([0-9a-f]{2})/(\1[0-9a-f]{62})(\.[a-z0-9]{1,5})?$")


class DiskMediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def add(self, source: Path) -> StoredFile:
        """Copy `source` into the store (its suffix is kept) and return where it lives."""
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with tempfile.NamedTemporaryFile(dir=self.root, prefix=".incoming-", delete=False) as out:
            with source.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        sha = digest.hexdigest()
        relative = f"{sha[:2]}/{sha}{source.suffix.lower()}"
        final = self.root / relative
        final.parent.mkdir(exist_ok=True)
        os.replace(out.name, final)
        return StoredFile(relative, sha, final.stat().st_size)

    def path(self, relative_path: str) -> Path:
        """The file for a stored path; refuses anything that points outside the store."""
        root = self.root.resolve()
        candidate = (root / relative_path).resolve()
        if root not in candidate.parents:
            raise NotFoundError(f"'{relative_path}' is not in the media store")
        return candidate

    def url(self, relative_path: str, expires_s: int) -> str | None:
        return None

    def remove_incoming(self) -> None:
        """Delete temporary files left by a crash."""
        for leftover in self.root.glob(".incoming-*"):
            leftover.unlink(missing_ok=True)

    def files(self) -> Iterator[str]:
        """Every stored path, in a stable order."""
        for path in sorted(self.root.glob("??/*")):
            relative = path.relative_to(self.root).as_posix()
            if _STORED_NAME.match(relative):
                yield relative


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # without a trailing slash; may be empty

    @classmethod
    def parse(cls, text: str, setting: str = "VIBOT_MEDIA_STORE") -> S3Location:
        match = re.fullmatch(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.*))?", text.strip())
        if match is None:
            raise ConfigError(
                f"{setting} '{text}' is not an S3 location — write it like s3://my-bucket/vibot "
                "(a bucket name of lowercase letters, digits, dots and dashes, then an optional prefix)"
            )
        return cls(match.group(1), (match.group(2) or "").strip("/"))

    def key(self, relative_path: str) -> str:
        return f"{self.prefix}/{relative_path}" if self.prefix else relative_path

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def _sha256_base64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


class S3MediaStore:
    """Content-addressed objects in S3-compatible storage, with a local cache."""

    def __init__(self, location: S3Location, cache: Path, client: Any) -> None:
        self.location, self.cache, self.client = location, DiskMediaStore(cache), client
        self.root = cache

    def add(self, source: Path) -> StoredFile:
        stored = self.cache.add(source)
        self.upload(self.cache.root / stored.relative_path, stored.relative_path, stored.sha256)
        return stored

    def upload(self, local: Path, relative_path: str, sha256: str) -> bool:
        """Put `local` under its key unless an object with the same SHA-256 and size is there
        already (content-addressed: the key names the bytes). The SHA-256 goes with the bytes
        (x-amz-checksum-sha256), which S3 and compatible servers check, refusing a mismatch;
        what the server then keeps is read back. Returns whether anything was sent."""
        from botocore.exceptions import BotoCoreError, ClientError

        key, checksum, size = self.location.key(relative_path), _sha256_base64(sha256), local.stat().st_size
        if self._stored(key) == (checksum, size):
            return False
        try:
            with local.open("rb") as body:
                self.client.put_object(
                    Bucket=self.location.bucket, Key=key, Body=body,
                    ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum,
                )  # fmt: skip
        except (ClientError, BotoCoreError) as err:
            raise StorageError(f"{self.location}: uploading {relative_path} failed ({_code(err)})") from None
        if self._stored(key) != (checksum, size):  # read back what the server keeps
            raise StorageError(f"{self.location}: {relative_path} was stored with another checksum or size")
        return True

    def _stored(self, key: str) -> tuple[str | None, int] | None:
        """The SHA-256 checksum (base64) and size the server keeps for `key`; None: no object."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            head = self.client.head_object(Bucket=self.location.bucket, Key=key, ChecksumMode="ENABLED")
        except (ClientError, BotoCoreError) as err:
            if _code(err) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StorageError(f"{self.location}: cannot read {key} ({_code(err)})") from None
        return head.get("ChecksumSHA256"), int(head.get("ContentLength", -1))

    def path(self, relative_path: str) -> Path:
        local = self.cache.path(relative_path)
        if local.exists():
            return local
        match = _STORED_NAME.match(relative_path)
        if match is None:
            raise NotFoundError(f"'{relative_path}' is not in the media store")
        self._download(relative_path, match.group(2), local)
        return local

    def _download(self, relative_path: str, sha256: str, local: Path) -> None:
        """The object into the cache, refused unless its bytes hash to its name."""
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.location.key(relative_path)
        local.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with tempfile.NamedTemporaryFile(dir=self.cache.root, prefix=".incoming-", delete=False) as out:
            try:
                body = self.client.get_object(Bucket=self.location.bucket, Key=key)["Body"]
                for chunk in body.iter_chunks(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            except (ClientError, BotoCoreError) as err:
                os.unlink(out.name)
                if _code(err) in ("404", "NoSuchKey"):
                    raise NotFoundError(
                        f"'{relative_path}' is not in the media store ({self.location})"
                    ) from None
                raise StorageError(f"{self.location}: cannot read {key} ({_code(err)})") from None
        if digest.hexdigest() != sha256:
            os.unlink(out.name)
            raise StorageError(
                f"{self.location}/{relative_path}: the object's bytes do not match its SHA-256 name — "
                "refused; the object was changed or damaged in storage (upload it again from a good copy)"
            )
        os.replace(out.name, local)

    def problem(self) -> str | None:
        """Why the bucket cannot be used now (the health page), or None."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.location.bucket)
        except (ClientError, BotoCoreError) as err:
            return f"{self.location} cannot be reached ({_code(err)})"
        return None

    def url(self, relative_path: str, expires_s: int) -> str | None:
        return str(
            self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.location.bucket, "Key": self.location.key(relative_path)},
                ExpiresIn=expires_s,
            )
        )

    def remove_incoming(self) -> None:
        self.cache.remove_incoming()


def _code(err: Any) -> str:
    """The S3 error code, or what went wrong before the server answered."""
    response = getattr(err, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", "error"))
    if type(err).__name__ == "NoCredentialsError":
        return "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    return f"{type(err).__name__}: check VIBOT_S3_ENDPOINT_URL and the network"


def migrate(source: DiskMediaStore, target: S3MediaStore) -> Iterator[tuple[str, bool]]:
    """Copy every file of `source` to `target`: (stored path, whether it was sent) for each.
    Each local file is hashed first (a damaged copy is never uploaded), each upload carries
    its SHA-256 for the server to check, and objects already there with the same checksum
    are skipped: a migration that was stopped resumes where it was."""
    for relative in source.files():
        match = _STORED_NAME.match(relative)
        assert match is not None  # files() yields stored names only
        local = source.root / relative
        if sha256_file(local) != match.group(2):
            raise StorageError(
                f"{local}: its bytes do not match its SHA-256 name — the local copy is damaged and "
                "was not copied; restore it from a backup or regenerate its post, then run this again"
            )
        yield relative, target.upload(local, relative, match.group(2))


def s3_client(endpoint_url: str | None) -> Any:
    """boto3's S3 client; credentials and region from the environment, as boto3 reads them."""
    try:
        import boto3
    except ImportError:
        raise ConfigError("media in S3 needs boto3 — pip install 'vibot[s3]'") from None
    return boto3.client("s3", endpoint_url=endpoint_url)


def open_store(spec: str | None, media_dir: Path, endpoint_url: str | None) -> MediaStore:
    """The store VIBOT_MEDIA_STORE names: None, on disk under `media_dir`; s3://…, in S3
    with `media_dir` as its cache."""
    if not spec:
        return DiskMediaStore(media_dir)
    return S3MediaStore(S3Location.parse(spec), media_dir, s3_client(endpoint_url))
