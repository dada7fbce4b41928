#if canImport(Glibc)
import Glibc
#endif

/// Writes a line to standard error (diagnostics never mix with data on stdout).
func printError(_ line: String) {
    var text = line
    text.append("\n")
    text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
}
