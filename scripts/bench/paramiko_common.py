"""Shared set-up for the paramiko peers of scripts/bench.sh.

Reads the test server from the environment that scripts/test-sshd.sh prints
(SSHS_TEST_PORT, SSHS_TEST_USER, SSHS_TEST_KEY, SSHS_TEST_KNOWN_HOSTS) and
connects the way a careful paramiko user would: host key checked against the
known_hosts file (RejectPolicy), one ed25519 key, no agent, no key search.
"""
import os
import socket
import warnings

warnings.filterwarnings("ignore")  # cryptography deprecation noise on stderr
import paramiko  # noqa: E402

PORT = int(os.environ["SSHS_TEST_PORT"])
USER = os.environ.get("SSHS_TEST_USER") or os.environ.get("USER", "root")
KEY = paramiko.Ed25519Key.from_private_key_file(os.environ["SSHS_TEST_KEY"])
KNOWN_HOSTS = os.environ["SSHS_TEST_KNOWN_HOSTS"]
_HOST_KEYS = paramiko.HostKeys(KNOWN_HOSTS)


def connect(host, nodelay=True, timeout=30):
    """An authenticated SSHClient to host:PORT. nodelay sets TCP_NODELAY on the socket."""
    sock = socket.create_connection((host, PORT), timeout=timeout)
    if nodelay:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client = paramiko.SSHClient()
    # Share one parsed known_hosts instead of re-reading the file per client.
    client._host_keys = _HOST_KEYS
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(host, port=PORT, username=USER, pkey=KEY, sock=sock, timeout=timeout,
                   allow_agent=False, look_for_keys=False, banner_timeout=timeout, auth_timeout=timeout)
    return client


def run(client, cmd):
    """Runs cmd on a new channel; returns (exit status, stdout bytes)."""
    chan = client.get_transport().open_session()
    chan.exec_command(cmd)
    out = bytearray()
    while True:
        data = chan.recv(65536)
        if not data:
            break
        out += data
    status = chan.recv_exit_status()
    chan.close()
    return status, bytes(out)


def rss_kb():
    """Current resident set size of this process, in KB (VmRSS)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1
