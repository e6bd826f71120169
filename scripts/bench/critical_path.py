"""Where a connection's time went on the wire: its critical path, from wire_delay.py's packet log.

    python3 critical_path.py PACKETS_FILE RTT_MS CONN...
    python3 critical_path.py PACKETS_FILE RTT_MS --more N

For each connection number CONN (the wire counts connections from 1 in the order of their SYNs),
walks back from its last packet (payload, SYN or FIN; pure ACKs wake no one) to its SYN: each
packet waited for the last one from the other side that had arrived when it was sent. Each
step is a crossing of the wire (RTT/2); the time between that packet's arrival and the answer is
the answering side's (CPU, wake-up, a Nagle hold). Prints one line per connection:
    CONN crossings CLIENT_MS SERVER_MS
where crossings × RTT/2 + CLIENT_MS + SERVER_MS is the time from the SYN to the last packet.
The difference between a run of N + 1 commands and one of 1, divided by N, is what one more
command costs: 4 crossings (channel open, exec) and what each side spent in between. --more N
takes the connections as such pairs (1 and 2, 3 and 4, ...) and prints that difference, the
median of the pairs: "crossings CLIENT_MS SERVER_MS" per command.
"""
import statistics
import sys


def walk(packets, half):
    """packets: (time in RTTs, sent by the client) in order. Returns crossings, client, server (RTTs)."""
    crossings, spent = 0, {True: 0.0, False: 0.0}
    i = len(packets) - 1
    while i > 0:
        t, by_client = packets[i]
        j = i - 1
        while j >= 0 and not (packets[j][1] != by_client and packets[j][0] + half <= t + 1e-9):
            j -= 1
        if j < 0:
            break
        spent[by_client] += t - (packets[j][0] + half)
        crossings += 1
        i = j
    return crossings, spent[True], spent[False]


def read(path):
    conns = {}
    with open(path) as f:
        for line in f:
            w = line.split()
            if len(w) >= 7 and (int(w[6]) > 0 or "S" in w[3] or "F" in w[3]):
                conns.setdefault(int(w[1]), []).append((float(w[0]), w[2] == "c>s"))
    return conns


def main():
    path, rtt_ms = sys.argv[1], float(sys.argv[2])
    paths = {conn: walk(packets, 0.5) for conn, packets in read(path).items()}
    if sys.argv[3] == "--more":
        n = int(sys.argv[4])
        diffs = [[(a - b) / n for a, b in zip(paths[k], paths[k + 1])]
                 for k in range(1, len(paths), 2) if k + 1 in paths]
        if diffs:
            print("%.2f %.3f %.3f" % tuple(statistics.median(d[i] for d in diffs) * (1 if i == 0 else rtt_ms)
                                         for i in range(3)))
        return
    for conn in map(int, sys.argv[3:]):
        if conn in paths:
            n, c, s = paths[conn]
            print("%d %d %.3f %.3f" % (conn, n, c * rtt_ms, s * rtt_ms))


if __name__ == "__main__":
    main()
