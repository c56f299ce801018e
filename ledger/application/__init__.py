"""The eventsourcing Application: record, sign, submit; the key store on disk."""
