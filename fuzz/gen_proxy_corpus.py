#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Write the seed corpus of fuzz_proxy: PROXY v1 lines, v2 headers (one as
HAProxy emits it with send-proxy-v2-ssl-cn and a CRC32C), broken ones, and
two CIDR lists (the harness feeds every input to both parsers).

Usage: fuzz/gen_proxy_corpus.py [outdir]  (default fuzz/corpus/fuzz_proxy)
The bytes are built here independently of the C parser, from the spec."""
import os
import sys

SIG = b"\r\n\r\n\x00\r\nQUIT\n"
MQTT_CONNECT = b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00"


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def tlv(t, v):
    if isinstance(v, str):
        v = v.encode()
    return bytes([t]) + len(v).to_bytes(2, "big") + v


def v2(ver_cmd, fam, body, crc=False):
    """A v2 header; with crc, body must hold a zeroed CRC32C TLV value."""
    h = bytearray(SIG + bytes([ver_cmd, fam]) + len(body).to_bytes(2, "big") + body)
    if crc:
        at = h.index(b"\x03\x00\x04\x00\x00\x00\x00") + 3
        h[at:at + 4] = crc32c(bytes(h)).to_bytes(4, "big")
    return bytes(h)


ADDR4 = bytes([192, 0, 2, 1, 198, 51, 100, 7]) + (56324).to_bytes(2, "big") + (8883).to_bytes(2, "big")
ADDR6 = (bytes.fromhex("20010db8000000000000000000000001") +
         bytes.fromhex("20010db8000000000000000000000002") +
         (1234).to_bytes(2, "big") + (8883).to_bytes(2, "big"))

ssl = tlv(0x20, bytes([0x07]) + (0).to_bytes(4, "big") + tlv(0x21, "TLSv1.3") +
          tlv(0x22, "client-7") + tlv(0x23, "TLS_AES_256_GCM_SHA384"))
ssl_hdr = v2(0x21, 0x21, ADDR6 + tlv(0x03, b"\0\0\0\0") + tlv(0x02, "broker.example.com") + ssl,
             crc=True)
bad_crc = bytearray(ssl_hdr)
bad_crc[20] ^= 1

FILES = {
    "v1_tcp4.bin": b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n" + MQTT_CONNECT,
    "v1_tcp6.bin": b"PROXY TCP6 2001:db8::1 ::ffff:10.1.2.3 1234 8883\r\n",
    "v1_unknown.bin": b"PROXY UNKNOWN ffff:f::1 ::1 65535 65535\r\n",
    "v1_bad_port.bin": b"PROXY TCP4 192.168.0.1 192.168.0.11 056324 443\r\n",
    "v1_lf_only.bin": b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\n",
    "v2_tcp4.bin": v2(0x21, 0x11, ADDR4) + MQTT_CONNECT,
    "v2_tcp6_ssl_cn_crc.bin": ssl_hdr,
    "v2_local.bin": v2(0x20, 0x00, b""),
    "v2_bad_crc.bin": bytes(bad_crc),
    "v2_tlv_overrun.bin": v2(0x21, 0x11, ADDR4 + b"\x20\x00\x09\x07\x00\x00\x00\x00\x22\x00\x05ab"),
    "v2_udp.bin": v2(0x21, 0x12, ADDR4),
    "cidr_list.txt": b"10.0.0.0/8, 192.168.1.7 ::1 fd00::/8,::ffff:1.2.3.0/120",
    "cidr_bad.txt": b"10.0.0.0/8 10.0.0.0/33",
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_proxy")
    os.makedirs(out, exist_ok=True)
    for name, data in FILES.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print("wrote %d files to %s" % (len(FILES), out))


if __name__ == "__main__":
    main()
