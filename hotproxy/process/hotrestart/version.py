"""The hot-restart protocol version: two epochs talk only when theirs are equal. It changes
whenever a message of the protocol changes meaning (docs/hot-restart.md)."""

VERSION = "hotproxy.1"
