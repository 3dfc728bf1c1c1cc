"""A decode job that kills its worker process on one clip, as a decoder crash would."""
import os

from harness.decodepool import decode_chunk as harness_decode_chunk


def decode_chunk(samples, protocol, cache_root):
    if any(s.id == "CRASH" for s in samples):
        os._exit(1)
    return harness_decode_chunk(samples, protocol, cache_root)
