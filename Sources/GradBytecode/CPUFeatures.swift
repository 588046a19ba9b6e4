#if canImport(Glibc)
import Glibc
#endif

// Which optional instruction sets this CPU has, for choosing kernels at link time.

enum CPUFeatures {
    /// Whether the CPU runs the GradKernelsAVX2 functions (`target("avx2,fma")`): AVX2 and
    /// FMA. Read once from the `flags` line of `/proc/cpuinfo` (the kernel lists `avx` only
    /// when the OS saves the ymm registers); false when that file cannot be read, so an
    /// unknown CPU gets the baseline kernels rather than an illegal instruction.
    static let avx2FMA: Bool = {
        guard let flags = cpuinfoFlags() else { return false }
        return ["avx", "avx2", "fma"].allSatisfy { flags.contains(Substring($0)) }
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
