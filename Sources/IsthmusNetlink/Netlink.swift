#if canImport(Glibc)
    import Glibc
#endif

/// Numbers from linux/netlink.h, linux/rtnetlink.h, linux/if_link.h and linux/if.h: the stable kernel
/// ABI of rtnetlink (RFC 3549), written out so the codec needs no C headers.
public enum Netlink {
    // nlmsghdr types and flags
    public static let messageError: UInt16 = 2
    public static let messageDone: UInt16 = 3
    public static let flagRequest: UInt16 = 0x001
    public static let flagMulti: UInt16 = 0x002
    public static let flagAcknowledge: UInt16 = 0x004
    /// NLM_F_ROOT | NLM_F_MATCH: every object of the kind.
    public static let flagDump: UInt16 = 0x300
    public static let flagReplace: UInt16 = 0x100
    public static let flagExclusive: UInt16 = 0x200
    public static let flagCreate: UInt16 = 0x400

    // rtnetlink message types
    public static let newLink: UInt16 = 16
    public static let deleteLink: UInt16 = 17
    public static let getLink: UInt16 = 18
    public static let newAddress: UInt16 = 20
    public static let deleteAddress: UInt16 = 21
    public static let newRoute: UInt16 = 24
    public static let deleteRoute: UInt16 = 25
    public static let getRoute: UInt16 = 26

    // ifinfomsg attributes (IFLA_*) and flags (IFF_*)
    public static let linkName: UInt16 = 3
    public static let linkMTU: UInt16 = 4
    public static let linkInfo: UInt16 = 18
    public static let linkInfoKind: UInt16 = 1
    public static let interfaceUp: UInt32 = 0x1

    // ifaddrmsg attributes (IFA_*)
    public static let addressAddress: UInt16 = 1
    public static let addressLocal: UInt16 = 2

    // rtmsg attributes (RTA_*) and values
    public static let routeDestination: UInt16 = 1
    public static let routeOutputInterface: UInt16 = 4
    public static let routeGateway: UInt16 = 5
    public static let routePriority: UInt16 = 6
    public static let routeTable: UInt16 = 15
    public static let mainTable: UInt32 = 254
    public static let scopeUniverse: UInt8 = 0
    public static let scopeLink: UInt8 = 253
    public static let routeTypeUnicast: UInt8 = 1

    /// `AF_INET`, `AF_INET6`.
    public static let familyIPv4: UInt8 = 2
    public static let familyIPv6: UInt8 = 10

    /// `strerror` of a positive errno, with its symbolic name for the common ones.
    public static func errorName(_ code: Int32) -> String {
        let names: [Int32: String] = [
            EEXIST: "EEXIST", ENOENT: "ENOENT", ENODEV: "ENODEV", EPERM: "EPERM", EINVAL: "EINVAL",
            EBUSY: "EBUSY", ENETUNREACH: "ENETUNREACH", ESRCH: "ESRCH",
        ]
        let text = String(cString: strerror(code))
        return names[code].map { "\($0) (\(text))" } ?? "errno \(code) (\(text))"
    }
}
