"""The signing keys deliveries are signed with, and their rotation (protocol §9, §10.3)."""

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


class SigningKeys:
    """Deliveries sign with `current`; receivers also accept `next`, which a rotation promotes."""

    def __init__(self, current: str, next_key: str) -> None:
        self.current = current
        self.next = next_key

    def rotate(self) -> None:
        """current ← next, next ← a fresh key, as QStash rotates."""
        self.current, self.next = self.next, new_signing_key()

    def view(self) -> dict[str, str]:
        return {"current": self.current, "next": self.next}


def new_signing_key() -> str:
    """`sig_` and 28 random characters: 32 bytes, the length of real and dev keys."""
    return "sig_" + "".join(secrets.choice(_ALPHABET) for _ in range(28))
