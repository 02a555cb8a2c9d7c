"""Server-wide state a worker's filters consult: set by the arbiter (admin endpoints), read on the
request path."""


class ServerState:
    __slots__ = ("health_check_failed", "service_cluster")

    def __init__(self, service_cluster=""):
        self.service_cluster = service_cluster  # node.cluster, named in health-check answers
        #: POST /healthcheck/fail: health checks answer 503 and HTTP/1.1 responses close their
        #: connections, so that load balancers move traffic away (Envoy's drain-close)
        self.health_check_failed = False
