import Foundation

/// An LD_PRELOAD library counting malloc-family calls, for the hot-path allocation tests: a
/// process run with it prints `MALLOC-CALLS N` to standard error at exit.
public enum MallocCounter {
    static let source = #"""
        #define _GNU_SOURCE
        #include <stdatomic.h>
        #include <stddef.h>
        #include <stdio.h>
        #include <unistd.h>
        #include <errno.h>
        extern void *__libc_malloc(size_t);
        extern void *__libc_calloc(size_t, size_t);
        extern void *__libc_realloc(void *, size_t);
        extern void *__libc_memalign(size_t, size_t);
        static atomic_ulong calls;
        void *malloc(size_t n) { atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed); return __libc_malloc(n); }
        void *calloc(size_t a, size_t b) { atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed); return __libc_calloc(a, b); }
        void *realloc(void *p, size_t n) { atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed); return __libc_realloc(p, n); }
        void *memalign(size_t a, size_t n) { atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed); return __libc_memalign(a, n); }
        void *aligned_alloc(size_t a, size_t n) { atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed); return __libc_memalign(a, n); }
        int posix_memalign(void **out, size_t a, size_t n) {
            atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
            void *p = __libc_memalign(a, n);
            if (!p) return ENOMEM;
            *out = p;
            return 0;
        }
        __attribute__((destructor)) static void report(void) {
            char line[64];
            int n = snprintf(line, sizeof line, "MALLOC-CALLS %lu\n", (unsigned long)atomic_load(&calls));
            if (n > 0) write(2, line, (size_t)n);
        }
        """#

    public struct BuildFailure: Error, CustomStringConvertible {
        public let description = "cc failed to build the malloc counter"
    }

    /// Compiles the counter into a fresh temporary folder; returns the library's path.
    public static func build() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tickwire-malloc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let sourcePath = directory.appendingPathComponent("count.c").path
        try source.write(toFile: sourcePath, atomically: true, encoding: .utf8)
        let library = directory.appendingPathComponent("count.so").path
        let compiler = Process()
        compiler.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        compiler.arguments = ["cc", "-shared", "-fPIC", "-O2", "-o", library, sourcePath]
        try compiler.run()
        compiler.waitUntilExit()
        guard compiler.terminationStatus == 0 else { throw BuildFailure() }
        return library
    }

    /// The count a process reported on its standard error, if it did.
    public static func calls(inStandardError text: String) -> Int? {
        text.split(separator: "\n").last { $0.hasPrefix("MALLOC-CALLS ") }.flatMap { Int($0.dropFirst("MALLOC-CALLS ".count)) }
    }
}
