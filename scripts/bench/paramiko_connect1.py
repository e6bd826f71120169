#!/usr/bin/env python3
"""One new paramiko connection (TCP_NODELAY) and one command on it, for the latency section.
  paramiko_connect1.py HOST
Exits non-zero if `true` fails."""
import sys

import paramiko_common as pc

client = pc.connect(sys.argv[1], nodelay=True)
status, _ = pc.run(client, "true")
client.close()
sys.exit(0 if status == 0 else 1)
