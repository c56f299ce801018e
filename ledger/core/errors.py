"""The one error tree. The CLI maps each class to a message and an exit code."""


class LedgerError(Exception):
    """Base of every expected error. ``str(err)`` is one line a person can act on."""


class InputError(LedgerError):
    """Bad input: says which field (or file) is wrong and why."""


class PolicyViolation(LedgerError):
    """The step breaks a rule (presence, seals, counts, custody); nothing was written."""


class KeyringError(LedgerError):
    """A key file is missing, unreadable, or the passphrase is wrong."""


class StorageError(LedgerError):
    """The database is missing, unreadable, not a ledger, or changed underneath us."""


class ConcurrentChange(StorageError):
    """Another writer appended to the same stream first; re-draft and try again."""


class ResourceError(LedgerError):
    """The machine fell short: scratch space not writable or full, a worker process lost."""


class VerificationFailed(LedgerError):
    """A signature, hash or stored record does not verify."""


class NonCanonical(VerificationFailed, InputError):
    """Bytes that decode, but are not the one canonical encoding of their value."""
