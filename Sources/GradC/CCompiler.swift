import GradRuntime
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The system C compiler: found on `PATH` (or named by `CC`), run through `Process` with an
/// argument array — never a shell.
///
/// `CC` is a single program name (looked up on `PATH`) or a path; it is not split on spaces.
public struct CCompiler: Sendable, Hashable {
    /// Absolute path of the compiler executable.
    public var path: String
    /// The first line of `path --version` (e.g. `cc (Debian 12.2.0-14) 12.2.0`), part of the
    /// cache key so a changed compiler never reuses old objects.
    public var identity: String

    /// Finds the compiler: `CC` from `environment` if set, else `cc`; a name is looked up on
    /// `PATH`. Throws a clear error when there is none (the bytecode backend still works).
    public static func find(environment: [String: String] = ProcessInfo.processInfo.environment) throws(Diagnostic) -> CCompiler {
        let requested = environment["CC"].flatMap { $0.isEmpty ? nil : $0 } ?? "cc"
        guard let path = resolveExecutable(requested, path: environment["PATH"] ?? "/usr/bin:/bin") else {
            let via = environment["CC"] == nil ? "'cc' on PATH" : "CC='\(requested)'"
            throw Diagnostic(.other("no C compiler found (looked for \(via)); install one (e.g. gcc) or set CC to a compiler. The bytecode backend (--backend bytecode) works without one"))
        }
        return CCompiler(path: path, identity: try identify(path))
    }

    /// Compiles `source` (a `.c` file) into the shared object `output` with `flags`.
    /// A failure carries the compiler's own output.
    public func compileSharedObject(source: String, output: String, flags: [String]) throws(Diagnostic) {
        let args = flags + ["-shared", "-fPIC", "-o", output, source, "-lm"]
        let result = try run(path, args)
        guard result.status == 0 else {
            throw Diagnostic(.other("the C compiler failed (\(path) exited with \(result.status)):\n\(result.output)"))
        }
    }

    // MARK: - Process plumbing

    private static let identityLock = NSLock()
    nonisolated(unsafe) private static var identities: [String: String] = [:]

    /// The first line of `path --version`, memoized per process.
    static func identify(_ path: String) throws(Diagnostic) -> String {
        identityLock.lock()
        let known = identities[path]
        identityLock.unlock()
        if let known { return known }
        let result = try run(path, ["--version"])
        guard result.status == 0 else {
            throw Diagnostic(.other("'\(path) --version' failed (exit \(result.status)); is CC a C compiler? The bytecode backend (--backend bytecode) works without one"))
        }
        let first = result.output.split(separator: "\n").first.map(String.init) ?? ""
        var attributes = ""
        if let info = try? FileManager.default.attributesOfItem(atPath: path) {
            attributes = "\(info[.size] ?? 0) \((info[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)"
        }
        let identity = "\(path) | \(first) | \(attributes)"
        identityLock.lock()
        identities[path] = identity
        identityLock.unlock()
        return identity
    }
}

/// Runs `executable` with `arguments` (no shell); returns its exit status and combined output.
func run(_ executable: String, _ arguments: [String]) throws(Diagnostic) -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    process.standardInput = FileHandle.nullDevice
    do {
        try process.run()
    } catch {
        throw Diagnostic(.other("cannot run '\(executable)': \(error.localizedDescription). The bytecode backend (--backend bytecode) works without a C compiler"))
    }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// `name` if it is a path to an executable file, else the first executable `dir/name` on `path`.
func resolveExecutable(_ name: String, path: String) -> String? {
    if name.contains("/") {
        return access(name, X_OK) == 0 ? name : nil
    }
    for dir in path.split(separator: ":") where !dir.isEmpty {
        let candidate = String(dir) + "/" + name
        var st = stat()
        if stat(candidate, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, access(candidate, X_OK) == 0 {
            return candidate
        }
    }
    return nil
}
