"""The standard two-site topology of the examples (office host, office gateway, cloud gateway, VM):

  PREFIX-oh 192.168.1.10 -veth- 192.168.1.1 PREFIX-ofc 198.51.100.10/24
      -veth- 203.0.113.20/24 PREFIX-cld 10.0.1.1 -veth- 10.0.1.4 PREFIX-vm

Gateways forward, rp_filter off; each gateway has an on-link route to the other's public /24 and no route to
the far site: only a tunnel joins the sites. With tuns=True each gateway gets a persistent TUN (SHORT+'o' in
the office, SHORT+'c' in the cloud, MTU 1400) with the far site's prefix routed into it (for `isthmus run
--tun`). Links are created inside their namespaces (oh0/lan0, wan0/wan0, lan0/vm0), so nothing appears in the
root namespace."""
from dataclasses import dataclass

from .netns import Namespace

OFFICE_HOST, OFFICE_LAN, OFFICE_PUBLIC = "192.168.1.10", "192.168.1.1", "198.51.100.10"
CLOUD_PUBLIC, CLOUD_LAN, VM = "203.0.113.20", "10.0.1.1", "10.0.1.4"
OFFICE_PREFIX, CLOUD_PREFIX = "192.168.1.0/24", "10.0.1.0/24"


@dataclass
class Sites:
    oh: Namespace       # office host
    ofc: Namespace      # office gateway
    cld: Namespace      # cloud gateway
    vm: Namespace       # VM behind the cloud gateway
    tun_office: str = None
    tun_cloud: str = None


def two_sites(scene, tuns=True, ipv6_loopback_in_cloud=False):
    """Builds the topology in SCENE (raises netns.NetnsError when a step fails)."""
    oh, ofc, cld, vm = (scene.namespace(n) for n in ("oh", "ofc", "cld", "vm"))
    scene.veth(oh, "oh0", ofc, "lan0")
    scene.veth(ofc, "wan0", cld, "wan0")
    scene.veth(cld, "lan0", vm, "vm0")
    oh.addr(f"{OFFICE_HOST}/24", "oh0"); oh.up("oh0"); oh.route("default", "via", OFFICE_LAN)
    ofc.addr(f"{OFFICE_LAN}/24", "lan0"); ofc.up("lan0")
    ofc.addr(f"{OFFICE_PUBLIC}/24", "wan0"); ofc.up("wan0"); ofc.route("203.0.113.0/24", "dev", "wan0")
    cld.addr(f"{CLOUD_PUBLIC}/24", "wan0"); cld.up("wan0"); cld.route("198.51.100.0/24", "dev", "wan0")
    cld.addr(f"{CLOUD_LAN}/24", "lan0"); cld.up("lan0")
    vm.addr(f"{VM}/24", "vm0"); vm.up("vm0"); vm.route("default", "via", CLOUD_LAN)
    for gw in (ofc, cld):
        gw.sysctl("net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
    sites = Sites(oh, ofc, cld, vm)
    if tuns:
        sites.tun_office, sites.tun_cloud = f"{scene.short}o", f"{scene.short}c"
        ofc.tun(sites.tun_office, 1400, routes=[CLOUD_PREFIX])
        cld.tun(sites.tun_cloud, 1400, routes=[OFFICE_PREFIX])
    if ipv6_loopback_in_cloud:
        cld.sysctl("net.ipv6.conf.lo.disable_ipv6=0")
    return sites
