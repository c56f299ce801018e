"""The transparency log's formats, pure: RFC 9162 Merkle maths and proofs, C2SP signed notes,
checkpoints and cosignatures, the witness's checks, the evidence bundle's format.

Knows nothing of custody rules (as Go's ``sumdb/tlog`` and ``note`` know nothing of modules):
it imports from ``ledger.core`` only ``keys``, ``errors`` and ``canonical``.
"""
