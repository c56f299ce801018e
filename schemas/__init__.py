"""JSON Schemas for every event body, the policy file and the verification report.

A package only so the files install with the code; read them with ``ledger.domain.schemas``.
"""
