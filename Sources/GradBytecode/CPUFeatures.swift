#if canImport(Glibc)
import Glibc
#endif

// Which optional instruction sets this CPU has, for choosing kernels at link time.

enum CPUFeatures {
    /// Whether the CPU runs code compiled for `-target-cpu haswell` (the GradKernelsAVX2
    /// module): AVX2 and FMA, and the scalar extensions LLVM may use with them. Read once from
    /// the `flags` line of `/proc/cpuinfo` (the kernel lists `avx` only when the OS saves the
    /// ymm registers); false when that file cannot be read, so an unknown CPU gets the
    /// baseline kernels rather than an illegal instruction.
    static let haswell: Bool = {
        guard let flags = cpuinfoFlags() else { return false }
        let needed = ["avx", "avx2", "fma", "bmi1", "bmi2", "abm", "movbe", "f16c", "popcnt"]
        return needed.allSatisfy { flags.contains(Substring($0)) }
    }()

    /// The words of the first `flags` line of `/proc/cpuinfo` (all processors of a machine
    /// have the same instruction sets).
    static func cpuinfoFlags() -> Set<Substring>? {
        #if os(Linux)
        let fd = open("/proc/cpuinfo", O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        // /proc files report size 0: read to the end (at most 4 MiB).
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while bytes.count < 1 << 22 {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return nil }
        return Set(line[line.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\t" }))
        #else
        return nil
        #endif
    }
}
