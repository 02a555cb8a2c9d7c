"""The datagram the workers send the flusher: a msgpack list of [destination, lines] pairs, where
lines is the concatenation of consecutive lines for that destination."""
import msgpack


def encode_batch(pending, limit):
    """(number of pending lines encoded, datagram) for the longest prefix of ``pending`` whose lines
    fit in ``limit`` bytes (always at least one line)."""
    groups = []
    size = 0
    count = 0
    for destination, line in pending:
        if count and size + len(line) > limit:
            break
        if groups and groups[-1][0] == destination:
            groups[-1][1].append(line)
        else:
            groups.append((destination, [line]))
        size += len(line)
        count += 1
    return count, msgpack.packb([[dest, b"".join(lines)] for dest, lines in groups], use_bin_type=True)


def encode_groups(groups):
    """The datagram of every line of ``groups``: (destination, [line, …]) pairs, consecutive
    lines for one destination (what encode_batch makes of them when they fit)."""
    return msgpack.packb([[destination, b"".join(lines)] for destination, lines in groups], use_bin_type=True)


def decode_batch(datagram):
    return msgpack.unpackb(datagram, raw=False)
