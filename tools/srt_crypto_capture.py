#!/usr/bin/env python3
"""Records encrypted libsrt sessions and writes the SRT crypto test fixtures.

Two `srt-live-transmit` processes (libsrt 1.5.1 on Debian 12) talk through a UDP
relay on 127.0.0.1 that records every datagram in both directions:

    srt-live-transmit -a no -chunk 188 file://con \
        "srt://127.0.0.1:RELAY?passphrase=P&pbkeylen=N&kmrefreshrate=32"
        (caller, sender; plaintext.bin written to its stdin pipe a chunk at a time)
    srt-live-transmit "srt://127.0.0.1:LISTEN?mode=listener&passphrase=P&pbkeylen=N" file://con
        (listener, receiver; its stdout must equal plaintext.bin, so libsrt itself
        decrypted every packet)

kmrefreshrate=32 makes the sender refresh its key every 32 packets, so each session
shows the whole key schedule: even key from the handshake, an in-stream KMREQ with both
keys (pre-announce), the switch to the odd key, another KMREQ, the switch back to a new
even key. (libsrt 1.5.1 aborts with SIGABRT for kmrefreshrate=10; 32 works.)

From each recording it keeps, under protocol-parsers/tests/data/srt/aesBITS/:
    hs_conclusion_req.bin  the caller's conclusion handshake (whole UDP payload), KMREQ inside
    hs_conclusion_rsp.bin  the listener's conclusion handshake, KMRSP inside
    kmreq.bin              the content of the KMREQ extension (type 3) as on the wire
    stream.bin             caller -> listener, in capture order: the distinct in-stream KMREQ
                           control packets (UMSG_EXT, subtype 3) and some data packets (of
                           every run under one key, KK, the first two and the last)
stream.bin holds records of a big-endian u16 length and the whole UDP payload.
plaintext.bin is shared: chunk k (CHUNK bytes) is the payload of the packet with sequence
number ISN + k. The KMs are also copied to fuzz/corpus/srt_key_material/.

Usage: python3 tools/srt_crypto_capture.py   (from the repository root; needs srt-tools)
"""

import hashlib
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time

PASSPHRASE = "manifold-srt-capture"
CHUNK = 188
CHUNKS = 192
ATTEMPTS = 3
# Control packet, type 0x7FFF (UMSG_EXT), subtype 3 (SRT_CMD_KMREQ).
KMREQ_CONTROL = b"\xff\xff\x00\x03"
KM_REFRESH_RATE = 32
KEY_LENGTHS = (16, 24, 32)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "protocol-parsers", "tests", "data", "srt")
SEEDS = os.path.join(ROOT, "fuzz", "corpus", "srt_key_material")


def plaintext():
    """CHUNKS distinct CHUNK-byte chunks: a readable index line, then SHA-256 counter bytes."""
    out = bytearray()
    for i in range(CHUNKS):
        chunk = bytearray(f"manifold srt capture chunk {i:02}\n".encode())
        n = 0
        while len(chunk) < CHUNK:
            chunk += hashlib.sha256(f"{i}:{n}".encode()).digest()
            n += 1
        out += chunk[:CHUNK]
    return bytes(out)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Relay(threading.Thread):
    """Forwards caller <-> listener datagrams and records (direction, bytes)."""

    def __init__(self, front_port, listen_port):
        super().__init__(daemon=True)
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", front_port))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind(("127.0.0.1", 0))
        self.listener = ("127.0.0.1", listen_port)
        self.caller = None
        self.records = []
        self.stop = False

    def run(self):
        while not self.stop:
            ready, _, _ = select.select([self.front, self.back], [], [], 0.1)
            for sock in ready:
                data, addr = sock.recvfrom(65536)
                if sock is self.front:
                    self.caller = addr
                    self.records.append(("c2l", data))
                    self.back.sendto(data, self.listener)
                elif self.caller is not None:
                    self.records.append(("l2c", data))
                    self.front.sendto(data, self.caller)


def extensions(packet):
    """(type, content) of each handshake extension after the 16-byte header and 48-byte CIF."""
    pos = 16 + 48
    while pos + 4 <= len(packet):
        ext_type, words = struct.unpack_from(">HH", packet, pos)
        yield ext_type, packet[pos + 4 : pos + 4 + 4 * words]
        pos += 4 + 4 * words


def is_handshake(packet):
    return len(packet) >= 64 and struct.unpack_from(">H", packet, 0)[0] == 0x8000


def find_handshake(records, direction, ext_type):
    for d, p in records:
        if d == direction and is_handshake(p):
            for t, content in extensions(p):
                if t == ext_type:
                    return p, content
    sys.exit(f"no {direction} handshake with extension {ext_type}")


def capture(key_len, plain):
    listen_port, front_port = free_port(), free_port()
    relay = Relay(front_port, listen_port)
    relay.start()
    opts = f"passphrase={PASSPHRASE}&pbkeylen={key_len}"
    refresh = f"&kmrefreshrate={KM_REFRESH_RATE}"
    listener = subprocess.Popen(
        ["srt-live-transmit", "-q", f"srt://127.0.0.1:{listen_port}?mode=listener&{opts}", "file://con"],
        stdout=subprocess.PIPE,
    )
    received = bytearray()

    def drain():
        while chunk := listener.stdout.read1(65536):
            received.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    time.sleep(0.5)
    # srt-live-transmit polls stdin, so it must be a pipe; one write per chunk (atomic,
    # under PIPE_BUF) with a pause between makes every read, hence every packet, one chunk.
    caller = subprocess.Popen(
        ["srt-live-transmit", "-q", "-a", "no", "-chunk", str(CHUNK), "file://con",
         f"srt://127.0.0.1:{front_port}?{opts}{refresh}"],
        stdin=subprocess.PIPE,
    )
    try:
        time.sleep(1.0)
        for i in range(CHUNKS):
            caller.stdin.write(plain[i * CHUNK : (i + 1) * CHUNK])
            caller.stdin.flush()
            time.sleep(0.03)
        # The caller batches reads (its -buffering, 10 packets) and sends the rest at end
        # of input; the listener buffers stdout until it exits. Neither exits by itself.
        caller.stdin.close()
        time.sleep(2.0)
    finally:
        for proc in (listener, caller):
            proc.terminate()
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        reader.join(timeout=5)
        relay.stop = True
        relay.join()
    if bytes(received) != plain:
        sys.exit(f"pbkeylen {key_len}: the listener received {len(received)} bytes, not the plaintext")

    req, kmreq = find_handshake(relay.records, "c2l", 3)
    rsp, _ = find_handshake(relay.records, "l2c", 4)
    refreshes = []
    for d, p in relay.records:
        if d == "c2l" and p[:4] == KMREQ_CONTROL and p not in refreshes:
            refreshes.append(p)
    data = {}
    for d, p in relay.records:
        if d == "c2l" and len(p) > 16 and p[0] & 0x80 == 0:
            data.setdefault(struct.unpack_from(">I", p, 0)[0], p)
    isn = struct.unpack_from(">I", req, 16 + 8)[0]
    seqs = sorted(data)
    if seqs != list(range(isn, isn + CHUNKS)):
        sys.exit(f"pbkeylen {key_len}: data packets are not ISN..ISN+{CHUNKS}")
    runs = []
    for seq in seqs:
        kk = (struct.unpack_from(">I", data[seq], 4)[0] >> 27) & 3
        if not runs or runs[-1][0] != kk:
            runs.append((kk, []))
        runs[-1][1].append(seq)
    if [kk for kk, _ in runs][:3] != [1, 2, 1] or len(refreshes) < 2:
        # libsrt switches keys from a timer, not exactly at packet 32: try again.
        print(f"pbkeylen {key_len}: no full key refresh (KK runs {[kk for kk, _ in runs]})")
        return False
    kept = [seq for _, run in runs for seq in sorted(set(run[:2] + run[-1:]))]

    folder = os.path.join(OUT, f"aes{key_len * 8}")
    os.makedirs(folder, exist_ok=True)
    files = {
        "hs_conclusion_req.bin": req,
        "hs_conclusion_rsp.bin": rsp,
        "kmreq.bin": kmreq,
        "stream.bin": records(stream(relay.records, set(kept))),
    }
    for name, content in files.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(content)
    for old in os.listdir(SEEDS):
        if old.startswith(f"libsrt_aes{key_len * 8}_km"):
            os.remove(os.path.join(SEEDS, old))
    for i, km in enumerate([kmreq] + [p[16:] for p in refreshes]):
        with open(os.path.join(SEEDS, f"libsrt_aes{key_len * 8}_km{i}.bin"), "wb") as f:
            f.write(km)
    print(f"aes{key_len * 8}: {len(relay.records)} datagrams, KM {kmreq[:4].hex()}.. {len(kmreq)} bytes, "
          f"{len(refreshes)} refreshes, KK runs {[(kk, len(run)) for kk, run in runs]}, kept {kept}")
    return True


def stream(recorded, kept):
    """The kept data packets and the distinct KMREQs, caller -> listener, first copies."""
    seen = set()
    for d, p in recorded:
        if d != "c2l" or p in seen:
            continue
        is_kept_data = p[0] & 0x80 == 0 and struct.unpack_from(">I", p, 0)[0] in kept
        if is_kept_data or p[:4] == KMREQ_CONTROL:
            seen.add(p)
            yield p


def records(packets):
    return b"".join(struct.pack(">H", len(p)) + p for p in packets)


def main():
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(SEEDS, exist_ok=True)
    plain = plaintext()
    with open(os.path.join(OUT, "plaintext.bin"), "wb") as f:
        f.write(plain)
    for key_len in KEY_LENGTHS:
        if not any(capture(key_len, plain) for _ in range(ATTEMPTS)):
            sys.exit(f"pbkeylen {key_len}: no usable capture in {ATTEMPTS} attempts")


if __name__ == "__main__":
    main()
