"""Key sources: where the key-encryption keys (KEKs) come from.

``TOKEN_VAULT_KEY_SOURCE`` picks one (see :func:`key_source_from_spec`):

* ``env`` (default): ``TOKEN_VAULT_ENCRYPTION_KEY`` (base64, standard or URL-safe, of 32 bytes) is the
  primary KEK; older KEKs, for decryption only, in ``TOKEN_VAULT_PREVIOUS_KEYS`` (comma-separated base64);
* ``file:PATH``: one base64 key per line, the first primary, ``#`` comments allowed; refuses a file
  that group or others may read or write;
* ``gcp:projects/P/secrets/S``: Google Secret Manager; each enabled secret version is a KEK version,
  the newest enabled one primary, older enabled ones decrypt-only; the payload's CRC32C is verified.

A source that is missing, unreachable or malformed raises :class:`~vault.errors.KeyUnavailable` with a
message that says how to fix it; it never falls back to anything, and no message ever carries key bytes.
A key that is one byte repeated (all zeros, say) is refused: it is a placeholder, not a key.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from vault.crypto import KEY_BYTES, kek_fingerprint
from vault.errors import KeyUnavailable
from vault.redact import remember

if TYPE_CHECKING:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import Credentials
    from google.cloud.secretmanager import SecretManagerServiceClient

__all__ = [
    "ENV_KEY",
    "ENV_PREVIOUS_KEYS",
    "ENV_SOURCE",
    "EnvKeySource",
    "FileKeySource",
    "GcpKeySource",
    "Kek",
    "KeyRing",
    "KeySource",
    "StaticKeySource",
    "decode_key",
    "key_source_from_spec",
    "quiet_client_loggers",
]

ENV_SOURCE = "TOKEN_VAULT_KEY_SOURCE"
ENV_KEY = "TOKEN_VAULT_ENCRYPTION_KEY"
ENV_PREVIOUS_KEYS = "TOKEN_VAULT_PREVIOUS_KEYS"

_GENERATE = 'generate one with: python -c "import base64, os; print(base64.b64encode(os.urandom(32)).decode())"'
_SPEC_FORMS = "'env' (the default), 'file:PATH' or 'gcp:projects/PROJECT/secrets/SECRET'"
_SECRET_NAME = re.compile(r"projects/[^/\s]+/secrets/[^/\s]+")
_BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/=_\-\s]+")


@dataclass(frozen=True, repr=False)
class Kek:
    """One KEK version. ``key`` never appears in a repr."""

    key: bytes
    fingerprint: str = ""
    label: str = ""
    """Where it came from, for people: ``env:TOKEN_VAULT_ENCRYPTION_KEY``, ``gcp:.../versions/3``."""

    def __post_init__(self) -> None:
        if not self.fingerprint:
            object.__setattr__(self, "fingerprint", kek_fingerprint(self.key))

    def __repr__(self) -> str:
        return f"Kek({self.fingerprint}, {self.label!r})"


@dataclass(frozen=True)
class KeyRing:
    """The primary KEK (encrypts) and every KEK the source still offers (decrypt)."""

    primary: Kek
    others: tuple[Kek, ...] = field(default_factory=tuple)

    def by_fingerprint(self, fingerprint: str) -> Kek | None:
        for kek in (self.primary, *self.others):
            if kek.fingerprint == fingerprint:
                return kek
        return None

    @property
    def fingerprints(self) -> list[str]:
        return [self.primary.fingerprint, *(k.fingerprint for k in self.others)]


class KeySource(Protocol):
    """Loads the key ring. Called rarely: unwrapped DEKs are cached by the vault with a TTL."""

    name: str
    """For people and the audit log: ``env``, ``file:/path``, ``gcp:projects/p/secrets/s``."""

    def load(self) -> KeyRing:
        """The current key ring. Raises KeyUnavailable with a message that says how to fix it."""
        ...


class StaticKeySource:
    """KEKs held in memory (tests, the demo, ``selftest``'s scratch vault). The first is primary."""

    def __init__(self, *keys: bytes, name: str = "static") -> None:
        if not keys:
            raise KeyUnavailable("StaticKeySource needs at least one 32-byte key")
        self.name = name
        self._ring = KeyRing(
            primary=Kek(bytes(keys[0]), label=f"{name}[0]"),
            others=tuple(Kek(bytes(k), label=f"{name}[{n}]") for n, k in enumerate(keys[1:], 1)),
        )

    def load(self) -> KeyRing:
        return self._ring

    def __repr__(self) -> str:
        return f"StaticKeySource({', '.join(self._ring.fingerprints)})"


# --- decoding and validation, shared by every source ---------------------------------------------------------


def decode_key(text: str, where: str) -> bytes:
    """Decode one base64 (standard or URL-safe, padding optional) key of exactly 32 bytes.

    ``where`` names the place for the error message (``TOKEN_VAULT_ENCRYPTION_KEY``, ``line 2 of PATH``);
    the message never quotes the value.
    """
    cleaned = "".join(text.split())
    if not cleaned:
        raise KeyUnavailable(f"{where} is empty; {_GENERATE}")
    standard = cleaned.replace("-", "+").replace("_", "/")
    standard += "=" * (-len(standard) % 4)
    try:
        raw = base64.b64decode(standard, validate=True)
    except (binascii.Error, ValueError):
        raise KeyUnavailable(
            f"{where} is not valid base64 (standard or URL-safe) of {KEY_BYTES} bytes; {_GENERATE}"
        ) from None
    return check_key(raw, where)


def check_key(raw: bytes, where: str) -> bytes:
    """Refuse a key of the wrong length, or one byte repeated (a placeholder such as all zeros)."""
    if len(raw) != KEY_BYTES:
        raise KeyUnavailable(
            f"{where} decodes to {len(raw)} bytes; an AES-256 key is exactly {KEY_BYTES} bytes; {_GENERATE}"
        )
    if raw.count(raw[:1]) == len(raw):
        raise KeyUnavailable(f"{where} is one byte repeated (e.g. all zeros), a placeholder, not a key; {_GENERATE}")
    return raw


def _ring(keys: list[tuple[bytes, str]], source: str) -> KeyRing:
    """A key ring from (key, label) pairs, the first primary; duplicates of an earlier key are dropped."""
    if not keys:
        raise KeyUnavailable(f"{source} holds no key; {_GENERATE}")
    seen: set[str] = set()
    keks: list[Kek] = []
    for raw, _ in keys:
        remember(raw)  # key material from a real source: every encoding of it is masked in outputs and logs
    for raw, label in keys:
        kek = Kek(raw, label=label)
        if kek.fingerprint not in seen:
            seen.add(kek.fingerprint)
            keks.append(kek)
    return KeyRing(primary=keks[0], others=tuple(keks[1:]))


# --- env -------------------------------------------------------------------------------------------------------


class EnvKeySource:
    """``TOKEN_VAULT_ENCRYPTION_KEY`` (primary) and ``TOKEN_VAULT_PREVIOUS_KEYS`` (comma-separated, decrypt only).

    Reads ``environ`` (default :data:`os.environ`) on every :meth:`load`, so a restart is not needed to see
    a rotated key in a long-lived process that re-reads its environment mapping.
    """

    name = "env"

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ

    def load(self) -> KeyRing:
        env = os.environ if self._environ is None else self._environ
        primary = env.get(ENV_KEY, "")
        if not primary.strip():
            raise KeyUnavailable(
                f"{ENV_KEY} is not set: the token vault needs a 32-byte key (base64); {_GENERATE}, "
                f"or point {ENV_SOURCE} at 'file:PATH' or 'gcp:projects/P/secrets/S'"
            )
        keys = [(decode_key(primary, ENV_KEY), f"env:{ENV_KEY}")]
        previous = [p for p in env.get(ENV_PREVIOUS_KEYS, "").split(",") if p.strip()]
        for n, text in enumerate(previous, 1):
            where = f"{ENV_PREVIOUS_KEYS} entry {n}"
            keys.append((decode_key(text, where), f"env:{where}"))
        return _ring(keys, self.name)

    def __repr__(self) -> str:
        return "EnvKeySource()"


# --- file ------------------------------------------------------------------------------------------------------


class FileKeySource:
    """One base64 key per line, the first primary; blank lines and ``#`` comments ignored.

    Refuses a file that group or others may read or write (``chmod 600 PATH``).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self.name = f"file:{self.path}"

    def load(self) -> KeyRing:
        path = self.path
        try:
            st = path.stat()
        except FileNotFoundError:
            raise KeyUnavailable(
                f"key file {path} does not exist; create it with one base64 key per line "
                f"({_GENERATE}) and run: chmod 600 {path}"
            ) from None
        except OSError as exc:
            raise KeyUnavailable(f"cannot read key file {path}: {exc.strerror or type(exc).__name__}") from None
        if not stat.S_ISREG(st.st_mode):
            raise KeyUnavailable(f"key file {path} is not a regular file; point {ENV_SOURCE} at the key file")
        if st.st_mode & 0o077:
            raise KeyUnavailable(
                f"key file {path} is accessible by group or others (mode {stat.S_IMODE(st.st_mode):04o}); "
                f"run: chmod 600 {path}"
            )
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise KeyUnavailable(f"cannot read key file {path}: {reason}") from None
        keys: list[tuple[bytes, str]] = []
        for lineno, line in enumerate(text.splitlines(), 1):
            content = line.split("#", 1)[0].strip()  # '#' is not a base64 character
            if content:
                where = f"line {lineno} of key file {path}"
                keys.append((decode_key(content, where), f"file:{path}:{lineno}"))
        if not keys:
            raise KeyUnavailable(f"key file {path} holds no key; add one base64 key per line ({_GENERATE})")
        return _ring(keys, self.name)

    def __repr__(self) -> str:
        return f"FileKeySource({str(self.path)!r})"


# --- Google Secret Manager ---------------------------------------------------------------------------------------

_NOISY_LOGGERS = ("google", "google.auth", "google.api_core", "google.cloud", "urllib3")


def quiet_client_loggers() -> None:
    """Keep the Google client libraries' and urllib3's loggers at INFO or above.

    Their DEBUG request logging can carry secrets (payloads, headers). Raises the named loggers to INFO
    when lower (NOTSET included, so a DEBUG root does not leak through), and any already-created
    descendant explicitly set below INFO (``GOOGLE_SDK_PYTHON_LOGGING_SCOPE`` sets one to DEBUG).
    """
    for name in _NOISY_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.INFO:
            logger.setLevel(logging.INFO)
    prefixes = tuple(f"{name}." for name in _NOISY_LOGGERS)
    for name, child in list(logging.root.manager.loggerDict.items()):
        explicit_debug = isinstance(child, logging.Logger) and logging.NOTSET < child.level < logging.INFO
        if explicit_debug and name.startswith(prefixes):
            logging.getLogger(name).setLevel(logging.INFO)


class GcpKeySource:
    """KEK versions held as versions of one Google Secret Manager secret.

    * every ENABLED version is a KEK version: the newest primary, older ones decrypt-only;
    * each payload is 32 raw bytes, or base64 text of 32 bytes; its CRC32C is checked against
      ``payload.data_crc32c``;
    * any failure (not found, permission denied, unavailable, network, timeout, no credentials) is a
      :class:`KeyUnavailable` naming the secret and the fix.

    The caller needs ``secretmanager.versions.list`` and ``secretmanager.versions.access`` on the secret:
    ``roles/secretmanager.secretAccessor`` plus ``roles/secretmanager.viewer`` (or one custom role with both).

    ``client``, ``client_options``, ``transport`` and ``credentials`` go to
    ``google.cloud.secretmanager.SecretManagerServiceClient`` (built on first :meth:`load`, not here).
    ``timeout`` bounds each request, ``deadline`` the retries of transient failures.
    """

    def __init__(
        self,
        secret: str,
        client: SecretManagerServiceClient | None = None,
        client_options: ClientOptions | Mapping[str, Any] | None = None,
        transport: str = "rest",
        credentials: Credentials | None = None,
        *,
        timeout: float = 10.0,
        deadline: float = 30.0,
    ) -> None:
        secret = secret.strip().strip("/")
        if not _SECRET_NAME.fullmatch(secret):
            shown = f"got {secret!r}" if secret.startswith("projects/") else "got something else (not shown)"
            raise KeyUnavailable(
                f"Secret Manager key source needs a secret name like projects/PROJECT/secrets/SECRET; "
                f"{shown}. Set {ENV_SOURCE}=gcp:projects/PROJECT/secrets/SECRET"
            )
        self.secret = secret
        self.name = f"gcp:{secret}"
        self._client = client
        self._client_options = client_options
        self._transport = transport
        self._credentials = credentials
        self._timeout = timeout
        self._deadline = deadline
        quiet_client_loggers()

    def load(self) -> KeyRing:
        try:
            return self._load()
        except KeyUnavailable:
            raise
        except Exception as exc:  # the boundary: whatever the client raises becomes one clear error
            raise self._explain(exc) from None

    def _load(self) -> KeyRing:
        import google_crc32c
        from google.api_core.retry import Retry, if_transient_error
        from google.cloud import secretmanager

        client = self._get_client()
        retry = Retry(predicate=if_transient_error, initial=0.1, maximum=2.0, multiplier=2.0, timeout=self._deadline)
        request = secretmanager.ListSecretVersionsRequest(parent=self.secret, filter="state:ENABLED")
        enabled = [
            v
            for v in client.list_secret_versions(request=request, retry=retry, timeout=self._timeout)
            if v.state == secretmanager.SecretVersion.State.ENABLED
        ]
        if not enabled:
            raise KeyUnavailable(
                f"Secret Manager secret {self.secret} has no ENABLED version; add one: "
                f"head -c 32 /dev/urandom | gcloud secrets versions add {_short(self.secret)} --data-file=-"
            )
        enabled.sort(key=lambda v: (v.create_time.timestamp(), _version_number(v.name)), reverse=True)
        keys: list[tuple[bytes, str]] = []
        for version in enabled:
            response = client.access_secret_version(name=version.name, retry=retry, timeout=self._timeout)
            payload = response.payload
            data = bytes(payload.data)
            if "data_crc32c" not in payload:
                raise KeyUnavailable(
                    f"Secret Manager returned {version.name} without a CRC32C checksum; refusing an unverified key"
                )
            if google_crc32c.value(data) != payload.data_crc32c:
                raise KeyUnavailable(
                    f"Secret Manager payload of {version.name} failed its CRC32C checksum (checksum mismatch: "
                    f"corrupted in transit or storage); retry, and if it persists add a fresh version"
                )
            keys.append((self._decode_payload(data, version.name), f"gcp:{version.name}"))
        return _ring(keys, self.name)

    def _get_client(self) -> SecretManagerServiceClient:
        if self._client is None:
            from google.cloud import secretmanager

            self._client = secretmanager.SecretManagerServiceClient(
                credentials=self._credentials,
                transport=self._transport,
                client_options=self._client_options,  # type: ignore[arg-type]  # dict or ClientOptions
            )
            quiet_client_loggers()  # building the client may configure google loggers from the environment
        return self._client

    @staticmethod
    def _decode_payload(data: bytes, version: str) -> bytes:
        where = f"Secret Manager version {version}"
        if len(data) == KEY_BYTES and not _BASE64_TEXT.fullmatch(data):
            # 32 random bytes are all base64 characters with probability 2**-64: such a payload is text
            return check_key(data, where)
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            raise KeyUnavailable(
                f"{where} is {len(data)} bytes and not base64 text; a KEK version holds 32 raw bytes or "
                f"base64 of 32 bytes; add a correct version and disable this one"
            ) from None
        return decode_key(text, where)

    def _explain(self, exc: Exception) -> KeyUnavailable:
        from google.api_core import exceptions as gexc
        from google.auth import exceptions as auth_exc

        secret = self.secret
        if isinstance(exc, gexc.RetryError) and exc.cause is not None:
            cause = exc.cause
            if isinstance(cause, Exception):
                exc = cause
        if isinstance(exc, gexc.Forbidden):  # PermissionDenied and the REST transport's plain 403
            return KeyUnavailable(
                f"permission denied on Secret Manager secret {secret} (403): grant the vault's service account "
                f"roles/secretmanager.secretAccessor (to read versions) and roles/secretmanager.viewer "
                f"(to list them) on the secret: gcloud secrets add-iam-policy-binding {_short(secret)} "
                f"--member=serviceAccount:SA_EMAIL --role=roles/secretmanager.secretAccessor"
            )
        if isinstance(exc, gexc.NotFound):
            return KeyUnavailable(
                f"Secret Manager secret {secret} was not found or has no versions (404): check {ENV_SOURCE}, "
                f"or create it: gcloud secrets create {_short(secret)} && "
                f"head -c 32 /dev/urandom | gcloud secrets versions add {_short(secret)} --data-file=-"
            )
        if isinstance(exc, gexc.Unauthorized | auth_exc.RefreshError):
            return KeyUnavailable(
                f"Secret Manager rejected the credentials for {secret} (401): run "
                f"'gcloud auth application-default login' or set GOOGLE_APPLICATION_CREDENTIALS"
            )
        if isinstance(exc, auth_exc.DefaultCredentialsError):
            return KeyUnavailable(
                f"no Google credentials to read Secret Manager secret {secret}: run on GCP with a service "
                f"account, set GOOGLE_APPLICATION_CREDENTIALS, or run 'gcloud auth application-default login'"
            )
        if isinstance(
            exc,
            gexc.ServiceUnavailable
            | gexc.DeadlineExceeded
            | gexc.RetryError
            | gexc.InternalServerError
            | gexc.TooManyRequests
            | auth_exc.TransportError
            | OSError,
        ):
            return KeyUnavailable(
                f"Secret Manager is unreachable for secret {secret} ({_describe(exc)}); check network access "
                f"to secretmanager.googleapis.com (or the configured endpoint) and retry"
            )
        if isinstance(exc, gexc.GoogleAPICallError):
            return KeyUnavailable(f"Secret Manager refused to serve secret {secret} ({_describe(exc)})")
        return KeyUnavailable(f"could not load keys from Secret Manager secret {secret} ({type(exc).__name__})")

    def __repr__(self) -> str:
        return f"GcpKeySource({self.secret!r})"


def _short(secret: str) -> str:
    """``S --project P`` for gcloud, from ``projects/P/secrets/S``."""
    parts = secret.split("/")
    return f"{parts[3]} --project {parts[1]}"


def _version_number(name: str) -> int:
    tail = name.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _describe(exc: BaseException) -> str:
    """Type and, for API errors, code and the server's message: never request or payload bytes."""
    from google.api_core import exceptions as gexc

    if isinstance(exc, gexc.GoogleAPICallError):
        code = f"{exc.code} " if exc.code is not None else ""
        return f"{code}{type(exc).__name__}: {exc.message}"
    return type(exc).__name__


# --- choosing a source -----------------------------------------------------------------------------------------


def key_source_from_spec(spec: str | None = None, environ: Mapping[str, str] | None = None) -> KeySource:
    """The key source named by ``spec`` (default: ``$TOKEN_VAULT_KEY_SOURCE``, else ``env``).

    ``env`` reads ``environ`` (default :data:`os.environ`). ``gcp:...`` honours ``READINESS_STANDINS_URL``:
    when set, the client talks to ``{READINESS_STANDINS_URL}/secretmanager.googleapis.com`` with anonymous
    credentials (the demo and tests), as every outbound provider URL does.
    """
    env = os.environ if environ is None else environ
    if spec is None:
        spec = env.get(ENV_SOURCE, "")
    spec = spec.strip()
    if spec in ("", "env"):
        return EnvKeySource(environ)
    kind, sep, rest = spec.partition(":")
    if sep and kind == "file" and rest.strip():
        return FileKeySource(rest.strip())
    if sep and kind == "gcp" and rest.strip():
        standins = env.get("READINESS_STANDINS_URL", "").strip().rstrip("/")
        if standins:
            from google.auth.credentials import AnonymousCredentials

            return GcpKeySource(
                rest,
                client_options={"api_endpoint": f"{standins}/secretmanager.googleapis.com"},
                credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            )
        return GcpKeySource(rest)
    # Never echo the value: a key pasted into the wrong variable must not end up in a log.
    shown = f"(it starts with {kind!r})" if sep and re.fullmatch(r"[A-Za-z]{1,12}", kind) else "(value not shown)"
    raise KeyUnavailable(f"{ENV_SOURCE} is not a key source {shown}; use {_SPEC_FORMS}")
