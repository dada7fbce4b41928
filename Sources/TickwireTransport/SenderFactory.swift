import TickwireSystem

/// The sender a configuration produced. Callers switch once, at start-up, and run a loop
/// generic over the concrete sender (no existential on the hot path).
public enum ConfiguredSender {
    case standard(StandardUdpSender)
    case xdp(XdpUdpSender)

    public var modeDescription: String {
        switch self {
        case .standard(let sender): sender.modeDescription
        case .xdp(let sender): sender.modeDescription
        }
    }
}

/// Why no sender could be built; `description` is the line to print before exiting non-zero.
public enum SenderStartError: Error, Equatable, CustomStringConvertible {
    case invalidConfiguration(String)
    /// `--sender xdp --no-fallback` and XDP could not start.
    case xdpUnavailable(XdpSenderError)
    case standard(SystemError)

    public var description: String {
        switch self {
        case .invalidConfiguration(let problem): "sender configuration: \(problem)"
        case .xdpUnavailable(let reason): "xdp sender cannot start (--no-fallback given): \(reason)"
        case .standard(let error): "standard sender: \(error)"
        }
    }
}

extension SenderConfiguration {
    /// Builds the configured sender. When XDP cannot start it falls back to the standard
    /// sender and returns why (the caller logs it), unless `noFallback` (then it throws).
    public func makeSender() throws(SenderStartError) -> (sender: ConfiguredSender, fallbackReason: String?) {
        if let problem { throw .invalidConfiguration(problem) }
        var fallbackReason: String?
        if kind == .xdp {
            do throws(XdpSenderError) {
                return (.xdp(try XdpUdpSender(configuration: self)), nil)
            } catch {
                if noFallback { throw .xdpUnavailable(error) }
                fallbackReason = "xdp sender cannot start, falling back to the standard sender: \(error)"
            }
        }
        do throws(SystemError) {
            return (.standard(try StandardUdpSender(configuration: self)), fallbackReason)
        } catch {
            throw .standard(error)
        }
    }
}
