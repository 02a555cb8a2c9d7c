"""Distributed tracing (Envoy's HCM ``tracing``): Zipkin and OpenTelemetry spans, B3 and W3C
propagation, Envoy's sampling decision carried in the x-request-id. See docs/tracing.md."""
