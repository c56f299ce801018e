"""custody-ledger: a hash-chained, co-signed audit ledger for examination-paper custody.

Layers import downward only: ``cli`` -> ``ledger.application`` -> ``ledger.domain`` ->
``ledger.core``. ``ledger.core`` is pure (no I/O, no clock) and is what an auditor trusts.
"""

__version__ = "0.1.0"
