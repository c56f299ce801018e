"""HTTP for the transparency log, standard library only: a bounded client (``client``) and the
two servers (``server``) — the static tiles (read-only) and a witness's ``add-checkpoint``.
Transport only: what the bytes mean is ``ledger.tlog``'s and ``ledger.application``'s."""
