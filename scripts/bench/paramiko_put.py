"""paramiko peer for scripts/bench.sh section 7: put one file to many hosts at once.

Usage: paramiko_put.py HOSTS_FILE PARALLEL SRC DEST
A ThreadPoolExecutor of PARALLEL workers; each connects (TCP_NODELAY), opens SFTP and puts
SRC to DEST. Prints "ok" per host that succeeded.
"""
import sys
from concurrent.futures import ThreadPoolExecutor

from paramiko_common import connect


def one(host, src, dest):
    client = connect(host)
    try:
        sftp = client.open_sftp()
        sftp.put(src, dest)
        sftp.close()
        return "ok"
    finally:
        client.close()


def main():
    hosts = [h.strip() for h in open(sys.argv[1]) if h.strip()]
    par, src, dest = int(sys.argv[2]), sys.argv[3], sys.argv[4]
    with ThreadPoolExecutor(par) as pool:
        futs = [pool.submit(one, h, src, dest) for h in hosts]
        for h, f in zip(hosts, futs):
            try:
                print("%s: %s" % (h, f.result()))
            except Exception as e:  # noqa: BLE001 - report and go on, as the other peers do
                print("%s: failed: %s" % (h, e), file=sys.stderr)


main()
