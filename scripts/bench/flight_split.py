"""Whose time a connect spent between the wire's crossings, from wire_delay.py's flights.

    python3 flight_split.py FLIGHTS_FILE CLIENT_BANNER_BYTES

Takes the connections whose first client flight is CLIENT_BANNER_BYTES long (sshs's banner:
the other clients' differ) and, in each, the flights that answer one from the other side: the
time between that flight's arrival (sent + RTT/2) and the answer is the answering side's (its
CPU, process start, wake-up). A flight sent before the other side's last one arrived answers
an ACK instead (sshd's Nagle-held writes, released when our ACK of the previous one comes):
not counted. Flights that follow one of their own side are not answers either. Prints the
medians over those connections, in RTTs: "SERVER CLIENT CONNECTIONS" (CLIENT without its
start-up before the SYN and its exit, which the flights do not see).
"""
import statistics
import sys


def split(flights):
    server = client = 0.0
    for (d0, t0, _), (d1, t1, _) in zip(flights, flights[1:]):
        if d0 == d1:
            continue
        wait = t1 - (t0 + 0.5)
        if wait > 0:
            if d1 == "s>c":
                server += wait
            else:
                client += wait
    return server, client


def main():
    path, banner = sys.argv[1], int(sys.argv[2])
    servers, clients = [], []
    for line in open(path):
        if ": " not in line:
            continue
        flights = []
        for part in line.split(": ", 1)[1].split(" | "):
            d, t, n = part.split()
            flights.append((d, float(t), int(n)))
        first = next((f for f in flights if f[0] == "c>s"), None)
        if not first or first[2] != banner:
            continue
        # the handshake's own time is the client's first crossing: from the SYN, one RTT
        s, c = split(flights)
        servers.append(s)
        clients.append(c + max(0.0, first[1] - 1.0))
    if servers:
        print("%.2f %.2f %d" % (statistics.median(servers), statistics.median(clients), len(servers)))


if __name__ == "__main__":
    main()
