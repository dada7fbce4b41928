import CTickwire
import TickwireSystem

#if canImport(Glibc)
import Glibc
#endif

/// Why AF_XDP receive could not start; each says what to do about it. The caller (e.g.
/// `tickwire listen --backend xdp`) logs it and falls back to the socket receiver.
public enum XdpSetupError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidConfiguration(String)
    case interfaceNotFound(String)
    /// The BPF object could not be opened (missing file: run scripts/build-bpf.sh).
    case programObject(path: String, SystemError)
    /// The kernel refused the program on the interface in every attach mode.
    case attach(interface: String, SystemError)
    /// A map the program must have is missing, or could not be written.
    case map(name: String, SystemError)
    case umem(SystemError)
    case socket(interface: String, queue: UInt32, SystemError)

    public var description: String {
        switch self {
        case .invalidConfiguration(let why): "xdp: invalid configuration: \(why)"
        case .interfaceNotFound(let name): "xdp: no interface \(name) in this network namespace"
        case .programObject(let path, let error):
            "xdp: cannot open BPF object \(path): \(error) (build it with scripts/build-bpf.sh, or set TICKWIRE_XDP_OBJECT)"
        case .attach(let interface, let error):
            "xdp: cannot attach the XDP program to \(interface): \(error)"
                + (error.errno == EEXIST || error.errno == EBUSY ? " (another XDP program holds it: `ip link set dev \(interface) xdp off`)" : "")
        case .map(let name, let error): "xdp: map \(name): \(error)"
        case .umem(let error): "xdp: cannot register the UMEM: \(error)"
        case .socket(let interface, let queue, let error): "xdp: cannot bind an AF_XDP socket to \(interface) queue \(queue): \(error)"
        }
    }
}

/// bpf/tickwire_xdp.c attached to one interface: IPv4 UDP to the allowed ports goes to the
/// AF_XDP socket registered for the receiving queue, everything else to the kernel.
/// Detached and closed on deinit.
final class XdpRedirectProgram {
    /// ELF section and map names in bpf/tickwire_xdp.c.
    static let section = "xdp"
    static let portMapName = "tickwire_ports"
    static let socketMapName = "tickwire_xsks"

    /// TICKWIRE_XDP_OBJECT, else where scripts/build-bpf.sh writes it (relative to the working directory).
    static var defaultObjectPath: String {
        getenv("TICKWIRE_XDP_OBJECT").map { String(cString: $0) } ?? ".build-bpf/tickwire_xdp.o"
    }

    private let program: OpaquePointer
    let interface: String
    let attachMode: ctw_xdp_attach_mode
    /// Why driver mode was refused, when the program runs in generic mode.
    let nativeRefusal: SystemError?
    private let portMap: Int32
    private let socketMap: Int32

    /// Opens `objectPath` and attaches it to `interface` (index `interfaceIndex`): native
    /// (driver) mode first, generic (SKB) mode when the driver refuses.
    init(objectPath: String, interface: String, interfaceIndex: Int32) throws(XdpSetupError) {
        var opened: OpaquePointer?
        do throws(SystemError) {
            try negativeErrnoCall("xdp_program__open_file") { ctw_xdp_program_open(&opened, objectPath, Self.section) }
        } catch {
            throw .programObject(path: objectPath, error)
        }
        guard let program = opened else { throw .programObject(path: objectPath, SystemError("xdp_program__open_file", errno: EINVAL)) }
        var nativeRefusal: SystemError?
        var mode = CTW_XDP_ATTACH_NATIVE
        do throws(SystemError) {
            do throws(SystemError) {
                try negativeErrnoCall("xdp_program__attach(native)") { ctw_xdp_program_attach(program, interfaceIndex, CTW_XDP_ATTACH_NATIVE) }
            } catch {
                nativeRefusal = error
                mode = CTW_XDP_ATTACH_GENERIC
                try negativeErrnoCall("xdp_program__attach(generic)") { ctw_xdp_program_attach(program, interfaceIndex, CTW_XDP_ATTACH_GENERIC) }
            }
        } catch {
            ctw_xdp_program_close(program)
            throw .attach(interface: interface, error)
        }
        let portMap = ctw_xdp_program_map_fd(program, Self.portMapName)
        let socketMap = ctw_xdp_program_map_fd(program, Self.socketMapName)
        guard portMap >= 0, socketMap >= 0 else {
            ctw_xdp_program_close(program)
            let missing = portMap < 0 ? Self.portMapName : Self.socketMapName
            throw .map(name: missing, SystemError("bpf_object__find_map_fd_by_name", errno: ENOENT))
        }
        self.program = program
        self.interface = interface
        self.attachMode = mode
        self.nativeRefusal = nativeRefusal
        self.portMap = portMap
        self.socketMap = socketMap
    }

    deinit { ctw_xdp_program_close(program) }

    /// "native" or "generic (native refused: …)".
    var attachDescription: String {
        if attachMode == CTW_XDP_ATTACH_NATIVE { return "native" }
        return "generic" + (nativeRefusal.map { " (native refused: \($0.reason))" } ?? "")
    }

    func allow(port: UInt16) throws(XdpSetupError) {
        do throws(SystemError) {
            try negativeErrnoCall("bpf_map_update_elem") { ctw_xdp_allow_udp_port(portMap, port) }
        } catch {
            throw .map(name: Self.portMapName, error)
        }
    }

    func register(socket: Int32, queue: UInt32) throws(XdpSetupError) {
        do throws(SystemError) {
            try negativeErrnoCall("bpf_map_update_elem") { ctw_xdp_register_xsk(socketMap, queue, socket) }
        } catch {
            throw .map(name: Self.socketMapName, error)
        }
    }

    func unregister(queue: UInt32) { _ = ctw_xdp_unregister_xsk(socketMap, queue) }
}
