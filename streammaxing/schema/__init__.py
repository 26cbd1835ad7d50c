"""The database: numbered migrations, the migration runner, and every SQL query with its row type.

Query functions take a connection and never commit: the caller (a request handler or a task) owns
the transaction.
"""
