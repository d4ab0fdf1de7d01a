// Linux socket calls and macros that Swift's Glibc module does not import: recvmmsg/sendmmsg (they
// need _GNU_SOURCE), the CMSG_* macros (function-like) and the UDP GSO/GRO option numbers.
// The userspace ESP data plane uses them to move a batch of datagrams per system call.
#ifndef C_ISTHMUS_NET_H
#define C_ISTHMUS_NET_H

#include <stddef.h>
#include <sys/socket.h>
#include <netinet/in.h>

/// The layout of `struct mmsghdr` (checked by a static assertion in shim.c).
typedef struct {
    struct msghdr msg_hdr;
    unsigned int msg_len;
} isthmus_mmsghdr;

/// `struct in6_pktinfo` (RFC 3542), hidden behind _GNU_SOURCE in glibc.
typedef struct {
    struct in6_addr ipi6_addr;
    unsigned int ipi6_ifindex;
} isthmus_in6_pktinfo;

/// UDP_SEGMENT and UDP_GRO from linux/udp.h (SOL_UDP level).
static const int ISTHMUS_SOL_UDP = 17;
static const int ISTHMUS_UDP_SEGMENT = 103;
static const int ISTHMUS_UDP_GRO = 104;

/// `ioctl(fd, request, value)` with an integer argument (TUNSETOFFLOAD); Swift cannot call the variadic one.
int isthmus_ioctl_value(int fd, unsigned long request, unsigned long value);

/// Names the calling thread (`prctl(PR_SET_NAME)`, at most 15 bytes kept): /proc/PID/task/TID/comm shows it.
int isthmus_set_thread_name(const char *name);

int isthmus_recvmmsg(int fd, isthmus_mmsghdr *messages, unsigned int count, int flags);
int isthmus_sendmmsg(int fd, isthmus_mmsghdr *messages, unsigned int count, int flags);

struct cmsghdr *isthmus_cmsg_firsthdr(struct msghdr *message);
struct cmsghdr *isthmus_cmsg_nxthdr(struct msghdr *message, struct cmsghdr *header);
unsigned char *isthmus_cmsg_data(struct cmsghdr *header);
size_t isthmus_cmsg_space(size_t length);
size_t isthmus_cmsg_len(size_t length);

#endif
