// The kernel's cost of sending one ESP packet, per way of sending it (scripts/bench-esp-send; not a test).
//
//   esp_send_bench send raw|raw-header|packet|packet-bypass|udp|udp-gso IFACE DEST-MAC COUNT
//   esp_send_bench sink
//
// `send` sends COUNT 1400-byte ESP packets (SPI 0x1234, rising sequence numbers, no real crypto: only the
// kernel is measured) from 198.51.100.1 to 198.51.100.2 in batches of 64 and prints the CPU time of the
// sending thread per packet (user + system, getrusage RUSAGE_THREAD). On a veth pair that time includes
// the peer namespace's receive, which the kernel runs inline in the sender's thread: the same for every way.
//   raw            a raw IPv4 socket for protocol 50 and sendmmsg, the kernel builds the IPv4 header (what the
//                  data plane does without NAT)
//   raw-header     an IPPROTO_RAW socket (IP_HDRINCL) and sendmmsg, the IPv4 header written here with the
//                  source, length, identification and checksum left to the kernel
//   packet         AF_PACKET SOCK_DGRAM and sendmmsg: the IPv4 header is built here, no route lookup, no
//                  netfilter OUTPUT/POSTROUTING
//   packet-bypass  the same with PACKET_QDISC_BYPASS (no qdisc either)
//   udp            ESP in UDP 4500 (RFC 3948), one datagram per message, sendmmsg
//   udp-gso        ESP in UDP 4500 with UDP_SEGMENT: trains of 45 datagrams (what the data plane does
//                  with NAT-T)
// `sink` reads and drops what arrives (raw protocol 50 and UDP 4500 with UDP_GRO) until it is killed.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

// A UDP GSO train must fit one 64 KiB datagram: 45 x 1400 bytes.
enum { BATCH = 64, LENGTH = 1400, TRAIN = 45 };

static double thread_cpu(void) {
    struct rusage usage;
    getrusage(RUSAGE_THREAD, &usage);
    return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec * 1e-6 + usage.ru_stime.tv_sec +
           usage.ru_stime.tv_usec * 1e-6;
}

static unsigned short ip_checksum(const void *data, int length) {
    unsigned long sum = 0;
    const unsigned short *word = data;
    for (; length > 1; length -= 2) sum += *word++;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (unsigned short)~sum;
}

static int sink(void) {
    int raw = socket(AF_INET, SOCK_RAW, 50);
    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    int size = 8 << 20, one = 1;
    struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons(4500)};
    if (raw < 0 || udp < 0 || bind(udp, (struct sockaddr *)&any, sizeof any) < 0) {
        perror("sink");
        return 1;
    }
    setsockopt(raw, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
    setsockopt(udp, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
    setsockopt(udp, IPPROTO_UDP, UDP_GRO, &one, sizeof one);
    static char buffers[BATCH][65536];
    struct mmsghdr messages[BATCH];
    struct iovec vectors[BATCH];
    struct pollfd fds[2] = {{.fd = raw, .events = POLLIN}, {.fd = udp, .events = POLLIN}};
    for (;;) {
        if (poll(fds, 2, -1) < 0) return 1;
        for (int f = 0; f < 2; f++) {
            if (!(fds[f].revents & POLLIN)) continue;
            for (int i = 0; i < BATCH; i++) {
                vectors[i] = (struct iovec){buffers[i], sizeof buffers[i]};
                messages[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &vectors[i], .msg_iovlen = 1}};
            }
            recvmmsg(fds[f].fd, messages, BATCH, MSG_DONTWAIT, NULL);
        }
    }
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "sink")) return sink();
    if (argc != 6 || strcmp(argv[1], "send")) {
        fprintf(stderr, "usage: %s send raw|raw-header|packet|packet-bypass|udp|udp-gso IFACE DEST-MAC COUNT | sink\n",
                argv[0]);
        return 2;
    }
    const char *way = argv[2];
    long count = atol(argv[5]);
    int packet = !strncmp(way, "packet", 6), udp = !strncmp(way, "udp", 3), gso = !strcmp(way, "udp-gso");
    int rawHeader = !strcmp(way, "raw-header");
    if (!packet && !udp && !rawHeader && strcmp(way, "raw")) {
        fprintf(stderr, "unknown way %s\n", way);
        return 2;
    }
    struct sockaddr_in destination = {.sin_family = AF_INET, .sin_port = htons(udp ? 4500 : 0)};
    struct in_addr source;
    inet_pton(AF_INET, "198.51.100.2", &destination.sin_addr);
    inet_pton(AF_INET, "198.51.100.1", &source);
    struct sockaddr_ll link = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP), .sll_halen = 6};
    link.sll_ifindex = (int)if_nametoindex(argv[3]);
    unsigned char *mac = link.sll_addr;
    if (sscanf(argv[4], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) != 6) {
        fprintf(stderr, "bad MAC %s\n", argv[4]);
        return 2;
    }
    int fd = packet ? socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP))
             : udp       ? socket(AF_INET, SOCK_DGRAM, 0)
             : rawHeader ? socket(AF_INET, SOCK_RAW, IPPROTO_RAW)
                         : socket(AF_INET, SOCK_RAW, 50);
    int size = 8 << 20, one = 1, segment = LENGTH;
    if (fd < 0) {
        perror("socket");
        return 1;
    }
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size);
    if (!strcmp(way, "packet-bypass")) setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
    if (gso && setsockopt(fd, IPPROTO_UDP, UDP_SEGMENT, &segment, sizeof segment) < 0) {
        perror("UDP_SEGMENT");
        return 1;
    }
    static unsigned char packets[BATCH][LENGTH + 20];
    static unsigned char train[TRAIN * LENGTH];
    struct mmsghdr messages[BATCH];
    struct iovec vectors[BATCH];
    unsigned short identification = 0;
    unsigned int sequence = 0;
    long sent = 0;
    double start = thread_cpu();
    while (sent < count) {
        int messageCount = gso ? 1 : BATCH;
        for (int i = 0; i < (gso ? TRAIN : BATCH); i++) {
            unsigned char *bytes = gso ? train + i * LENGTH : packets[i];
            int offset = 0;
            if (packet || rawHeader) {
                struct iphdr *header = (struct iphdr *)bytes;
                memset(header, 0, sizeof *header);
                header->version = 4;
                header->ihl = 5;
                header->ttl = 64;
                header->protocol = 50;
                header->daddr = destination.sin_addr.s_addr;
                if (packet) {  // raw-header: the kernel fills in the length, identification, source and checksum
                    header->tot_len = htons(LENGTH + 20);
                    header->id = htons(identification++);
                    header->saddr = source.s_addr;
                    header->check = ip_checksum(header, 20);
                }
                offset = 20;
            }
            unsigned int spi = htonl(0x1234), number = htonl(++sequence);
            memcpy(bytes + offset, &spi, 4);
            memcpy(bytes + offset + 4, &number, 4);
            memset(bytes + offset + 8, 0xab, LENGTH - 8);
            if (gso) continue;
            vectors[i] = (struct iovec){bytes, LENGTH + offset};
            messages[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &vectors[i], .msg_iovlen = 1}};
            messages[i].msg_hdr.msg_name = packet ? (void *)&link : (void *)&destination;
            messages[i].msg_hdr.msg_namelen = packet ? sizeof link : sizeof destination;
        }
        if (gso) {
            vectors[0] = (struct iovec){train, sizeof train};
            messages[0] = (struct mmsghdr){.msg_hdr = {.msg_iov = vectors, .msg_iovlen = 1}};
            messages[0].msg_hdr.msg_name = &destination;
            messages[0].msg_hdr.msg_namelen = sizeof destination;
        }
        int result = sendmmsg(fd, messages, messageCount, 0);
        if (result < 0) {
            perror("sendmmsg");
            return 1;
        }
        sent += gso ? (long)result * TRAIN : result;
    }
    double used = thread_cpu() - start;
    printf("%s %ld %.0f\n", way, sent, used / sent * 1e9);
    return 0;
}
