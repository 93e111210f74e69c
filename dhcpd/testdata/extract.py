#!/usr/bin/env python3
"""extract.py PCAP OUTDIR: each distinct DHCP client request (to port 67)
in a classic pcap file, as OUTDIR/<mac>-<n>.bin (the UDP payload)."""
import os
import struct
import sys


def packets(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        off += 16
        frame = data[off:off + incl]
        off += incl
        if linktype == 1:  # Ethernet
            if frame[12:14] != b"\x08\x00":
                continue
            ip = frame[14:]
        else:
            continue
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] != 17:
            continue
        udp = ip[ihl:]
        sport, dport = struct.unpack(">HH", udp[:4])
        yield sport, dport, udp[8:]


def main():
    pcap, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    seen = {}
    for sport, dport, payload in packets(pcap):
        if dport not in (67, 4011) or payload[0] != 1:
            continue
        mac = payload[28:34].hex(":").replace(":", "")
        n = seen.get(mac, 0) + 1
        seen[mac] = n
        with open(os.path.join(out, "%s-%02d.bin" % (mac, n)), "wb") as f:
            f.write(payload)


if __name__ == "__main__":
    main()
