#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Write the seed corpus of fuzz_codec: one file per packet type and protocol
level, a few whole sessions, and some malformed packets. Each file starts with
the byte fuzz_codec reads as the starting protocol level (low two bits:
0 -> none yet, 1 -> 3.1, 2 -> 3.1.1, 3 -> 5.0).

Usage: fuzz/gen_codec_corpus.py [outdir]  (default fuzz/corpus/fuzz_codec)
The bytes are built here independently of the C codec, from the specs."""
import os
import sys

SEL = {0: 0, 3: 1, 4: 2, 5: 3}


def vbi(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def s(b):
    if isinstance(b, str):
        b = b.encode()
    return len(b).to_bytes(2, "big") + b


def u16(n):
    return n.to_bytes(2, "big")


def u32(n):
    return n.to_bytes(4, "big")


def pkt(b0, body):
    return bytes([b0]) + vbi(len(body)) + body


def props(*items):
    body = b"".join(items)
    return vbi(len(body)) + body


def user(k, v):
    return b"\x26" + s(k) + s(v)


def connect(level, flags=0x02, ka=60, cid="client", pr=b"", tail=b""):
    name = "MQIsdp" if level == 3 else "MQTT"
    body = s(name) + bytes([level, flags]) + u16(ka)
    if level == 5:
        body += pr or props()
    return pkt(0x10, body + s(cid) + tail)


def with_props(level, pr):
    return (pr or props()) if level == 5 else b""


def corpus():
    files = {}
    for lv in (3, 4, 5):
        v = "v%d" % lv
        files[v + "_connect_min"] = (lv, connect(lv))
        will_props = b""
        if lv == 5:
            will_props = props(b"\x18" + u32(30), b"\x01\x01", b"\x02" + u32(60),
                               b"\x03" + s("text/plain"), b"\x08" + s("r/t"),
                               b"\x09" + s(b"\x00\xff"), user("wk", "wv"))
        tail = will_props + s("will/topic") + s(b"gone") + s("user") + s(b"pass")
        cp = props(b"\x11" + u32(3600), b"\x21" + u16(20), b"\x22" + u16(10),
                   b"\x27" + u32(1 << 20), b"\x17\x01", b"\x19\x01", b"\x15" + s("PLAIN"),
                   b"\x16" + s(b"\x00u\x00p"), user("a", "b"))
        files[v + "_connect_full"] = (lv, connect(lv, 0xEE, 0, "c\xe9", cp, tail))
        rc = 0x86 if lv == 5 else 4
        ca = props(b"\x11" + u32(0), b"\x12" + s("auto-7"), b"\x13" + u16(30),
                   b"\x1a" + s("info"), b"\x1c" + s("other"), b"\x1f" + s("ok"),
                   b"\x21" + u16(10), b"\x22" + u16(5), b"\x24\x01", b"\x25\x00",
                   b"\x27" + u32(65536), b"\x28\x01", b"\x29\x00", b"\x2a\x01", user("x", ""))
        files[v + "_connack"] = (lv, pkt(0x20, b"\x01\x00" + with_props(lv, ca)))
        files[v + "_connack_refused"] = (lv, pkt(0x20, bytes([0, rc]) + with_props(lv, b"")))
        pp = props(b"\x01\x01", b"\x02" + u32(10), b"\x03" + s("json"), b"\x08" + s("resp"),
                   b"\x09" + s(b"\x01\x02"), b"\x0b\x05", b"\x0b\x80\x01", b"\x23" + u16(3),
                   user("k", "v"))
        files[v + "_publish_q0"] = (lv, pkt(0x30, s("a/b") + with_props(lv, b"") + b"hello"))
        files[v + "_publish_q1"] = (lv, pkt(0x33, s("a/b") + u16(1) + with_props(lv, pp) + b"x"))
        files[v + "_publish_q2"] = (lv, pkt(0x3C, s("s/\xe2\x82\xac") + u16(65535) +
                                            with_props(lv, b"") + bytes(range(256))))
        for t, name in ((0x40, "puback"), (0x50, "pubrec"), (0x62, "pubrel"), (0x70, "pubcomp")):
            files[v + "_" + name] = (lv, pkt(t, u16(7)))
        sub = s("a/+") + b"\x01" + s("#") + b"\x02"
        if lv == 5:
            sub += s("$share/g/x") + b"\x2d"
        files[v + "_subscribe"] = (lv, pkt(0x82, u16(2) + with_props(lv, props(b"\x0b\x07")) + sub))
        codes = b"\x00\x01\x02\x80"
        files[v + "_suback"] = (lv, pkt(0x90, u16(2) + with_props(lv, b"") + codes))
        files[v + "_unsubscribe"] = (lv, pkt(0xA2, u16(3) + with_props(lv, props(user("u", "1")))
                                             + s("a/+") + s("b")))
        unsub = with_props(lv, b"") + b"\x00\x11" if lv == 5 else b""
        files[v + "_unsuback"] = (lv, pkt(0xB0, u16(3) + unsub))
        files[v + "_pingreq"] = (lv, pkt(0xC0, b""))
        files[v + "_pingresp"] = (lv, pkt(0xD0, b""))
        files[v + "_disconnect"] = (lv, pkt(0xE0, b""))

    # v5 only forms.
    files["v5_puback_reason"] = (5, pkt(0x40, u16(9) + b"\x10"))
    files["v5_pubrec_props"] = (5, pkt(0x50, u16(9) + b"\x80" + props(b"\x1f" + s("no"),
                                                                     user("a", "b"))))
    files["v5_pubrel_notfound"] = (5, pkt(0x62, u16(9) + b"\x92" + props()))
    files["v5_disconnect_props"] = (5, pkt(0xE0, b"\x04" + props(b"\x11" + u32(5),
                                                                 b"\x1f" + s("bye"),
                                                                 b"\x1c" + s("srv"))))
    files["v5_disconnect_reason"] = (5, pkt(0xE0, b"\x8e"))
    files["v5_auth"] = (5, pkt(0xF0, b"\x18" + props(b"\x15" + s("SCRAM"), b"\x16" + s(b"\x01"))))
    files["v5_auth_empty"] = (5, pkt(0xF0, b""))
    files["v5_publish_alias"] = (5, pkt(0x30, s("") + props(b"\x23" + u16(1)) + b"p"))

    # Whole sessions, starting before CONNECT.
    for lv in (3, 4, 5):
        files["v%d_session" % lv] = (0, connect(lv) + pkt(0x82, u16(1) + with_props(lv, b"") +
                                                          s("t/#") + b"\x01")
                                     + pkt(0x32, s("t/1") + u16(2) + with_props(lv, b"") + b"m")
                                     + pkt(0xC0, b"") + pkt(0xE0, b""))

    # Malformed: one rule each.
    bad = {
        "bad_type0": (4, b"\x00\x00"),
        "bad_flags_connack": (4, b"\x21\x02\x00\x00"),
        "bad_pubrel_flags": (4, b"\x60\x02\x00\x01"),
        "bad_qos3": (4, b"\x36\x05" + s("t") + b"\x00\x01"),
        "bad_dup_qos0": (5, b"\x38\x04" + s("t") + b"\x00"),
        "bad_length5": (4, b"\x30\xff\xff\xff\xff\x7f"),
        "bad_length_overlong": (4, b"\x30\x80\x00"),
        "bad_topic_utf8": (4, pkt(0x30, s(b"\xed\xa0\x80") + b"x")),
        "bad_packet_id0": (4, pkt(0x32, s("t") + u16(0))),
        "bad_connect_version": (0, pkt(0x10, s("MQTT") + b"\x07\x02" + u16(0) + s("c"))),
        "bad_connect_reserved": (0, pkt(0x10, s("MQTT") + b"\x04\x03" + u16(0) + s("c"))),
        "bad_connect_will_qos3": (0, pkt(0x10, s("MQTT") + b"\x04\x1e" + u16(0) + s("c") +
                                         s("w") + s(b""))),
        "bad_prop_dup": (5, pkt(0x30, s("t") + props(b"\x01\x00", b"\x01\x01"))),
        "bad_prop_unknown": (5, pkt(0x30, s("t") + props(b"\x05\x00"))),
        "bad_prop_wrong_packet": (5, pkt(0x30, s("t") + props(b"\x11" + u32(1)))),
        "bad_subid0": (5, pkt(0x82, u16(1) + props(b"\x0b\x00") + s("a") + b"\x00")),
        "bad_sub_empty": (4, pkt(0x82, u16(1))),
        "bad_sub_options": (5, pkt(0x82, u16(1) + props() + s("a") + b"\x30")),
        "bad_trailing": (4, pkt(0xC0, b"\x00")),
    }
    files.update(bad)
    return files


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_codec")
    os.makedirs(out, exist_ok=True)
    for name, (lv, data) in sorted(corpus().items()):
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(bytes([SEL[lv]]) + data)


if __name__ == "__main__":
    main()
