"""Corpus: what an upstream answers. Status lines, reason phrases, framing, 1xx, 204/304, HEAD,
excess bytes, close-delimited bodies, trailers and head sizes (notation: http1_corpus.py)."""
from http1_corpus import OK, Family, response_head_of, status
from http1_corpus_differences import (BARE_CR, ERROR_WITH_THE_HEAD, OBS_FOLD, REASON_PHRASE,
                                     STALE_RETRY, STATUS_CODE, TRAILER_COUNT, UNSOLICITED_101)

EXCESS = b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\ninjected"

status_line = Family("response-status-line")
sl = status_line.response
sl("resp-ok", OK, "200:5 open | GET {T} HTTP/1.1")
sl("resp-reason-custom", status(b"HTTP/1.1 200 Fine Thanks"), "200:5 open | GET {T} HTTP/1.1")
sl("resp-reason-empty", status(b"HTTP/1.1 200 "), "200:5 open | GET {T} HTTP/1.1")
sl("resp-reason-missing", status(b"HTTP/1.1 200"), "200:5 open | GET {T} HTTP/1.1")
sl("resp-reason-long", status(b"HTTP/1.1 200 " + b"r" * 8000), "200:5 open | GET {T} HTTP/1.1")
sl("resp-reason-obs-text", status(b"HTTP/1.1 200 \xc3\xa9t\xe9"), "200:5 open | GET {T} HTTP/1.1")
sl("resp-reason-control", status(b"HTTP/1.1 200 O\x01K"), "502:87 open | GET {T} HTTP/1.1", hotproxy="200:5 open | GET {T} HTTP/1.1", why=REASON_PHRASE)
sl("resp-reason-nul", status(b"HTTP/1.1 200 O\x00K"), "502:87 open | GET {T} HTTP/1.1", hotproxy="200:5 open | GET {T} HTTP/1.1", why=REASON_PHRASE)
sl("resp-status-unknown-299", status(b"HTTP/1.1 299 Whatever"), "299:5 open | GET {T} HTTP/1.1")
sl("resp-status-599", status(b"HTTP/1.1 599 Whatever"), "599:5 open | GET {T} HTTP/1.1")
sl("resp-status-099", status(b"HTTP/1.1 099 Low"), "502:87 open | GET {T} HTTP/1.1", close_upstream=True)
sl("resp-status-600", status(b"HTTP/1.1 600 High"), "600:5 open | GET {T} HTTP/1.1")
sl("resp-status-999", status(b"HTTP/1.1 999 High"), "999:5 open | GET {T} HTTP/1.1")
sl("resp-status-4-digits", status(b"HTTP/1.1 2000 OK"), "200:5 open | GET {T} HTTP/1.1", hotproxy="502:87 open | GET {T} HTTP/1.1", why=STATUS_CODE, close_upstream=True)
sl("resp-status-2-digits", status(b"HTTP/1.1 20 OK"), "502:87 open | GET {T} HTTP/1.1", close_upstream=True)
sl("resp-status-letters", status(b"HTTP/1.1 abc OK"), "502:87 open | GET {T} HTTP/1.1", close_upstream=True)
sl("resp-status-two-spaces", status(b"HTTP/1.1  200 OK"), "200:5 open | GET {T} HTTP/1.1", hotproxy="502:87 open | GET {T} HTTP/1.1", why=STATUS_CODE, close_upstream=True)
sl("resp-http10", status(b"HTTP/1.0 200 OK"), "200:5 open | GET {T} HTTP/1.1")
sl("resp-http10-keep-alive", status(b"HTTP/1.0 200 OK", b"content-length: 5\r\nconnection: keep-alive\r\n"), "200:5 open | GET {T} HTTP/1.1")
sl("resp-http20", status(b"HTTP/2.0 200 OK"), "200:5 open | GET {T} HTTP/1.1", close_upstream=True)
sl("resp-http12", status(b"HTTP/1.2 200 OK"), "200:5 open | GET {T} HTTP/1.1", close_upstream=True)
sl("resp-http19", status(b"HTTP/1.9 200 OK"), "200:5 open | GET {T} HTTP/1.1", close_upstream=True)
sl("resp-http09", status(b"HTTP/0.9 200 OK"), "200:5 open | GET {T} HTTP/1.1", close_upstream=True)
sl("resp-http30", status(b"HTTP/3.0 200 OK"), "200:5 open | GET {T} HTTP/1.1", close_upstream=True)
sl("resp-http2", status(b"HTTP/2 200 OK"), "502:87 open | GET {T} HTTP/1.1", close_upstream=True)
sl("resp-version-lowercase", status(b"http/1.1 200 OK"), "502:87 open | GET {T} HTTP/1.1", close_upstream=True)
sl("resp-icy", status(b"ICY 200 OK"), "502:87 open | GET {T} HTTP/1.1", close_upstream=True)
sl("resp-lf-only", b"HTTP/1.1 200 OK\ncontent-length: 5\n\nhello", "200:5 open | GET {T} HTTP/1.1")
sl("resp-cr-only", b"HTTP/1.1 200 OK\rcontent-length: 5\r\r\nhello", "502:87 open | GET {T} HTTP/1.1", close_upstream=True)
sl("resp-garbage", b"garbage\r\n\r\n", "502:87 open | GET {T} HTTP/1.1", close_upstream=True)
sl("resp-headers-without-status-line", b"content-length: 5\r\n\r\nhello", "502:87 open | GET {T} HTTP/1.1", close_upstream=True)
sl("resp-empty-then-close", b"", "503:95 open | GET {T} HTTP/1.1", hotproxy="503:95 open | GET {T} HTTP/1.1 || 503:95 open | GET {T} HTTP/1.1 ; GET {T} HTTP/1.1", why=STALE_RETRY, close_upstream=True)
sl("resp-head-cut", b"HTTP/1.1 200 OK\r\ncontent-le", "502:87 open | GET {T} HTTP/1.1", close_upstream=True)

response_framing = Family("response-framing")
rf = response_framing.response
rf("resp-chunked", status(b"HTTP/1.1 200 OK", b"transfer-encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n"), "200:5:chunked open | GET {T} HTTP/1.1")
rf("resp-chunked-upper", status(b"HTTP/1.1 200 OK", b"Transfer-Encoding: CHUNKED\r\n", b"5\r\nhello\r\n0\r\n\r\n"), "200:5:chunked open | GET {T} HTTP/1.1")
rf("resp-chunked-extension", status(b"HTTP/1.1 200 OK", b"transfer-encoding: chunked\r\n",
                                    b'5;a="b"\r\nhello\r\n0\r\n\r\n'), "200:5:chunked open | GET {T} HTTP/1.1")
rf("resp-chunked-trailers", status(b"HTTP/1.1 200 OK", b"transfer-encoding: chunked\r\n",
                                   b"5\r\nhello\r\n0\r\nx-t: 1\r\n\r\n"), "200:5:chunked open | GET {T} HTTP/1.1")
rf("resp-chunked-bad-size", status(b"HTTP/1.1 200 OK", b"transfer-encoding: chunked\r\n", b"zz\r\nhello\r\n0\r\n\r\n"),
   "200:cut close | GET {T} HTTP/1.1", hotproxy="502:87 open | GET {T} HTTP/1.1", why=ERROR_WITH_THE_HEAD, close_upstream=True)
rf("resp-chunked-bad-size-after-20k", status(b"HTTP/1.1 200 OK", b"transfer-encoding: chunked\r\n",
                                             b"4e20\r\n" + b"x" * 20000 + b"\r\nzz\r\n"), "200:cut close | GET {T} HTTP/1.1", hotproxy="502:87 open | GET {T} HTTP/1.1 || 200:cut close | GET {T} HTTP/1.1",
   why=ERROR_WITH_THE_HEAD, close_upstream=True)
rf("resp-chunked-overflow", status(b"HTTP/1.1 200 OK", b"transfer-encoding: chunked\r\n",
                                   b"10000000000000005\r\nhello\r\n0\r\n\r\n"), "200:cut close | GET {T} HTTP/1.1", hotproxy="502:87 open | GET {T} HTTP/1.1", why=ERROR_WITH_THE_HEAD, close_upstream=True)
rf("resp-chunked-lf-only", status(b"HTTP/1.1 200 OK", b"transfer-encoding: chunked\r\n", b"5\nhello\n0\n\n"), "200:cut close | GET {T} HTTP/1.1", hotproxy="502:87 open | GET {T} HTTP/1.1", why=ERROR_WITH_THE_HEAD)
rf("resp-chunk-size-trailing-space", status(b"HTTP/1.1 200 OK", b"transfer-encoding: chunked\r\n",
                                            b"5 \r\nhello\r\n0\r\n\r\n"), "200:5:chunked open | GET {T} HTTP/1.1", close_upstream=True)
rf("resp-chunk-data-lf-only", status(b"HTTP/1.1 200 OK", b"transfer-encoding: chunked\r\n", b"5\r\nhello\n0\r\n\r\n"), "200:5:chunked open | GET {T} HTTP/1.1",
   close_upstream=True)
rf("resp-te-two-headers", status(b"HTTP/1.1 200 OK", b"transfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n",
                                 b"5\r\nhello\r\n0\r\n\r\n"), "502:87 open | GET {T} HTTP/1.1", close_upstream=True)
rf("resp-trailers-lf-only", status(b"HTTP/1.1 200 OK", b"transfer-encoding: chunked\r\n", b"5\r\nhello\r\n0\r\nx-t: 1\n\n"),
   "200:5:chunked open | GET {T} HTTP/1.1", close_upstream=True)
rf("resp-trailers-101", status(b"HTTP/1.1 200 OK", b"transfer-encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n"
                               + b"".join(b"t%d: v\r\n" % i for i in range(101)) + b"\r\n"), "200:5:chunked open | GET {T} HTTP/1.1", hotproxy="502:87 open | GET {T} HTTP/1.1", why=TRAILER_COUNT, close_upstream=True)
rf("resp-trailers-90k", status(b"HTTP/1.1 200 OK", b"transfer-encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n"
                               b"t: " + b"v" * 90000 + b"\r\n\r\n"), "200:cut close | GET {T} HTTP/1.1", hotproxy="502:87 open | GET {T} HTTP/1.1 || 200:cut close | GET {T} HTTP/1.1",
   why=ERROR_WITH_THE_HEAD, close_upstream=True)
rf("resp-chunked-no-end", status(b"HTTP/1.1 200 OK", b"transfer-encoding: chunked\r\n", b"5\r\nhello\r\n"), "200:cut close | GET {T} HTTP/1.1",
   close_upstream=True)
rf("resp-chunked-chunked", status(b"HTTP/1.1 200 OK", b"transfer-encoding: chunked, chunked\r\n",
                                  b"5\r\nhello\r\n0\r\n\r\n"), "502:87 open | GET {T} HTTP/1.1", close_upstream=True)
rf("resp-te-gzip", status(b"HTTP/1.1 200 OK", b"transfer-encoding: gzip\r\n", b"hello"), "502:87 open | GET {T} HTTP/1.1", close_upstream=True)
rf("resp-te-gzip-chunked", status(b"HTTP/1.1 200 OK", b"transfer-encoding: gzip, chunked\r\n",
                                  b"5\r\nhello\r\n0\r\n\r\n"), "502:87 open | GET {T} HTTP/1.1")
rf("resp-te-chunked-gzip", status(b"HTTP/1.1 200 OK", b"transfer-encoding: chunked, gzip\r\n", b"hello"), "502:87 open | GET {T} HTTP/1.1",
   close_upstream=True)
rf("resp-te-identity", status(b"HTTP/1.1 200 OK", b"transfer-encoding: identity\r\ncontent-length: 5\r\n"), "502:87 open | GET {T} HTTP/1.1",
   close_upstream=True)
rf("resp-cl-and-te", status(b"HTTP/1.1 200 OK", b"content-length: 5\r\ntransfer-encoding: chunked\r\n",
                            b"5\r\nhello\r\n0\r\n\r\n"), "502:87 open | GET {T} HTTP/1.1", close_upstream=True)
rf("resp-cl-duplicate-same", status(b"HTTP/1.1 200 OK", b"content-length: 5\r\ncontent-length: 5\r\n"), "502:87 open | GET {T} HTTP/1.1",
   close_upstream=True)
rf("resp-cl-duplicate-different", status(b"HTTP/1.1 200 OK", b"content-length: 5\r\ncontent-length: 6\r\n"), "502:87 open | GET {T} HTTP/1.1",
   close_upstream=True)
rf("resp-cl-list", status(b"HTTP/1.1 200 OK", b"content-length: 5, 5\r\n"), "502:87 open | GET {T} HTTP/1.1", close_upstream=True)
rf("resp-cl-plus", status(b"HTTP/1.1 200 OK", b"content-length: +5\r\n"), "502:87 open | GET {T} HTTP/1.1", close_upstream=True)
rf("resp-cl-negative", status(b"HTTP/1.1 200 OK", b"content-length: -1\r\n"), "502:87 open | GET {T} HTTP/1.1", close_upstream=True)
rf("resp-cl-leading-zeros", status(b"HTTP/1.1 200 OK", b"content-length: 005\r\n"), "200:5 open | GET {T} HTTP/1.1")
rf("resp-cl-overflow-64", status(b"HTTP/1.1 200 OK", b"content-length: 18446744073709551621\r\n"), "502:87 open | GET {T} HTTP/1.1",
   close_upstream=True)
rf("resp-cl-letters", status(b"HTTP/1.1 200 OK", b"content-length: five\r\n"), "502:87 open | GET {T} HTTP/1.1", close_upstream=True)
rf("resp-cl-empty", status(b"HTTP/1.1 200 OK", b"content-length:\r\n", b""), "502:87 open | GET {T} HTTP/1.1", close_upstream=True)
rf("resp-cl-longer-than-body", status(b"HTTP/1.1 200 OK", b"content-length: 10\r\n"), "200:cut close | GET {T} HTTP/1.1", close_upstream=True)
rf("resp-cl-zero", status(b"HTTP/1.1 200 OK", b"content-length: 0\r\n", b""), "200:0 open | GET {T} HTTP/1.1")
rf("resp-excess-after-cl", OK + EXCESS, "200:5 open | GET {T} HTTP/1.1")
rf("resp-excess-garbage", OK + b"garbage", "200:5 open | GET {T} HTTP/1.1")
rf("resp-close-delimited", status(b"HTTP/1.1 200 OK", b""), "200:5:chunked open | GET {T} HTTP/1.1", close_upstream=True)
rf("resp-close-delimited-connection-close", status(b"HTTP/1.1 200 OK", b"connection: close\r\n"), "200:5:chunked open | GET {T} HTTP/1.1",
   close_upstream=True)
rf("resp-http10-close-delimited", status(b"HTTP/1.0 200 OK", b""), "200:5:chunked open | GET {T} HTTP/1.1", close_upstream=True)
rf("resp-connection-close-with-cl", status(b"HTTP/1.1 200 OK", b"content-length: 5\r\nconnection: close\r\n"), "200:5 open | GET {T} HTTP/1.1",
   close_upstream=True)

interim = Family("response-1xx-204-304-head")
im = interim.response
im("resp-100-then-200", b"HTTP/1.1 100 Continue\r\n\r\n" + OK, "200:5 open | GET {T} HTTP/1.1")
im("resp-102-then-200", b"HTTP/1.1 102 Processing\r\n\r\n" + OK, "200:5 open | GET {T} HTTP/1.1")
im("resp-103-then-200", b"HTTP/1.1 103 Early Hints\r\nlink: </s.css>\r\n\r\n" + OK, "200:5 open | GET {T} HTTP/1.1")
im("resp-100-three-times", b"HTTP/1.1 100 Continue\r\n\r\n" * 3 + OK, "200:5 open | GET {T} HTTP/1.1")
im("resp-101-unsolicited", b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n",
   "101:none open | GET {T} HTTP/1.1", hotproxy="502:87 open | GET {T} HTTP/1.1", why=UNSOLICITED_101, close_upstream=True)
im("resp-100-cl-zero", b"HTTP/1.1 100 Continue\r\ncontent-length: 0\r\n\r\n" + OK, "200:5 open | GET {T} HTTP/1.1")
im("resp-1xx-with-cl", b"HTTP/1.1 100 Continue\r\ncontent-length: 5\r\n\r\n" + OK, "502:87 open | GET {T} HTTP/1.1")
im("resp-204", status(b"HTTP/1.1 204 No Content", b"x-a: 1\r\n", b""), "204:none open | GET {T} HTTP/1.1")
im("resp-204-cl-zero", status(b"HTTP/1.1 204 No Content", b"content-length: 0\r\n", b""), "204:none open | GET {T} HTTP/1.1")
im("resp-204-cl-five", status(b"HTTP/1.1 204 No Content"), "502:87 open | GET {T} HTTP/1.1")
im("resp-204-chunked", status(b"HTTP/1.1 204 No Content", b"transfer-encoding: chunked\r\n", b"0\r\n\r\n"), "502:87 open | GET {T} HTTP/1.1")
im("resp-204-stray-body", status(b"HTTP/1.1 204 No Content", b"x-a: 1\r\n"), "204:none open | GET {T} HTTP/1.1")
im("resp-304-cl", status(b"HTTP/1.1 304 Not Modified"), "304:none open | GET {T} HTTP/1.1")
im("resp-304-stray-body", status(b"HTTP/1.1 304 Not Modified", b"x-a: 1\r\n"), "304:none open | GET {T} HTTP/1.1")
im("resp-304-chunked", status(b"HTTP/1.1 304 Not Modified", b"transfer-encoding: chunked\r\n", b"0\r\n\r\n"), "304:none open | GET {T} HTTP/1.1")
im("resp-head-cl", status(b"HTTP/1.1 200 OK", body=b""), "200:none open | HEAD {T} HTTP/1.1", method="HEAD")
im("resp-head-chunked", status(b"HTTP/1.1 200 OK", b"transfer-encoding: chunked\r\n", b""), "200:none open | HEAD {T} HTTP/1.1", method="HEAD")
im("resp-head-with-body", OK, "200:none open | HEAD {T} HTTP/1.1", method="HEAD")
im("resp-head-no-framing", status(b"HTTP/1.1 200 OK", b"", b""), "200:none open | HEAD {T} HTTP/1.1", method="HEAD")

response_headers = Family("response-headers")
rh = response_headers.response
rh("resp-lf-header-line", status(b"HTTP/1.1 200 OK", b"x-a: 1\ncontent-length: 5\r\n"), "200:5 open | GET {T} HTTP/1.1")
rh("resp-cr-in-value", status(b"HTTP/1.1 200 OK", b"x-a: 1\r2\r\ncontent-length: 5\r\n"), "200:5 open | GET {T} HTTP/1.1", hotproxy="502:87 open | GET {T} HTTP/1.1", why=BARE_CR, close_upstream=True)
rh("resp-obs-fold", status(b"HTTP/1.1 200 OK", b"x-a: 1\r\n 2\r\ncontent-length: 5\r\n"), "200:5 open | GET {T} HTTP/1.1", hotproxy="502:87 open | GET {T} HTTP/1.1", why=OBS_FOLD)
rh("resp-space-before-colon", status(b"HTTP/1.1 200 OK", b"x-a : 1\r\ncontent-length: 5\r\n"), "502:87 open | GET {T} HTTP/1.1", close_upstream=True)
rh("resp-nul-in-value", status(b"HTTP/1.1 200 OK", b"x-a: 1\x002\r\ncontent-length: 5\r\n"), "502:87 open | GET {T} HTTP/1.1", close_upstream=True)
rh("resp-soh-in-value", status(b"HTTP/1.1 200 OK", b"x-a: 1\x012\r\ncontent-length: 5\r\n"), "502:87 open | GET {T} HTTP/1.1", close_upstream=True)
rh("resp-underscore-name", status(b"HTTP/1.1 200 OK", b"x_a: 1\r\ncontent-length: 5\r\n"), "200:5 open | GET {T} HTTP/1.1")
rh("resp-empty-name", status(b"HTTP/1.1 200 OK", b": 1\r\ncontent-length: 5\r\n"), "502:87 open | GET {T} HTTP/1.1", close_upstream=True)
rh("resp-no-colon", status(b"HTTP/1.1 200 OK", b"x-a 1\r\ncontent-length: 5\r\n"), "502:87 open | GET {T} HTTP/1.1", close_upstream=True)
rh("resp-duplicate-headers", status(b"HTTP/1.1 200 OK", b"x-a: 1\r\nx-a: 2\r\ncontent-length: 5\r\n"), "200:5 open | GET {T} HTTP/1.1")
rh("resp-obs-text-value", status(b"HTTP/1.1 200 OK", b"x-a: caf\xc3\xa9\r\ncontent-length: 5\r\n"), "200:5 open | GET {T} HTTP/1.1")
rh("resp-value-60k", status(b"HTTP/1.1 200 OK", b"x-a: " + b"v" * 60000 + b"\r\ncontent-length: 5\r\n"), "200:5 open | GET {T} HTTP/1.1")
rh("resp-head-81920", response_head_of(81920), "200:5 open | GET {T} HTTP/1.1")
rh("resp-head-81921", response_head_of(81921), "502:87 open | GET {T} HTTP/1.1", close_upstream=True)
rh("resp-headers-100", status(b"HTTP/1.1 200 OK", b"".join(b"x-h%d: v\r\n" % i for i in range(99))
                              + b"content-length: 5\r\n"), "200:5 open | GET {T} HTTP/1.1")
rh("resp-headers-101", status(b"HTTP/1.1 200 OK", b"".join(b"x-h%d: v\r\n" % i for i in range(100))
                              + b"content-length: 5\r\n"), "502:87 open | GET {T} HTTP/1.1", close_upstream=True)

FAMILIES = [status_line, response_framing, interim, response_headers]
