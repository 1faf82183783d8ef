"""Where QBO tokens live between refreshes: the :class:`TokenStore` protocol and two stores.

A store holds one company's :class:`TokenSet`. ``save`` must be atomic: a reader sees the old
set or the new one, never half of each, because a half-written refresh token is a lost company.
A store may also offer ``locked()``, a context manager that excludes other *processes* while
one of them refreshes; :class:`QboOAuth` takes it when present (threads of one process are
already serialized by the per-realm lock in ``auth``).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, SecretStr

from .._http import register_secret
from ..errors import AuthError

try:  # POSIX advisory locks; on other platforms the per-process lock is all there is
    import fcntl
except ImportError:  # pragma: no cover - not on Linux
    fcntl = None  # type: ignore[assignment]


class TokenSet(BaseModel):
    """One company's tokens. Times are epoch seconds (wall clock, shared across processes)."""

    model_config = ConfigDict(frozen=True)

    refresh_token: SecretStr
    access_token: SecretStr | None = None
    access_expires_at: float = 0.0
    refresh_expires_at: float | None = None
    refreshed_at: float | None = None

    def model_post_init(self, __context: object) -> None:
        register_secret(self.refresh_token.get_secret_value())

    def revealed(self) -> dict:
        """The set as plain JSON-ready data, secrets included: for stores only, never for logs."""
        data = self.model_dump()
        data["refresh_token"] = self.refresh_token.get_secret_value()
        data["access_token"] = self.access_token.get_secret_value() if self.access_token else None
        return data


@runtime_checkable
class TokenStore(Protocol):
    """Loads and atomically saves one company's :class:`TokenSet`."""

    def load(self) -> TokenSet: ...

    def save(self, tokens: TokenSet) -> None: ...


class MemoryTokenStore:
    """A store in this process's memory: for tests, and for one-off scripts that print the result."""

    def __init__(self, tokens: TokenSet | str) -> None:
        self._tokens = TokenSet(refresh_token=SecretStr(tokens)) if isinstance(tokens, str) else tokens
        self._lock = threading.Lock()
        self.saves = 0

    def __repr__(self) -> str:
        return f"MemoryTokenStore(saves={self.saves})"

    def load(self) -> TokenSet:
        with self._lock:
            return self._tokens

    def save(self, tokens: TokenSet) -> None:
        with self._lock:
            self._tokens = tokens
            self.saves += 1


class FileTokenStore:
    """A JSON file (mode 0600) replaced atomically on save, with a sibling ``.lock`` file that
    serializes refreshes across processes on this host."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"

    @classmethod
    def create(cls, path: str | os.PathLike[str], tokens: TokenSet | str) -> FileTokenStore:
        """A store at ``path`` seeded with ``tokens`` (a refresh token from the connect step)."""
        store = cls(path)
        store.save(TokenSet(refresh_token=SecretStr(tokens)) if isinstance(tokens, str) else tokens)
        return store

    def load(self) -> TokenSet:
        try:
            data = json.loads(self.path.read_text("utf-8"))
            return TokenSet.model_validate(data)
        except FileNotFoundError:
            raise AuthError(f"no QuickBooks tokens stored at {self.path}; connect the company first",
                            system="qbo", operation="token") from None
        except ValueError:  # JSON or validation: do not echo the content, it holds secrets
            raise AuthError(f"the QuickBooks token file {self.path} is unreadable; reconnect the company",
                            system="qbo", operation="token") from None

    def save(self, tokens: TokenSet) -> None:
        """Write to a temp file in the same directory, fsync, then ``os.replace`` over the old."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:  # mkstemp made it 0600
                json.dump(tokens.revealed(), handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with _suppress_oserror():
                os.unlink(tmp)
            raise
        _fsync_dir(self.path.parent)

    def locked(self):
        """Hold an exclusive advisory lock on the sibling lock file (blocks until free)."""
        return file_lock(self.lock_path)


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` across the processes of one host (flock)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def _suppress_oserror() -> Iterator[None]:
    try:
        yield
    except OSError:
        pass


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not every platform lets a directory be opened.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
