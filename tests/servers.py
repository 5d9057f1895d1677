"""Real test servers on free loopback ports: Radicale (CalDAV), Dovecot (IMAP), aiosmtpd (SMTP).

Importable outside pytest (``benchmarks/sync.py`` uses it), so nothing here
depends on pytest: a server that cannot start raises :class:`ServerUnavailable`
with the reason, and the fixtures in ``tests/conftest.py`` turn that into a
skip (or a failure under ``CI=true``).

Each server runs in its own temp folder and is shared by a whole test session;
tests get isolation from :meth:`~RadicaleServer.new_user` /
:meth:`~DovecotServer.new_user`, which add a fresh account while the server
runs (both servers re-read their password files on change).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Self

__all__ = [
    "Account",
    "DovecotServer",
    "RadicaleServer",
    "ServerUnavailable",
    "SmtpServer",
    "free_port",
]

START_TIMEOUT = 20.0
_counter = itertools.count(1)


class ServerUnavailable(RuntimeError):
    """A test server could not be started; the message says why."""


@dataclass(frozen=True)
class Account:
    """Credentials of one test account on a running server."""

    host: str
    port: int
    username: str
    password: str
    url: str = ""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_for(check: Any, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerUnavailable(
                f"{what} exited with status {proc.returncode}:\n{_log_tail(log)}"
            )
        with contextlib.suppress(OSError):
            if check():
                return
        time.sleep(0.05)
    raise ServerUnavailable(
        f"{what} did not answer within {START_TIMEOUT:.0f} s:\n{_log_tail(log)}"
    )


def _stop_process(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


# --------------------------------------------------------------------------- Radicale


@dataclass
class RadicaleServer:
    """Radicale in a subprocess with htpasswd (plain) auth and owner-only rights."""

    root: Path
    host: str = "127.0.0.1"
    port: int = 0
    users: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(cls, root: Path | None = None) -> Self:
        root = root or Path(tempfile.mkdtemp(prefix="va-radicale-"))
        server = cls(root=root, port=free_port())
        (root / "storage").mkdir(parents=True, exist_ok=True)
        server.users = {"alice": "alice-secret-1", "bob": "bob-secret-2"}
        server._write_users()
        (root / "radicale.conf").write_text(
            "[server]\n"
            f"hosts = {server.host}:{server.port}\n"
            "[auth]\n"
            "type = htpasswd\n"
            f"htpasswd_filename = {root / 'users'}\n"
            "htpasswd_encryption = plain\n"
            "delay = 0\n"
            "[rights]\n"
            "type = owner_only\n"
            "[storage]\n"
            f"filesystem_folder = {root / 'storage'}\n"
            "[web]\n"
            "type = none\n"
            "[logging]\n"
            "level = warning\n"
            "mask_passwords = True\n"
        )
        return server

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def storage(self) -> Path:
        return self.root / "storage" / "collection-root"

    def _write_users(self) -> None:
        lines = "".join(f"{user}:{password}\n" for user, password in self.users.items())
        (self.root / "users").write_text(lines)

    def account(self, username: str) -> Account:
        return Account(self.host, self.port, username, self.users[username], self.url)

    def new_user(self, prefix: str = "user") -> Account:
        """Add a fresh account (Radicale re-reads the htpasswd file on every login)."""
        username = f"{prefix}{os.getpid()}x{next(_counter)}"
        self.users[username] = f"pw-{username}-{os.urandom(4).hex()}"
        self._write_users()
        return self.account(username)

    def calendar_dir(
        self,
        username: str,
        name: str,
        *,
        components: str = "VEVENT,VTODO",
        displayname: str | None = None,
    ) -> Path:
        """Create (or return) a calendar collection directly in the storage folder.

        Used to load thousands of items without thousands of PUTs.
        """
        path = self.storage / username / name
        path.mkdir(parents=True, exist_ok=True)
        props = path / ".Radicale.props"
        if not props.exists():
            import json

            props.write_text(
                json.dumps(
                    {
                        "tag": "VCALENDAR",
                        "D:displayname": displayname or name,
                        "C:supported-calendar-component-set": components,
                    }
                )
            )
        return path

    def start(self) -> None:
        log = self.root / "radicale.log"
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "radicale", "--config", str(self.root / "radicale.conf")],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

        def answers() -> bool:
            with socket.create_connection((self.host, self.port), timeout=1) as sock:
                sock.sendall(b"OPTIONS / HTTP/1.0\r\nHost: localhost\r\n\r\n")
                return sock.recv(12).startswith(b"HTTP/")

        _wait_for(answers, self.proc, "Radicale", log)

    def stop(self) -> None:
        _stop_process(self.proc)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


# --------------------------------------------------------------------------- Dovecot

_DOVECOT_CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
instance_name = va-test-{port}
protocols = imap
listen = {host}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:~/Maildir
mail_uid = {uid}
mail_gid = {gid}
mail_fsync = never
maildir_very_dirty_syncs = no
imap_idle_notify_interval = 1 secs
login_trusted_networks =
mail_max_userip_connections = 100
auth_failure_delay = 0

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users
  default_fields = uid={uid} gid={gid} home={root}/home/%u
}}

namespace inbox {{
  inbox = yes
  separator = /
  mailbox Drafts {{
    special_use = \\Drafts
    auto = create
  }}
  mailbox Sent {{
    special_use = \\Sent
    auto = create
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = create
  }}
  mailbox Archive {{
    special_use = \\Archive
    auto = create
  }}
  mailbox Junk {{
    special_use = \\Junk
    auto = create
  }}
}}

service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
"""


@dataclass
class DovecotServer:
    """Dovecot (``dovecot -F -c CONF``) with passwd-file auth and maildirs in a temp dir.

    Runs as root with unprivileged login/internal users; mail is stored as
    ``nobody`` so the tree under ``root`` is chowned to that user.
    """

    root: Path
    host: str = "127.0.0.1"
    port: int = 0
    users: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    uid: int = 65534
    gid: int = 65534
    _pool: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, root: Path | None = None) -> Self:
        binary = shutil.which("dovecot") or (
            "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
        )
        if binary is None:
            raise ServerUnavailable(
                "dovecot is not installed (Debian: apt-get install -y dovecot-imapd)"
            )
        if os.geteuid() != 0:
            raise ServerUnavailable("the Dovecot fixture must run as root (it drops privileges)")
        for name in ("dovecot", "dovenull"):
            try:
                pwd.getpwnam(name)
            except KeyError as exc:
                raise ServerUnavailable(
                    f"system user {name!r} missing: reinstall dovecot-core"
                ) from exc
        nobody = pwd.getpwnam("nobody")
        root = root or Path(tempfile.mkdtemp(prefix="va-dovecot-"))
        root.chmod(0o755)
        server = cls(root=root, port=free_port(), uid=nobody.pw_uid, gid=nobody.pw_gid)
        (root / "home").mkdir(exist_ok=True)
        os.chown(root / "home", server.uid, server.gid)
        server.users = {"alice": "alice-secret-1", "bob": "bob-secret-2"}
        server._fill_pool(100)
        (root / "dovecot.conf").write_text(
            _DOVECOT_CONF.format(
                root=root, host=server.host, port=server.port, uid=server.uid, gid=server.gid
            )
        )
        return server

    @property
    def conf(self) -> Path:
        return self.root / "dovecot.conf"

    def _write_users(self) -> None:
        # passwd-file is re-read by Dovecot when its mtime changes.
        path = self.root / "users"
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in self.users.items()))
        tmp.chmod(0o644)
        tmp.replace(path)

    def account(self, username: str) -> Account:
        return Account(self.host, self.port, username, self.users[username])

    def new_user(self, prefix: str = "user") -> Account:
        """A fresh, never used account (from a pool written before the server started).

        Dovecot checks passwd-file for changes at most once a second, so users
        added on the fly are not always seen at once; the pool avoids that wait.
        """
        del prefix
        if not self._pool:
            self._fill_pool(50)
            time.sleep(1.1)  # let Dovecot's once-a-second passwd-file check see the change
        return self.account(self._pool.pop(0))

    def _fill_pool(self, n: int) -> None:
        for _ in range(n):
            username = f"user{os.getpid()}x{next(_counter)}"
            self.users[username] = f"pw-{username}-{os.urandom(4).hex()}"
            self._pool.append(username)
        self._write_users()

    def maildir(self, username: str, folder: str = "") -> Path:
        """The maildir of ``folder`` ('' = INBOX) for ``username`` (Maildir++ layout)."""
        base = self.root / "home" / username / "Maildir"
        return base if not folder or folder == "INBOX" else base / f".{folder.replace('/', '.')}"

    def write_messages(self, username: str, messages: list[bytes], folder: str = "") -> None:
        """Drop messages straight into a maildir (fast bulk load before the first login)."""
        box = self.maildir(username, folder)
        for sub in ("cur", "new", "tmp"):
            (box / sub).mkdir(parents=True, exist_ok=True)
        stamp = int(time.time())
        for i, raw in enumerate(messages):
            (box / "cur" / f"{stamp}.M{i}P{os.getpid()}.va-test:2,S").write_bytes(raw)
        self.chown(self.root / "home" / username)

    def chown(self, top: Path) -> None:
        for dirpath, dirnames, filenames in os.walk(top):
            os.chown(dirpath, self.uid, self.gid)
            for name in itertools.chain(dirnames, filenames):
                os.chown(os.path.join(dirpath, name), self.uid, self.gid)  # noqa: PTH118

    def start(self) -> None:
        log = self.root / "dovecot.stderr"
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                ["dovecot", "-F", "-c", str(self.conf)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

        def greets() -> bool:
            with socket.create_connection((self.host, self.port), timeout=1) as sock:
                return sock.recv(4).startswith(b"* OK")

        try:
            _wait_for(greets, self.proc, "Dovecot", log)
        except ServerUnavailable as exc:
            _stop_process(self.proc)
            raise ServerUnavailable(f"{exc}\n{_log_tail(self.root / 'dovecot.log')}") from None

    def stop(self) -> None:
        """Stop the master process; it takes its children down and frees the port."""
        _stop_process(self.proc)
        self.proc = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
            except OSError:
                return
            time.sleep(0.05)

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


# --------------------------------------------------------------------------- SMTP


class _Collector:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.server.lock:
            self.server.messages.append(message)
            self.server.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


@dataclass
class SmtpServer:
    """aiosmtpd in a thread; every accepted message lands in :attr:`messages`."""

    host: str = "127.0.0.1"
    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    controller: Any = None

    def start(self) -> None:
        try:
            from aiosmtpd.controller import Controller
        except ImportError as exc:
            raise ServerUnavailable("aiosmtpd is not installed (pip install aiosmtpd)") from exc
        self.port = self.port or free_port()
        self.controller = Controller(_Collector(self), hostname=self.host, port=self.port)
        try:
            self.controller.start()
        except Exception as exc:  # aiosmtpd raises bare RuntimeErrors on bind failures
            raise ServerUnavailable(f"aiosmtpd could not start: {exc}") from exc

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.envelopes.clear()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
