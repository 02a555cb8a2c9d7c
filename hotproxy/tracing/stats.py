"""The tracing counters, under Envoy's names: a provider's (``tracing.zipkin.*``,
``tracing.opentelemetry.*``, one set a worker shares across its connection managers) and a
connection manager's decisions (``http.<stat_prefix>.tracing.*``)."""
from ..stats.schema import stat_set

ZipkinStats = stat_set("ZipkinStats", (
    "spans_sent", "timer_flushed", "reports_sent", "reports_dropped", "reports_failed",
    "reports_skipped_no_cluster"))

OpenTelemetryStats = stat_set("OpenTelemetryStats", (
    "spans_sent", "timer_flushed", "spans_dropped"))

DecisionStats = stat_set("DecisionStats", (
    "random_sampling", "service_forced", "client_enabled", "not_traceable", "health_check"))
