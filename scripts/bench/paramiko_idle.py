#!/usr/bin/env python3
"""Memory of idle paramiko connections.

  paramiko_idle.py N
Opens N connections, one after the other, to 127.0.0.1 … 127.0.0.N (kept open,
authenticated, no channel), waits a moment, prints the current VmRSS in KB, and
closes them. Run it under /usr/bin/time -f %M for the peak.
"""
import sys
import time

import paramiko_common as pc

n = int(sys.argv[1])
clients = [pc.connect("127.0.0.%d" % (1 + i % 200)) for i in range(n)]
time.sleep(0.3)
print(pc.rss_kb())
for c in clients:
    c.close()
