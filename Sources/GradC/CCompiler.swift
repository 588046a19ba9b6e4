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
    /// Seconds a compiler run may take before it is killed (`GRADC_CC_TIMEOUT`; `inf`: no limit).
    public var timeout: Double = CCompiler.defaultTimeout

    /// Ten minutes: far beyond any model gradc emits, short enough that a hung `cc` ends.
    public static let defaultTimeout: Double = 600

    /// Finds the compiler: `CC` from `environment` if set, else `cc`; a name is looked up on
    /// `PATH`. Throws a clear error when there is none (the bytecode backend still works).
    public static func find(environment: [String: String] = ProcessInfo.processInfo.environment) throws(Diagnostic) -> CCompiler {
        let requested = environment["CC"].flatMap { $0.isEmpty ? nil : $0 } ?? "cc"
        guard let path = resolveExecutable(requested, path: environment["PATH"] ?? "/usr/bin:/bin") else {
            let via = environment["CC"] == nil ? "'cc' on PATH" : "CC='\(requested)'"
            throw Diagnostic(.other("no C compiler found (looked for \(via)); install one (e.g. gcc) or set CC to a compiler. The bytecode backend (--backend bytecode) works without one"))
        }
        let timeout = try seconds("GRADC_CC_TIMEOUT", in: environment, default: defaultTimeout)
        return CCompiler(path: path, identity: try identify(path, timeout: timeout), timeout: timeout)
    }

    /// Compiles `source` (a `.c` file) into the shared object `output` with `flags`.
    /// A failure carries the compiler's own output.
    public func compileSharedObject(source: String, output: String, flags: [String]) throws(Diagnostic) {
        let args = flags + ["-shared", "-fPIC", "-o", output, source, "-lm"]
        let result = try run(path, args, timeout: timeout)
        guard result.status == 0 else {
            throw Diagnostic(.other("the C compiler failed (\(path) exited with \(result.status)):\n\(result.output)"))
        }
    }

    // MARK: - Process plumbing

    private static let identityLock = NSLock()
    nonisolated(unsafe) private static var identities: [String: String] = [:]

    /// The first line of `path --version`, memoized per process.
    static func identify(_ path: String, timeout: Double) throws(Diagnostic) -> String {
        identityLock.lock()
        let known = identities[path]
        identityLock.unlock()
        if let known { return known }
        let result = try run(path, ["--version"], timeout: timeout)
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
///
/// A run that takes longer than `timeout` seconds is killed with its whole process group
/// (Foundation starts the child as the leader of a group of its own, so `cc`'s `cc1`, `as`
/// and `ld` go too) and reported as an error naming `GRADC_CC_TIMEOUT`.
func run(_ executable: String, _ arguments: [String], timeout: Double) throws(Diagnostic) -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    process.standardInput = FileHandle.nullDevice
    let exited = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in exited.signal() }
    do {
        try process.run()
    } catch {
        throw Diagnostic(.other("cannot run '\(executable)': \(error.localizedDescription). The bytecode backend (--backend bytecode) works without a C compiler"))
    }
    // The output is read on another thread so that a child that fills the pipe cannot stall
    // and a child that never exits cannot hold this thread past the deadline.
    let output = PipeReader(pipe.fileHandleForReading)
    let deadline = dispatchDeadline(after: timeout)
    let finished = exited.wait(timeout: deadline) == .success
    if !finished || output.wait(until: deadline) == .timedOut {
        let pid = process.processIdentifier
        kill(-pid, SIGKILL)
        if !finished {
            kill(pid, SIGKILL)
            exited.wait()
        }
        _ = output.wait(until: .now() + 1)
        throw Diagnostic(.other("'\(executable)' did not finish within \(describeSeconds(timeout)) and was killed (is the compiler hung?); set GRADC_CC_TIMEOUT=SECONDS to allow longer"))
    }
    return (process.terminationStatus, String(decoding: output.data, as: UTF8.self))
}

/// Reads a pipe to its end on a background thread.
private final class PipeReader: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var collected = Data()

    init(_ handle: FileHandle) {
        DispatchQueue.global().async {
            let data = (try? handle.readToEnd()) ?? Data()  // throws, where readDataToEndOfFile traps
            self.lock.lock()
            self.collected = data
            self.lock.unlock()
            self.done.signal()
        }
    }

    /// Waits for the end of the pipe (every writer closed it).
    func wait(until deadline: DispatchTime) -> DispatchTimeoutResult {
        let result = done.wait(timeout: deadline)
        if result == .success { done.signal() }
        return result
    }

    var data: Data {
        lock.lock()
        defer { lock.unlock() }
        return collected
    }
}

/// A number of seconds from the environment variable `name`: positive, `inf` for no limit;
/// `fallback` when unset or empty.
func seconds(_ name: String, in environment: [String: String], default fallback: Double) throws(Diagnostic) -> Double {
    guard let text = environment[name], !text.isEmpty else { return fallback }
    guard let value = Double(text), value > 0 else {
        throw Diagnostic(.other("\(name) must be a positive number of seconds (or inf for no limit), got '\(text)'"))
    }
    return value
}

/// `seconds` from now; an infinite or absurdly long wait is no deadline at all.
func dispatchDeadline(after seconds: Double) -> DispatchTime {
    seconds < 1e9 ? .now() + seconds : .distantFuture
}

/// `1.5 s`, `600 s`, `no limit`.
func describeSeconds(_ seconds: Double) -> String {
    seconds.isFinite ? String(format: "%g s", seconds) : "no limit"
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
