/* Misbehaving TCP servers for the fault suite (loopback only).
 *
 *   fault_listener silent|mute|close|banner LIFETIME ADDR...
 *
 * Listens on one port (chosen by the kernel) on every ADDR (each must be in 127.0.0.0/8),
 * prints the port on stdout and runs until killed or LIFETIME seconds pass.
 *   silent: listen(0) and fill the accept queue with our own connects that are never
 *           accepted, so further SYNs are dropped: a client's connect never completes
 *           (a firewalled host).
 *   mute:   accept every connection and never send a byte (a hung server).
 *   close:  accept every connection and close it at once (a server that drops us).
 *   banner: accept, send an SSH banner, then never another byte (stuck before key exchange).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_ADDRS 256
#define FILLERS 3

static int die(const char *what)
{
    perror(what);
    return 1;
}

int main(int argc, char **argv)
{
    const char *mode = argc >= 2 ? argv[1] : "";
    int close_at_once = strcmp(mode, "close") == 0, banner = strcmp(mode, "banner") == 0;
    int mute = strcmp(mode, "mute") == 0 || close_at_once || banner;   /* they all accept */
    if (argc < 4 || (!mute && strcmp(mode, "silent") != 0)) {
        fprintf(stderr, "usage: %s silent|mute|close|banner LIFETIME ADDR...\n", argv[0]);
        return 2;
    }
    int lifetime = atoi(argv[2]);
    int naddr = argc - 3;
    if (naddr > MAX_ADDRS) naddr = MAX_ADDRS;
    int lfd[MAX_ADDRS];
    struct sockaddr_in sa[MAX_ADDRS];
    unsigned short port = 0;
    for (int i = 0; i < naddr; i++) {
        memset(&sa[i], 0, sizeof sa[i]);
        sa[i].sin_family = AF_INET;
        if (inet_pton(AF_INET, argv[3 + i], &sa[i].sin_addr) != 1 ||
            (ntohl(sa[i].sin_addr.s_addr) >> 24) != 127) {
            fprintf(stderr, "fault_listener: %s is not a loopback address\n", argv[3 + i]);
            return 2;
        }
        sa[i].sin_port = htons(port);
        lfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (lfd[i] < 0) return die("socket");
        int one = 1;
        setsockopt(lfd[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(lfd[i], (struct sockaddr *)&sa[i], sizeof sa[i]) < 0) return die(argv[3 + i]);
        if (listen(lfd[i], mute ? 128 : 0) < 0) return die("listen");
        if (!port) {
            socklen_t len = sizeof sa[i];
            getsockname(lfd[i], (struct sockaddr *)&sa[i], &len);
            port = ntohs(sa[i].sin_port);
        }
    }
    if (!mute) {
        /* Fill every accept queue: backlog 0 holds one connection; the rest stay in SYN_SENT. */
        for (int i = 0; i < naddr; i++) {
            for (int k = 0; k < FILLERS; k++) {
                int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (fd < 0) return die("socket");
                connect(fd, (struct sockaddr *)&sa[i], sizeof sa[i]);
            }
        }
        usleep(100000);     /* the first handshake completes into the queue */
    }
    printf("%u\n", port);
    fflush(stdout);
    time_t end = time(NULL) + (lifetime > 0 ? lifetime : 600);
    struct pollfd pfd[MAX_ADDRS];
    for (int i = 0; i < naddr; i++) pfd[i] = (struct pollfd){.fd = lfd[i], .events = mute ? POLLIN : 0};
    while (time(NULL) < end) {
        if (poll(pfd, (nfds_t)naddr, 500) <= 0) continue;
        for (int i = 0; i < naddr; i++) {
            if (!(pfd[i].revents & POLLIN)) continue;
            int fd = accept4(lfd[i], NULL, NULL, SOCK_CLOEXEC);   /* kept open, never written */
            if (fd < 0 && errno == EMFILE) pfd[i].events = 0;
            if (fd >= 0 && close_at_once) close(fd);
            if (fd >= 0 && banner) {
                static const char b[] = "SSH-2.0-OpenSSH_9.2 stuck\r\n";
                if (write(fd, b, sizeof b - 1) < 0) close(fd);
            }
        }
    }
    return 0;
}
