"""The local_ratelimit and fault HTTP filters through real processes: a local rate limit holds
for the process tree (two workers share its bucket, as Envoy's threads do), descriptors from
route rate_limits, fault delays, aborts and the response rate limit; and the same configs on
hotproxy and Envoy 1.40 answer the client alike."""
import time


from harness import (RawClient, admin_counter, http_listener, simple_routes, static_cluster, to_yaml,
                     workers)

ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
LRL_TYPE = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
FAULT_TYPE = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
ALWAYS = {"default_value": {"numerator": 100, "denominator": "HUNDRED"}, "runtime_key": "rl"}
ALL = {"numerator": 100}


def local_ratelimit(**fields):
    return {"name": "envoy.filters.http.local_ratelimit",
            "typed_config": {"@type": LRL_TYPE, "stat_prefix": "http_local_rate_limiter",
                             "filter_enabled": ALWAYS, "filter_enforced": ALWAYS, **fields}}


def fault(**fields):
    return {"name": "envoy.filters.http.fault", "typed_config": {"@type": FAULT_TYPE, **fields}}


def config(upstream_port, filters, route_extra=None, reuse_port=False, routes=None, vhost_extra=None):
    route = {"match": {"prefix": "/"}, "route": {"cluster": "backend", **(route_extra or {})}}
    route_config = simple_routes(*(routes or [route]))
    route_config["virtual_hosts"][0].update(vhost_extra or {})
    listener = http_listener("http", "listen", route_config,
                             hcm_extra={"http_filters": [*filters, ROUTER]})
    if reuse_port:
        listener["enable_reuse_port"] = True
    return to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [listener], "clusters": [static_cluster("backend", upstream_port)]}})


def get(port, path="/", headers=()):
    """One request on a connection of its own (so that SO_REUSEPORT spreads them over workers)."""
    client = RawClient(port)
    try:
        return client.request("GET", path, headers=(("Host", "test"), *headers))
    finally:
        client.close()


def test_the_bucket_holds_across_two_workers(proxy_factory, upstream):
    text = config(upstream.port, [local_ratelimit(token_bucket={"max_tokens": 6, "fill_interval": "3600s"})],
                  reuse_port=True)
    proxy = proxy_factory(text, extra_args=("--concurrency", "2"))
    port = proxy.port("listen")
    before = len(upstream.requests)          # the harness's readiness probe
    responses = [get(port) for _ in range(30)]
    assert sorted(r.status for r in responses) == [200] * 6 + [429] * 24
    limited = next(r for r in responses if r.status == 429)
    assert limited.body == b"local_rate_limited"
    assert len(upstream.requests) - before == 6
    admin = proxy.port("admin")
    assert admin_counter(admin, "http_local_rate_limiter.http_local_rate_limit.ok") == 6
    assert admin_counter(admin, "http_local_rate_limiter.http_local_rate_limit.rate_limited") == 24
    assert admin_counter(admin, "http_local_rate_limiter.http_local_rate_limit.enforced") == 24
    # 30 connections spread by SO_REUSEPORT over both workers: buckets per worker would have
    # let up to 12 through
    assert len(workers(proxy)) == 2


def test_tokens_come_back_at_the_fill_rate(proxy_factory, upstream):
    text = config(upstream.port, [local_ratelimit(
        token_bucket={"max_tokens": 2, "tokens_per_fill": 2, "fill_interval": "1s"})])
    proxy = proxy_factory(text, extra_args=("--concurrency", "2"))
    port = proxy.port("listen")
    time.sleep(1.1)                          # the readiness probe's token is back
    assert [get(port).status for _ in range(3)] == [200, 200, 429]
    time.sleep(0.6)                          # one token back (2 a second)
    assert [get(port).status for _ in range(2)] == [200, 429]


def test_descriptors_from_route_rate_limits(proxy_factory, upstream):
    limiter = local_ratelimit(
        token_bucket={"max_tokens": 100, "fill_interval": "60s"},
        descriptors=[{"entries": [{"key": "user", "value": "alice"}],
                      "token_bucket": {"max_tokens": 1, "fill_interval": "60s"}}],
        enable_x_ratelimit_headers="DRAFT_VERSION_03")
    rate_limits = [{"actions": [{"request_headers": {"header_name": "x-user", "descriptor_key": "user"}}]}]
    proxy = proxy_factory(config(upstream.port, [limiter], {"rate_limits": rate_limits}),
                          extra_args=("--concurrency", "2"))
    port = proxy.port("listen")
    alice = (("x-user", "alice"),)
    first, second = get(port, headers=alice), get(port, headers=alice)
    assert (first.status, second.status) == (200, 429)
    assert (first.header("x-ratelimit-limit"), first.header("x-ratelimit-remaining")) == ("1", "0")
    assert second.header("x-ratelimit-limit") == "1" and second.header("x-ratelimit-reset") == "60"
    assert [get(port, headers=(("x-user", "bob"),)).status for _ in range(3)] == [200] * 3


def test_a_route_has_a_bucket_of_its_own(proxy_factory, upstream):
    per_route = {"@type": LRL_TYPE, "stat_prefix": "http_local_rate_limiter",
                 "token_bucket": {"max_tokens": 3, "fill_interval": "3600s"},
                 "filter_enabled": ALWAYS, "filter_enforced": ALWAYS}
    routes = [{"match": {"prefix": "/own"}, "route": {"cluster": "backend"},
               "typed_per_filter_config": {"envoy.filters.http.local_ratelimit": per_route}},
              {"match": {"prefix": "/"}, "route": {"cluster": "backend"}}]
    text = config(upstream.port, [local_ratelimit(token_bucket={"max_tokens": 1, "fill_interval": "3600s"})],
                  routes=routes)
    proxy = proxy_factory(text, extra_args=("--concurrency", "2"), listeners=["admin"])
    port = proxy.port("listen")
    assert [get(port, "/own").status for _ in range(4)] == [200, 200, 200, 429]
    assert [get(port, "/other").status for _ in range(2)] == [200, 429]


def test_virtual_host_rate_limits(proxy_factory, upstream):
    limiter = local_ratelimit(
        token_bucket={"max_tokens": 100, "fill_interval": "60s"},
        descriptors=[{"entries": [{"key": "generic_key", "value": "vh"}],
                      "token_bucket": {"max_tokens": 1, "fill_interval": "60s"}}])
    vhost = {"rate_limits": [{"actions": [{"generic_key": {"descriptor_value": "vh"}}]}]}
    proxy = proxy_factory(config(upstream.port, [limiter], vhost_extra=vhost), listeners=["admin"])
    assert [get(proxy.port("listen")).status for _ in range(2)] == [200, 429]


def test_fault_abort_and_delay(proxy_factory, upstream):
    text = config(upstream.port, [fault(delay={"header_delay": {}, "percentage": ALL},
                                        abort={"header_abort": {}, "percentage": ALL})])
    proxy = proxy_factory(text, extra_args=("--concurrency", "2"))
    port = proxy.port("listen")
    aborted = get(port, headers=(("x-envoy-fault-abort-request", "503"),))
    assert (aborted.status, aborted.body) == (503, b"fault filter abort")
    started = time.monotonic()
    delayed = get(port, headers=(("x-envoy-fault-delay-request", "400"),))
    assert delayed.status == 200 and time.monotonic() - started >= 0.4
    assert get(port).status == 200
    admin = proxy.port("admin")
    assert admin_counter(admin, "http.ingress_http.fault.aborts_injected") == 1
    assert admin_counter(admin, "http.ingress_http.fault.delays_injected") == 1


def test_fault_response_rate_limit(proxy_factory, upstream):
    text = config(upstream.port, [fault(response_rate_limit={"fixed_limit": {"limit_kbps": 64},
                                                             "percentage": ALL})])
    proxy = proxy_factory(text)
    started = time.monotonic()
    response = get(proxy.port("listen"), path="/bytes/65536")
    elapsed = time.monotonic() - started
    assert response.status == 200
    # 64 KiB at 64 KiB/s, the first 1/16 s worth free
    assert 0.8 < elapsed < 3.0, elapsed


# --- against Envoy 1.40 ------------------------------------------------------------------------

SHOWN = ("content-type", "content-length", "x-ratelimit-limit", "x-ratelimit-remaining",
         "x-ratelimit-reset", "x-rl", "x-envoy-ratelimited")


def seen(response):
    return (response.status, response.body,
            {name: response.header(name) for name in SHOWN if response.header(name) is not None})


def test_429_as_envoy_answers_it(peer_factory, upstream):
    limiter = local_ratelimit(token_bucket={"max_tokens": 2, "fill_interval": "3600s"},
                              enable_x_ratelimit_headers="DRAFT_VERSION_03",
                              response_headers_to_add=[{"header": {"key": "x-rl", "value": "yes"}}])
    peer = peer_factory(config(upstream.port, [limiter]))
    port = peer.port("listen")
    answers = [seen(get(port)) for _ in range(3)]
    # the readiness probe of hotproxy's harness took a token; Envoy's starts afresh
    limited = [answer for answer in answers if answer[0] == 429]
    assert limited, answers
    assert limited[0] == (429, b"local_rate_limited", {
        "content-type": "text/plain", "content-length": "18", "x-ratelimit-limit": "2",
        "x-ratelimit-remaining": "0", "x-ratelimit-reset": "3600", "x-rl": "yes"})
    assert peer.counter("http_local_rate_limiter.http_local_rate_limit.enforced") == len(limited)


def test_fault_abort_and_delay_as_envoy_answers_them(peer_factory, upstream):
    peer = peer_factory(config(upstream.port, [fault(
        delay={"header_delay": {}, "percentage": ALL},
        abort={"header_abort": {}, "percentage": ALL})]))
    port = peer.port("listen")
    aborted = get(port, headers=(("x-envoy-fault-abort-request", "418"),))
    assert seen(aborted) == (418, b"fault filter abort",
                             {"content-type": "text/plain", "content-length": "18"})
    started = time.monotonic()
    delayed = get(port, headers=(("x-envoy-fault-delay-request", "300"),
                                 ("x-envoy-fault-abort-request", "503")))
    assert time.monotonic() - started >= 0.25      # Envoy's timers run on its loop's cached time
    assert seen(delayed)[:2] == (503, b"fault filter abort")
    assert peer.counter("http.ingress_http.fault.delays_injected") == 1
    assert peer.counter("http.ingress_http.fault.aborts_injected") == 2


def test_fault_fixed_abort_with_a_response_body_as_envoy_answers_it(peer_factory, upstream):
    peer = peer_factory(config(upstream.port, [fault(
        abort={"http_status": 502, "percentage": ALL, "response_body": "injected"},
        headers=[{"name": "x-chaos", "present_match": True}])]))
    port = peer.port("listen")
    assert seen(get(port, headers=(("x-chaos", "1"),))) == (
        502, b"injected", {"content-type": "text/plain", "content-length": "8"})
    assert get(port).status == 200


def test_not_enforced_as_envoy_does_it(peer_factory, upstream):
    """Over the limit but not enforced: the request goes on, with the added headers upstream."""
    limiter = local_ratelimit(token_bucket={"max_tokens": 1, "fill_interval": "3600s"},
                              request_headers_to_add_when_not_enforced=[
                                  {"header": {"key": "x-over-limit", "value": "true"}}])
    limiter["typed_config"].pop("filter_enforced")
    peer = peer_factory(config(upstream.port, [limiter]))
    port = peer.port("listen")
    statuses = [get(port, path=f"/n{index}").status for index in range(3)]
    assert statuses == [200, 200, 200]
    marked = [dict(request["headers"]).get("x-over-limit")
              for request in upstream.requests if request["path"].startswith("/n")]
    # Envoy's bucket is fresh; hotproxy's took no token for the readiness probe either
    assert marked == [None, "true", "true"]
    assert peer.counter("http_local_rate_limiter.http_local_rate_limit.rate_limited") == 2
    assert peer.counter("http_local_rate_limiter.http_local_rate_limit.enforced") == 0


def test_descriptors_and_per_route_configs_as_envoy_counts_them(peer_factory, upstream):
    per_route = {"@type": LRL_TYPE, "stat_prefix": "http_local_rate_limiter",
                 "token_bucket": {"max_tokens": 2, "fill_interval": "3600s"},
                 "filter_enabled": ALWAYS, "filter_enforced": ALWAYS,
                 "enable_x_ratelimit_headers": "DRAFT_VERSION_03",
                 "descriptors": [{"entries": [{"key": "user", "value": "alice"}],
                                  "token_bucket": {"max_tokens": 1, "fill_interval": "3600s"}}]}
    rate_limits = [{"actions": [{"request_headers": {"header_name": "x-user", "descriptor_key": "user"}}]}]
    routes = [{"match": {"prefix": "/own"}, "route": {"cluster": "backend", "rate_limits": rate_limits},
               "typed_per_filter_config": {"envoy.filters.http.local_ratelimit": per_route}},
              {"match": {"prefix": "/"}, "route": {"cluster": "backend"}}]
    peer = peer_factory(config(upstream.port, [local_ratelimit(
        token_bucket={"max_tokens": 50, "fill_interval": "3600s"})], routes=routes))
    port = peer.port("listen")
    alice = (("x-user", "alice"),)
    # alice's first request takes the route's default bucket's token too
    # (always_consume_default_token_bucket); her second is refused by her descriptor alone
    answers = [seen(get(port, "/own", headers=alice)), seen(get(port, "/own", headers=alice)),
               seen(get(port, "/own")), seen(get(port, "/own")), seen(get(port, "/own"))]
    assert [(status, {k: v for k, v in headers.items() if k.startswith("x-ratelimit")})
            for status, _, headers in answers] == [
        (200, {"x-ratelimit-limit": "1", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "3600"}),
        (429, {"x-ratelimit-limit": "1", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "3600"}),
        (200, {"x-ratelimit-limit": "2", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "3600"}),
        (429, {"x-ratelimit-limit": "2", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "3600"}),
        (429, {"x-ratelimit-limit": "2", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "3600"})]
    assert get(port, "/other").status == 200
    assert peer.counter("http_local_rate_limiter.http_local_rate_limit.enforced") == 3


def test_a_per_route_config_counts_under_its_own_stat_prefix(proxy_factory, upstream):
    per_route = {"@type": LRL_TYPE, "stat_prefix": "route_rl",
                 "token_bucket": {"max_tokens": 1, "fill_interval": "3600s"},
                 "filter_enabled": ALWAYS, "filter_enforced": ALWAYS}
    routes = [{"match": {"prefix": "/"}, "route": {"cluster": "backend"},
               "typed_per_filter_config": {"envoy.filters.http.local_ratelimit": per_route}}]
    proxy = proxy_factory(config(upstream.port, [local_ratelimit()], routes=routes))
    assert [get(proxy.port("listen")).status for _ in range(2)] == [200, 429]
    assert admin_counter(proxy.port("admin"), "route_rl.http_local_rate_limit.enforced") == 1


def test_a_reload_changing_the_limit_takes_effect(proxy_factory, upstream):
    from harness import reload, rewrite
    limited = config(upstream.port, [local_ratelimit(token_bucket={"max_tokens": 2, "fill_interval": "3600s"})])
    proxy = proxy_factory(limited, extra_args=("--concurrency", "2"))
    port = proxy.port("listen")
    assert [get(port).status for _ in range(3)] == [200, 200, 429]
    rewrite(proxy, config(upstream.port, [local_ratelimit(
        token_bucket={"max_tokens": 4, "fill_interval": "3600s"})]))
    reload(proxy, 1)
    time.sleep(0.5)
    assert [get(port).status for _ in range(5)] == [200] * 4 + [429]
