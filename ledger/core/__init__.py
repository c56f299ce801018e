"""The pure core: canonical encoding, digests, keys, signatures, policy, findings.

Nothing in this package reads a clock, a file or a database; time and keys are passed in.
"""
