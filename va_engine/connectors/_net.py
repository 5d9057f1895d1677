"""Shared plumbing of the networked backends (CalDAV, IMAP): retries, reconnects, error mapping.

Every network call of a backend goes through :meth:`NetworkBackend.call`, so
retry policy, reconnect after a dropped connection and the translation of
library exceptions into :mod:`va_engine.errors` live here once:

* transport failures (refused, reset, DNS, TLS, timeout) → reconnect and retry
  with exponential backoff, then :class:`~va_engine.errors.UnreachableError`;
* refused credentials → :class:`~va_engine.errors.AuthError` at once (retrying
  a wrong password only gets the account locked);
* anything else the backend classifies → :class:`~va_engine.errors.RemoteDataError`.

Messages name the account (``user@host:port``), never the password.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pydantic import SecretStr

from va_engine.errors import (
    ConnectorError,
    RemoteDataError,
    UnreachableError,
    VaEngineError,
    redact,
)

__all__ = [
    "NetworkBackend",
    "RetryPolicy",
    "Transient",
    "describe_transport_error",
    "is_transport_error",
]

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a backend retries transient failures."""

    attempts: int = 3
    base_delay: float = 0.2
    max_delay: float = 5.0

    def delay(self, attempt: int) -> float:
        """Backoff before retry number ``attempt`` (1-based): 0.2 s, 0.4 s, 0.8 s … capped."""
        return float(min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


class Transient(Exception):
    """Raised by a backend to say "the connection is gone, reconnect and retry"."""


def is_transport_error(exc: BaseException) -> bool:
    """True for failures of the connection itself, which a reconnect may cure."""
    return isinstance(exc, OSError | Transient | EOFError)


_REASONS = (
    ("refused", "connection refused (is the server running and the port right?)"),
    ("name or service not known", "host name not found (DNS)"),
    ("nodename nor servname", "host name not found (DNS)"),
    ("temporary failure in name resolution", "host name not found (DNS)"),
    ("certificate verify failed", "TLS certificate rejected"),
    ("wrong version number", "TLS failure (is this port plain text?)"),
    ("timed out", "timed out"),
)


def describe_transport_error(exc: BaseException) -> str:
    """A short human reason for a transport failure (no addresses, no secrets).

    HTTP libraries wrap the socket error, so the cause chain and the message
    are searched too.
    """
    inner: BaseException | None = exc
    while inner is not None:
        if isinstance(inner, ConnectionRefusedError | socket.gaierror | ssl.SSLError):
            exc = inner
            break
        inner = inner.__cause__ or inner.__context__
    if not isinstance(exc, ConnectionRefusedError | socket.gaierror | ssl.SSLError):
        text = str(exc).lower()
        for needle, reason in _REASONS:
            if needle in text:
                return reason
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running and the port right?)"
    if isinstance(exc, socket.gaierror):
        return "host name not found (DNS)"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate rejected: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failure: {exc.reason or exc}"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | EOFError | Transient):
        return "connection dropped by the server"
    return f"network error: {type(exc).__name__}: {exc}"


class NetworkBackend:
    """Base of a networked connector: one account, one connection, one retry loop.

    Subclasses implement :meth:`_connect` (open and log in), :meth:`_disconnect`
    (close quietly) and :meth:`_classify` (turn a library exception into one of
    our errors, or return None for "transport failure, retry").
    """

    #: what the account is, for messages: "IMAP", "CalDAV"
    protocol: str = "network"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        password: SecretStr,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        #: requests sent to the server (IMAP commands, HTTP requests), for benchmarks
        self.round_trips = 0
        self._connected = False

    # -- to implement -------------------------------------------------------------
    def _connect(self) -> None:
        raise NotImplementedError

    def _disconnect(self) -> None:
        raise NotImplementedError

    def _classify(self, exc: BaseException) -> ConnectorError | None:
        """Our error for ``exc``, or None when it is a transport failure worth a retry."""
        return None

    def _transient_types(self) -> tuple[type[BaseException], ...]:
        """Library exceptions that mean "connection lost" besides OSError."""
        return ()

    # -- shared -----------------------------------------------------------------------
    @property
    def label(self) -> str:
        """``protocol user@host:port``: how messages name the account."""
        return f"{self.protocol} account {self.username}@{self.host}:{self.port}"

    def clean(self, text: str) -> str:
        """``text`` with the password (and any URL credentials) removed."""
        return redact(text, (self._password.get_secret_value(),))

    def connect(self) -> None:
        """Open the connection and log in (idempotent)."""
        if not self._connected:
            self.call(lambda: None)

    def close(self) -> None:
        """Close the connection; safe to call twice."""
        # Also after a half-done connect (socket open, login failed), hence no flag check.
        self._connected = False
        try:
            self._disconnect()
        except Exception as exc:  # closing a dead socket may fail in many ways
            log.debug("%s: ignoring error on close: %s", self.label, type(exc).__name__)

    def __enter__(self) -> NetworkBackend:
        self.connect()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def call(self, operation: Callable[[], T], *, what: str = "request") -> T:
        """Run ``operation`` on a live connection, reconnecting and retrying transient failures.

        Operations must be safe to repeat: a dropped connection may have lost
        the answer after the server acted (callers make writes idempotent).
        """
        last: BaseException | None = None
        for attempt in range(1, self.retry.attempts + 1):
            try:
                if not self._connected:
                    self._connect()
                    self._connected = True
                return operation()
            except VaEngineError:
                raise
            except Exception as exc:
                mapped = self._classify(exc)
                if mapped is not None:
                    raise mapped from None
                if not (is_transport_error(exc) or isinstance(exc, self._transient_types())):
                    raise RemoteDataError(
                        self.clean(f"{self.label}: {what} failed: {type(exc).__name__}: {exc}")
                    ) from None
                last = exc
                self.close()
                self._connected = False
                if attempt < self.retry.attempts:
                    delay = self.retry.delay(attempt)
                    log.info(
                        "%s: %s (%s), retrying in %.1f s",
                        self.label,
                        what,
                        describe_transport_error(exc),
                        delay,
                    )
                    time.sleep(delay)
        assert last is not None
        raise UnreachableError(
            self.clean(
                f"{self.label}: {what} failed after {self.retry.attempts} attempts: "
                f"{describe_transport_error(last)}"
            ),
            hint="check the host, port and TLS settings, or try again later",
        ) from None
