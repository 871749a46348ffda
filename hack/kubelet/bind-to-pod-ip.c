/*
 * LD_PRELOAD shim for the process kubelet: gives every pod its own address on loopback.
 *
 * Services bind 0.0.0.0 (or ::) by default, as they would in a container with its own network
 * namespace. Here every pod shares the host's network, so two pods listening on :8080 would
 * collide. This shim rewrites bind() to the wildcard address into a bind to the pod's address
 * (KEDA_HTTP_POD_IP, set by the kubelet), so product code stays unaware of the test kubelet.
 * An IPv6 wildcard bind becomes the IPv4-mapped pod address (::ffff:10.N.x.y), which Node's
 * default dual-stack listen() accepts. Binds to a specific address are left alone.
 *
 * Built by hack/kubelet/bind-shim.ts with gcc into the cache at first use; never committed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

int bind(int fd, const struct sockaddr *addr, socklen_t len) {
  static bind_fn real_bind;
  if (!real_bind) real_bind = (bind_fn)dlsym(RTLD_NEXT, "bind");
  const char *pod_ip = getenv("KEDA_HTTP_POD_IP");
  struct in_addr pod;
  if (!pod_ip || !addr || inet_pton(AF_INET, pod_ip, &pod) != 1) return real_bind(fd, addr, len);

  if (addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
    struct sockaddr_in in4;
    memcpy(&in4, addr, sizeof in4);
    if (in4.sin_addr.s_addr == htonl(INADDR_ANY)) {
      in4.sin_addr = pod;
      return real_bind(fd, (const struct sockaddr *)&in4, sizeof in4);
    }
  } else if (addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
    struct sockaddr_in6 in6;
    memcpy(&in6, addr, sizeof in6);
    if (IN6_IS_ADDR_UNSPECIFIED(&in6.sin6_addr)) {
      memset(&in6.sin6_addr, 0, sizeof in6.sin6_addr);
      in6.sin6_addr.s6_addr[10] = 0xff;
      in6.sin6_addr.s6_addr[11] = 0xff;
      memcpy(&in6.sin6_addr.s6_addr[12], &pod, 4);
      return real_bind(fd, (const struct sockaddr *)&in6, sizeof in6);
    }
  }
  return real_bind(fd, addr, len);
}
