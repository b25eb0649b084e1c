#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Write the seed corpus of fuzz_ws. Each file starts with the six bytes
fuzz_ws reads as settings: max_frame selector, four chunk sizes, flags (bit 0:
keep one growing buffer). The frames after it are client frames, masked.

Usage: fuzz/gen_ws_corpus.py [outdir]  (default fuzz/corpus/fuzz_ws)
The bytes are built here from RFC 6455, independently of the C code."""
import os
import sys

MASK = bytes([0x37, 0xFA, 0x21, 0x3D])


def frame(op, payload=b"", fin=True, mask=MASK, rsv=0, len_form=None):
    n = len(payload)
    b0 = (0x80 if fin else 0) | rsv << 4 | op
    form = len_form or (7 if n < 126 else 16 if n < 65536 else 64)
    m = 0x80 if mask is not None else 0
    if form == 7:
        head = bytes([b0, m | n])
    elif form == 16:
        head = bytes([b0, m | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, m | 127]) + n.to_bytes(8, "big")
    if mask is None:
        return head + payload
    return head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


def close(code, reason=b""):
    return frame(8, code.to_bytes(2, "big") + reason)


# settings: max_frame byte, chunk sizes (as fuzz_ws decodes them), flags
ONE = bytes([0, 200, 200, 200, 200, 0])    # big chunks, buffer restarts
BYTES = bytes([0, 1, 1, 1, 1, 0])          # byte by byte
MIXED = bytes([0, 3, 130, 0, 7, 1])        # 3, 16, 0, 7; growing buffer

SEEDS = {
    "binary_hello": ONE + frame(2, b"Hello"),
    "fragments_ping": MIXED + frame(2, b"Hel", fin=False) + frame(9, b"ping")
    + frame(0, b"lo", fin=False) + frame(10, b"") + frame(0, b"!", fin=True)
    + close(1000, b"bye"),
    "len16": BYTES + frame(2, bytes(range(200))) + frame(9, b"x" * 125),
    "len64": MIXED + frame(2, bytes(300), len_form=64) + close(4000, "ünï".encode()),
    "text": ONE + frame(2, b"ok") + frame(1, b"Hello"),
    "unmasked": BYTES + frame(2, b"Hello", mask=None),
    "close_bad_utf8": MIXED + close(1001, b"\xed\xa0\x80"),
    "close_one_byte": BYTES + frame(8, b"\x03"),
    "too_big": bytes([4, 2, 2, 2, 2, 1]) + frame(2, b"abcd") + frame(2, b"abcde"),
    "zero_length": MIXED + frame(2, b"") + frame(9) + frame(2, b"", fin=False)
    + frame(0, b"") + frame(0, b"", fin=True) + frame(8),
    "reserved_opcode": ONE + frame(2, b"a", rsv=4) + frame(3),
    "cont_no_message": BYTES + frame(0, b"zz"),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_ws")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
