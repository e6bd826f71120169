"""An emulated network wire with a round-trip time, for the latency section of scripts/bench.sh.

    python3 wire_delay.py NAME RTT_MS [FLIGHTS_FILE [PACKETS_FILE]]

Makes two network namespaces, NAME-c (the client side, address 10.77.0.1) and NAME-s (the
server side: every address of 10.77.1.0/24 is local there, so 200 "hosts" are 10.77.1.1 ...
10.77.1.200), each with a TUN device w0, and forwards every IP packet from one TUN to the other
RTT_MS / 2 after it was sent, in order. TCP runs end to end between the real client and the real
server, so every ACK is the real peer's, delayed like the data (the kernel here has no netem;
a TCP proxy in the middle would ACK on its own, with Linux's delayed ACK). Needs root and
/dev/net/tun. Prints "ready" on stdout once the wire is up; runs until SIGTERM/SIGINT/SIGHUP,
then ends any process left in the two namespaces and deletes them. It runs with real-time
priority where allowed, so that the machine's load delays the endpoints, not the wire.

Run a client with `nsenter --net=/run/netns/NAME-c CMD`, the server with NAME-s.

FLIGHTS_FILE ("-" for none): per TCP connection, when it ends, one line of "flights" (payload
bytes sent in one direction before the other direction sent any, or after a pause of more than
RTT/4), each with the time its first byte was sent in RTTs since the client's SYN:
    conn N 10.77.1.1: c>s 1.00 24 | s>c 1.40 41 | c>s 1.91 888 | s>c 2.40 1088 | ...
A flight that starts one RTT after the other side's is a round trip waited for; one that starts
later than that, or follows one of the same direction, waited for something else (CPU, or Nagle
holding it until the other side's ACK: PACKETS_FILE tells which).
PACKETS_FILE: every TCP packet, "t_rtt conn dir flags seq ack len wall" (seq/ack relative to the
connection's first ones; wall: when it was sent, HH:MM:SS.micro as `strace -tt` prints it, to put
beside a trace of either end), for reading where a flight waited.
"""
import collections
import ctypes
import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import time

NAME, RTT = sys.argv[1], float(sys.argv[2]) / 1000.0
FLIGHTS = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] != "-" else None
PACKETS = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] != "-" else None
HALF = RTT / 2
NS_C, NS_S = NAME + "-c", NAME + "-s"
CLIENT_ADDR, SERVER_NET, CLIENT_NET = "10.77.0.1", "10.77.1.0/24", "10.77.0.0/24"

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
CLONE_NEWNET = 0x40000000
BATCH = 256          # packets read from one TUN before the other one gets a turn
PARENT = os.getppid()   # if it goes away (killed without a chance to stop us), so do we


class Stop(Exception):
    pass


def on_signal(signum, frame):
    raise Stop()


def ip(*args):
    subprocess.run(["ip", *args], check=True, stdin=subprocess.DEVNULL)


def open_tun_in(ns):
    """A TUN device w0 created inside namespace ns (the device lives where its creator is)."""
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open("/run/netns/" + ns, os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + ns)
        try:
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", b"w0", IFF_TUN | IFF_NO_PI))
        finally:
            if libc.setns(home, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
    finally:
        os.close(home)
        os.close(target)
    return fd


CREATED = []         # the namespaces this run made (only those are deleted)


def set_up():
    for ns in (NS_C, NS_S):
        ip("netns", "add", ns)
        CREATED.append(ns)
    fd_c, fd_s = open_tun_in(NS_C), open_tun_in(NS_S)
    for ns in (NS_C, NS_S):
        ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", ns, "link", "set", "w0", "up")
    ip("-n", NS_C, "addr", "add", CLIENT_ADDR + "/32", "dev", "w0")
    ip("-n", NS_C, "route", "add", SERVER_NET, "dev", "w0", "src", CLIENT_ADDR)
    ip("-n", NS_S, "route", "add", "local", SERVER_NET, "dev", "lo")
    ip("-n", NS_S, "route", "add", CLIENT_NET, "dev", "w0")
    return fd_c, fd_s


def tear_down():
    """Ends what still runs in the namespaces (what we started there), deletes them."""
    for ns in CREATED:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), sig)
                except (OSError, ValueError):
                    pass
            if not pids:
                break
            time.sleep(0.3)
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)


class Log:
    """Per TCP connection: flights of payload bytes by direction; optionally every packet."""

    def __init__(self):
        self.conns = {}       # (client addr, client port, server addr, server port) -> state
        self.ids = 0
        self.flights = open(FLIGHTS, "a") if FLIGHTS else None
        self.packets = open(PACKETS, "a") if PACKETS else None

    def packet(self, pkt, from_client, now):
        if len(pkt) < 40 or pkt[0] >> 4 != 4 or pkt[9] != 6:
            return
        ihl = (pkt[0] & 15) * 4
        total = struct.unpack_from("!H", pkt, 2)[0]
        src, dst = pkt[12:16], pkt[16:20]
        sport, dport, seq, ack = struct.unpack_from("!HHII", pkt, ihl)
        doff, flags = (pkt[ihl + 12] >> 4) * 4, pkt[ihl + 13]
        size = total - ihl - doff
        key = (src, sport, dst, dport) if from_client else (dst, dport, src, sport)
        c = self.conns.get(key)
        if c is None:
            if not (from_client and flags & 0x02):      # only a client's SYN starts one
                return
            self.ids += 1
            c = self.conns[key] = {"id": self.ids, "t0": now, "flights": [], "fin": 0, "last": 0.0,
                                   "base": {True: seq, False: None}, "host": ".".join(map(str, dst))}
        d = "c>s" if from_client else "s>c"
        if c["base"][from_client] is None:
            c["base"][from_client] = seq
        t = (now - c["t0"]) / RTT
        if size > 0:
            fl = c["flights"]
            if not fl or fl[-1][0] != d or t - c["last"] > 0.25:
                fl.append([d, t, 0])
            fl[-1][2] += size
            c["last"] = t
        if self.packets:
            names = "".join(ch for bit, ch in ((2, "S"), (16, "."), (8, "P"), (1, "F"), (4, "R")) if flags & bit)
            other = c["base"][not from_client]
            rack = (ack - other) % 2**32 if other is not None and flags & 16 else 0
            wall = time.time() - (time.monotonic() - now)
            self.packets.write("%.3f %d %s %s %d %d %d %s.%06d\n" % (
                t, c["id"], d, names, (seq - c["base"][from_client]) % 2**32, rack, size,
                time.strftime("%H:%M:%S", time.localtime(wall)), int(wall % 1 * 1e6)))
        if flags & 0x01:
            c["fin"] |= 1 if from_client else 2
        if flags & 0x04 or c["fin"] == 3:        # a reset, or both sides' FIN: it is over
            self.end(key)

    def end(self, key):
        c = self.conns.pop(key, None)
        if c is None or self.flights is None:
            return
        self.flights.write("conn %d %s: %s\n" % (c["id"], c["host"], " | ".join(
            "%s %.2f %d" % (d, t, n) for d, t, n in c["flights"])))
        self.flights.flush()

    def close(self):
        for key in list(self.conns):
            self.end(key)
        for f in (self.flights, self.packets):
            if f:
                f.close()


def forward(fd_c, fd_s):
    """Every packet read from one TUN is written to the other HALF later, in order."""
    log = Log() if FLIGHTS or PACKETS else None
    queues = {fd_c: collections.deque(), fd_s: collections.deque()}   # by the fd they go out of
    other = {fd_c: fd_s, fd_s: fd_c}
    try:
        while True:
            due = [q[0][0] for q in queues.values() if q]
            timeout = min(1.0, max(0.0, min(due) - time.monotonic())) if due else 1.0
            readable, _, _ = select.select([fd_c, fd_s], [], [], timeout)
            if not readable and os.getppid() != PARENT:
                raise Stop()
            for fd in readable:
                out = queues[other[fd]]
                for _ in range(BATCH):
                    try:
                        pkt = os.read(fd, 65536)
                    except BlockingIOError:
                        break
                    now = time.monotonic()
                    out.append((now + HALF, pkt))
                    if log:
                        log.packet(pkt, fd == fd_c, now)
            now = time.monotonic()
            for fd, q in queues.items():
                while q and q[0][0] <= now:
                    try:
                        os.write(fd, q.popleft()[1])
                    except OSError:
                        pass        # the device is going down: the packet is lost, as on a wire
    finally:
        if log:
            log.close()


def main():
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    # A wire is not slowed by the machine's load: the forwarder runs before ordinary processes
    # (it sleeps between packets, and Linux keeps 5% of each second for others anyway).
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    except (OSError, AttributeError):
        pass
    try:
        fd_c, fd_s = set_up()
        print("ready", flush=True)
        forward(fd_c, fd_s)
    except Stop:
        pass
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        tear_down()


main()
