"""What the fuzz targets in tests/fuzz/targets/ share: where things live, how an input is cut
into reads, the invariants of the HTTP/1 decoders, of the config parser and of the
listener-filter readers, and the config vocabulary that structured config trees are made of."""
