"""Encryption in transit, proven against live servers (issue 14 item 7)."""
