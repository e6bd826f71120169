#!/usr/bin/env python3
"""Fan-out with a paramiko thread pool (the usual way to do it in Python).

  paramiko_fanout.py HOSTSFILE WORKERS CMD
Per host: connect (TCP_NODELAY), run CMD, print "host: line" for each stdout
line, close. At the end prints "<ok> ok, <failed> failed" on stderr; exit 1 if
any host failed.
"""
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import paramiko_common as pc

hostsfile, workers, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3]
hosts = [h.strip() for h in open(hostsfile) if h.strip()]
lock = threading.Lock()


def one(host):
    try:
        client = pc.connect(host)
        try:
            status, out = pc.run(client, cmd)
        finally:
            client.close()
        with lock:
            for line in out.decode(errors="replace").splitlines():
                sys.stdout.write("%s: %s\n" % (host, line))
        return status == 0
    except Exception as e:  # one host's failure never stops the others
        with lock:
            sys.stderr.write("%s: %s\n" % (host, e))
        return False


with ThreadPoolExecutor(max_workers=workers) as pool:
    results = list(pool.map(one, hosts))
sys.stdout.flush()
ok = sum(results)
sys.stderr.write("%d ok, %d failed\n" % (ok, len(results) - ok))
sys.exit(0 if ok == len(results) else 1)
