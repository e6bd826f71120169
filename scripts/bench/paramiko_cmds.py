#!/usr/bin/env python3
"""Per-command latency on one established paramiko connection.

  paramiko_cmds.py HOST N [nodelay|default]
Connects once (not timed), runs `true` N times one after the other, prints
"<ms per command>" on stdout. Exits non-zero if any command fails.
"""
import sys
import time

import paramiko_common as pc

host, n = sys.argv[1], int(sys.argv[2])
nodelay = (sys.argv[3] if len(sys.argv) > 3 else "nodelay") == "nodelay"
client = pc.connect(host, nodelay=nodelay)
pc.run(client, "true")  # warm up the first channel
t0 = time.perf_counter()
for _ in range(n):
    status, _ = pc.run(client, "true")
    if status != 0:
        sys.exit("paramiko_cmds: `true` exited %d" % status)
dt = time.perf_counter() - t0
client.close()
print("%.4f" % (dt * 1000.0 / n))
