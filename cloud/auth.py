"""Bearer tokens, one tenant each. Only a token's SHA-256 is stored, never the token."""

import hashlib
import hmac
import re
import secrets
import time
from typing import Self

from cloud.database import Database, open_database
from shared.errors import InputError
from shared.settings import CloudSettings

DATABASE_NAME = "tokens.sqlite"
TOKEN_PREFIX = "hrt_"
TOKEN_BYTES = 32
TENANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    token_sha256 TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    created_at {real} NOT NULL
);
"""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    @classmethod
    def open(cls, settings: CloudSettings) -> "TokenStore":
        return cls(open_database(settings, DATABASE_NAME, _SCHEMA))

    def create(self, tenant: str) -> str:
        """A new token for ``tenant``: shown once, stored only as its hash."""
        if not TENANT_NAME.match(tenant):
            raise InputError(
                f"Invalid tenant name {tenant!r}: use 1-64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit."
            )
        token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        with self._db.transaction() as db:
            db.execute("INSERT INTO tokens VALUES (?, ?, ?)", (_digest(token), tenant, time.time()))
        return token

    def revoke(self, tenant: str) -> int:
        """Invalidate every token of ``tenant``; how many there were."""
        with self._db.transaction() as db:
            return db.execute("DELETE FROM tokens WHERE tenant = ?", (tenant,)).rowcount

    def tenant_for(self, token: str) -> str | None:
        """The tenant a token belongs to, or None for an unknown token."""
        digest = _digest(token)
        with self._db.reading() as db:
            row = db.execute("SELECT token_sha256, tenant FROM tokens WHERE token_sha256 = ?", (digest,)).fetchone()
        if row is None or not hmac.compare_digest(row["token_sha256"], digest):
            return None
        return row["tenant"]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
