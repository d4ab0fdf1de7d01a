#define _GNU_SOURCE
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <time.h>
#include "CIsthmusNet.h"

_Static_assert(sizeof(isthmus_mmsghdr) == sizeof(struct mmsghdr), "mmsghdr layout");
_Static_assert(offsetof(isthmus_mmsghdr, msg_len) == offsetof(struct mmsghdr, msg_len), "mmsghdr layout");
_Static_assert(sizeof(isthmus_in6_pktinfo) == sizeof(struct in6_pktinfo), "in6_pktinfo layout");

int isthmus_recvmmsg(int fd, isthmus_mmsghdr *messages, unsigned int count, int flags) {
    return recvmmsg(fd, (struct mmsghdr *)messages, count, flags, NULL);
}

int isthmus_sendmmsg(int fd, isthmus_mmsghdr *messages, unsigned int count, int flags) {
    return sendmmsg(fd, (struct mmsghdr *)messages, count, flags);
}

struct cmsghdr *isthmus_cmsg_firsthdr(struct msghdr *message) { return CMSG_FIRSTHDR(message); }
struct cmsghdr *isthmus_cmsg_nxthdr(struct msghdr *message, struct cmsghdr *header) {
    return CMSG_NXTHDR(message, header);
}
unsigned char *isthmus_cmsg_data(struct cmsghdr *header) { return CMSG_DATA(header); }
size_t isthmus_cmsg_space(size_t length) { return CMSG_SPACE(length); }
size_t isthmus_cmsg_len(size_t length) { return CMSG_LEN(length); }

int isthmus_ioctl_value(int fd, unsigned long request, unsigned long value) { return ioctl(fd, request, value); }

int isthmus_set_thread_name(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
}
