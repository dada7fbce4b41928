#if canImport(Glibc)
import Glibc
#endif

// UdpEndpoint <-> sockaddr_in (network byte order), for the UDP sockets of this module.

extension sockaddr_in {
    init(_ endpoint: UdpEndpoint) {
        self.init()
        sin_family = sa_family_t(AF_INET)
        sin_port = endpoint.port.bigEndian
        sin_addr.s_addr = endpoint.address.value.bigEndian
    }
}

extension UdpEndpoint {
    init(_ address: sockaddr_in) {
        self.init(address: IPv4Address(UInt32(bigEndian: address.sin_addr.s_addr)), port: UInt16(bigEndian: address.sin_port))
    }
}
