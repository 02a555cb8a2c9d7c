"""Listener filters (Envoy's envoy.filters.listener.*): each reads the first bytes of a connection
before a filter chain is chosen. The parsers here are sans-IO."""
