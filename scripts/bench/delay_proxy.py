"""A TCP delay proxy on 127.0.0.1 for the latency section of scripts/bench.sh.

    python3 delay_proxy.py LISTEN_PORT TARGET_PORT RTT_MS [FLIGHTS_FILE [NHOSTS]]

Accepts on 127.0.0.1:LISTEN_PORT, connects each client to 127.0.0.1:TARGET_PORT and passes
every byte on after RTT_MS / 2 in each direction, in order (TCP_NODELAY on both sides). The
kernel here has no netem, and a userspace delay needs no privileges. Prints its port on
stdout once listening.

The proxy answers the client's connect() at once, so the TCP handshake costs nothing here:
the bench adds one RTT to every figure of a new connection for it. And the server's TCP peer is
the proxy, whose kernel ACKs on loopback (at once, or after Linux's delayed ACK): what the
server's Nagle holds waits for that, not for the client's ACK one RTT later. wire_delay.py (root)
is the faithful path; the bench uses this proxy where that cannot run, or with LAT_WIRE=proxy.

NHOSTS (fan-out): listen on 127.0.0.1 ... 127.0.0.NHOSTS, all on the same port (the first one's,
when LISTEN_PORT is 0), so a fan-out to that many "hosts" goes through the delay too. FLIGHTS_FILE
may be "-" for none.

FLIGHTS_FILE: per connection, one line per "flight" (bytes read in one direction before the
other direction spoke), with its start in RTTs since the accept:
    conn N: c>s 0.00 1234 | s>c 0.50 800 | ...
A client flight that starts after a server flight arrived is a round trip the client waited
for; counting them accounts for each round trip of a connect.
"""
import asyncio
import socket
import sys
import time

LISTEN, TARGET, RTT = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 1000.0
FLIGHTS = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] != "-" else None
NHOSTS = int(sys.argv[5]) if len(sys.argv) > 5 else 1
HALF = RTT / 2
conn_ids = 0


def nodelay(writer):
    s = writer.get_extra_info("socket")
    if s is not None:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def pump(reader, writer, direction, flights, t0):
    """Reads from reader; each piece is written HALF later, in order."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def deliver():
        while True:
            due, data = await queue.get()
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if data is None:
                try:
                    writer.write_eof()
                except (OSError, RuntimeError):
                    pass
                return
            writer.write(data)
            await writer.drain()

    task = asyncio.create_task(deliver())
    try:
        while True:
            data = await reader.read(65536)
            now = loop.time()
            if not data:
                break
            if flights is not None:
                if not flights or flights[-1][0] != direction:
                    flights.append([direction, (time.monotonic() - t0) / RTT, 0])
                flights[-1][2] += len(data)
            queue.put_nowait((now + HALF, data))
    except (ConnectionError, OSError):
        pass
    queue.put_nowait((loop.time() + HALF, None))
    try:
        await task
    except (ConnectionError, OSError):
        pass


async def handle(creader, cwriter):
    global conn_ids
    conn_ids += 1
    cid = conn_ids
    t0 = time.monotonic()
    try:
        sreader, swriter = await asyncio.open_connection("127.0.0.1", TARGET)
    except OSError:
        cwriter.close()
        return
    nodelay(cwriter)
    nodelay(swriter)
    flights = [] if FLIGHTS else None
    await asyncio.gather(pump(creader, swriter, "c>s", flights, t0),
                         pump(sreader, cwriter, "s>c", flights, t0))
    for w in (cwriter, swriter):
        w.close()
    if FLIGHTS and flights:
        with open(FLIGHTS, "a") as f:
            f.write("conn %d: %s\n" % (cid, " | ".join("%s %.2f %d" % (d, t, n) for d, t, n in flights)))


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", LISTEN, backlog=512)
    port = server.sockets[0].getsockname()[1]
    others = [await asyncio.start_server(handle, "127.0.0.%d" % i, port, backlog=512)
              for i in range(2, NHOSTS + 1)]
    print(port, flush=True)
    async with server:
        await asyncio.gather(server.serve_forever(), *(o.serve_forever() for o in others))


asyncio.run(main())
