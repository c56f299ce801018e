"""The auditor's verifier: streams the stored log, rebuilds everything, returns a Report."""

from ledger.verify.verifier import Verifier

__all__ = ["Verifier"]
