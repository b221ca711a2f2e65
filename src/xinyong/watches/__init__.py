"""Watches: business systems subscribe to subjects and receive signed webhooks when they enter or leave a list."""
