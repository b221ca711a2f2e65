"""Exchange with the provincial and national platforms (issue #16): the outbox feed, national formats, export,
push, status and reconciliation. See docs/exchange.md."""
