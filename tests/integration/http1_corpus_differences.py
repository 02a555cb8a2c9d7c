"""Why hotproxy answers some corpus cases differently from Envoy on purpose (the ``why`` of a
case), and what it still needs from the connection manager or router (the ``needs``). Each is a
row of the deliberate-differences table in docs/envoy-reference.md."""

BARE_CR = ("a CR not followed by LF is refused (RFC 9112 §2.2): Envoy keeps it inside a value or waits "
           "for more, and a next hop may read it as a line end")
OBS_FOLD = ("obs-fold is refused with 400 (502 from an upstream), as RFC 9112 §5.2 allows: Envoy unfolds "
            "it, inside Content-Length and Transfer-Encoding too, a smuggling vector for any next hop that "
            "does not; llhttp only accepts a fold together with control bytes in every value")
DUPLICATE_HOST = ("RFC 9112 §3.2 requires a 400 for more than one Host: Envoy routes on one of them and "
                  "forwards both, so the upstream may read the other")
HOST_SYNTAX = ("userinfo is not part of a Host (RFC 9110 §4.2.4, §7.2): refused as in the Host-syntax "
               "and userinfo rows of the table")
EARLY_REFUSAL = ("bytes that cannot begin a request line are refused at their first byte, with the 400 "
                 "Envoy sends once the line ends (Envoy first waits for it)")
TE_TAB = ("llhttp does not read `chunked` followed by a tab as chunked, so hotproxy refuses it as a "
          "coding it does not implement (501) instead of guessing; Envoy trims the tab")
CHUNK_DATA_SLOP = ("chunk data must end with CRLF (RFC 9112 §7.1): Envoy skips whatever precedes the next "
                   "line end (`3\\r\\nhello\\r\\n` forwards `hel`), so two readers of one body disagree on it")
CHUNK_EXTENSION = ("a chunk extension is `;name[=value]` without control bytes (RFC 9112 §7.1.1): Envoy "
                   "ignores an empty name or a NUL, hotproxy refuses them")
CHUNK_EXTENSION_SIZE = ("the bytes of a chunk line, extensions included, are bounded like a head (60 KiB from a "
                        "client) and checked after each read: a 100 KB extension that arrives over several "
                        "reads is refused, one that arrives in one read is parsed (llhttp holds none of it); "
                        "Envoy reads any size")
TRAILER_FRAMING = ("framing fields in a trailer section are refused (RFC 9110 §6.5.1): Envoy drops the "
                   "trailers without looking at them")
TRAILER_COUNT = ("a trailer section is bounded like a head, 100 fields as well as 60 KiB (80 KiB from an "
                 "upstream); Envoy bounds only its bytes")
REQUEST_LINE_WHITESPACE = ("the request line is `method SP target SP version` (RFC 9112 §3): Envoy also "
                           "takes tabs and a trailing space, the leniency where parsers split a line "
                           "differently")
HTTP09 = ("llhttp reads an HTTP/0.9 request line as the start of a head, so hotproxy answers Envoy's 426 "
          "when the head ends (http09-with-blank-line), not when the line does")
BARE_LF_PIPELINED = ("a request line ended by a bare LF is re-parsed only when it is the first request of "
                     "a read: llhttp refuses it and does not say where it stopped, so a later one in the "
                     "same read cannot be found again (400)")
STATUS_CODE = ("a status code is three digits after one space (RFC 9112 §4): Envoy reads `2000` as 200 "
               "and skips a second space")
REASON_PHRASE = ("the reason phrase is never forwarded (both write their own), so a control byte in it "
                 "cannot reach the client; checking it would cost a parser callback per response")
ERROR_WITH_THE_HEAD = ("when the upstream's error arrives in the read that carries the response head, "
                       "nothing has gone to the client yet: hotproxy answers 502 and keeps the "
                       "connection, Envoy sends the 200 head and then resets it")
STALE_RETRY = ("a request that has sent no body and gets no byte back on a reused upstream connection is "
               "sent once more on a fresh one (the upstream may have closed the idle connection as the "
               "request left): the upstream sees it once or twice, depending on whether the pooled "
               "connection was reused; Envoy answers 503 at once")
UNSOLICITED_101 = ("hotproxy never asks for an upgrade, so a 101 is a protocol error (RFC 9110 §15.2.2): "
                   "Envoy relays it, then serves the next request on the connection the client switched")

