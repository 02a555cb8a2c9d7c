"""Sans-IO HTTP/2 codecs: ServerCodec (downstream, codec.py) and ClientCodec (upstream,
client_codec.py) turn received bytes into events (events.py) and calls into bytes to send, with
Envoy's http2_protocol_options (options.py) and abuse limits (limits.py)."""
