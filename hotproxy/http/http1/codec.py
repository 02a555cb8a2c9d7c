"""Sans-IO HTTP/1.1 codecs over httptools (llhttp): bytes in, events out.

``RequestDecoder`` (downstream side) and ``ResponseDecoder`` (upstream side) turn received bytes
into a list of events: a head object (``RequestHead`` / ``ResponseHead``, see heads.py), ``bytes``
for body data, and the ``END`` sentinel when a message is complete. The caller drains ``events``
after each ``feed``; nothing here touches a socket or a clock.

Protocol violations raise ``ProtocolError`` with the status Envoy answers with (400, 431, 501,
502 …) and Envoy's response-code detail. Request smuggling is llhttp's to refuse: it rejects a
Content-Length beside Transfer-Encoding, duplicate Content-Lengths and bad chunk framing.

Both directions bound what a peer can make them hold (decoding.py). This module is where
callers import them from; request_decoder.py and response_decoder.py hold the two directions.
"""
from .decoding import END
from .heads import RequestHead, ResponseHead
from .request_decoder import RequestDecoder
from .response_decoder import ResponseDecoder

__all__ = ["END", "RequestDecoder", "RequestHead", "ResponseDecoder", "ResponseHead"]
