"""``unmask batch``: scan a folder, a file list or a labels.csv into a table or JSONL, resumably.

- ``sources``  inputs → ``BatchItem`` (path, content sha256, optional label)
- ``sinks``    where records go: JSONL, SQLite or PostgreSQL; each knows what is already done
- ``runner``   the local runner (one process or a process pool) and the Ray Data runner
- ``command``  the ``batch`` subcommand

Resuming is keyed on (path, content sha256): a rerun skips what a sink already
holds, and a file changed since is scanned again.
"""
