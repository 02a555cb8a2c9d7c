"""A walk over an HPACK header block (RFC 7541) before jh2 decodes it (``hpack_block_error``): jh2's
Rust HPACK decoder panics on a truncated integer or string, and a panic unwinding through a gevent
greenlet killed the worker (SIGSEGV) in the conformance tests."""


def _integer(block, pos, end, prefix_mask):
    """HPACK integer at ``pos`` (RFC 7541 §5.1): (value, next position), or (None, _) when
    truncated or over 2^32."""
    value = block[pos] & prefix_mask
    pos += 1
    if value < prefix_mask:
        return value, pos
    shift = 0
    while pos < end:
        byte = block[pos]
        pos += 1
        value += (byte & 0x7F) << shift
        if value > 0xFFFFFFFF:
            return None, pos
        if not byte & 0x80:
            return value, pos
        shift += 7
    return None, pos


def hpack_block_error(block):
    """Why the HPACK header block is malformed, or None: a truncated integer or string, index 0,
    a table size update after a field (RFC 7541 §4.2). Index ranges, table sizes and Huffman codes
    are left to the decoder, which reports them without panicking."""
    end = len(block)
    pos = 0
    fields = False
    while pos < end:
        byte = block[pos]
        if byte & 0x80:                       # indexed field
            if byte == 0x80:
                return "index 0"
            if byte != 0xFF:
                pos += 1
            else:
                index, pos = _integer(block, pos, end, 0x7F)
                if index is None:
                    return "bad integer"
            fields = True
            continue
        if byte & 0x40:
            mask = 0x3F
        elif byte & 0x20:                     # dynamic table size update
            if fields:
                return "table size update after a field"
            size, pos = _integer(block, pos, end, 0x1F)
            if size is None:
                return "bad integer"
            continue
        else:
            mask = 0x0F
        index, pos = _integer(block, pos, end, mask)
        if index is None:
            return "bad integer"
        for _ in range(1 if index else 2):    # the name when not indexed, then the value
            if pos >= end:
                return "truncated string"
            length, pos = _integer(block, pos, end, 0x7F)
            if length is None or pos + length > end:
                return "truncated string"
            pos += length
        fields = True
    return None
