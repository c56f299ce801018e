"""Aggregates and events on the eventsourcing library: Ledger, Person, Lot."""
