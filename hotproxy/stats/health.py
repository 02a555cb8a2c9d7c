"""Cluster stats that health checking adds beside stats/schema.py's ClusterStats, under the same
``cluster.<name>.`` prefix: ``lb_healthy_panic`` (requests balanced over every host because
fewer than half were healthy) and ``membership_excluded`` (hosts excluded by
x-envoy-immediate-health-check-fail)."""
from .schema import stat_set

ClusterHealthStats = stat_set("ClusterHealthStats", ("lb_healthy_panic",),
                              shared_gauges=("membership_excluded",))
