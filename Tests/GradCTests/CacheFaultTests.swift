import Foundation
import Grad
import TestSupport
import XCTest

/// Faults around the compile cache, with real `gradc` processes: a compile killed with
/// SIGKILL, a foreign shared object where an entry should be, eight processes at once.
///
/// `CC` points at a small wrapper script made here: it logs every compile (one line per
/// `-shared` build) and waits first while a `slow` file exists, then runs the real `cc`.
final class CacheFaultTests: XCTestCase {
    var gradc: String {
        URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).deletingLastPathComponent().appendingPathComponent("gradc").path
    }

    struct Sandbox {
        var dir: String
        var model: String
        var log: String
        var slow: String
        var environment: [String: String]

        /// Compiles logged so far.
        var compiles: Int {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").filter { $0.contains("-shared") }.count
        }
    }

    /// `compile` makes the wrapper's shell code for a build (after logging it) from the
    /// sandbox's directory; by default it waits while `slow` exists, then runs `cc`.
    func sandbox(_ name: String, compile: ((_ dir: String) -> String)? = nil) throws -> Sandbox {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: gradc), "gradc not built next to the tests")
        try XCTSkipUnless((try? CCompiler.find()) != nil, "no C compiler")
        let dir = try temporaryDirectory("fault-\(name)").path
        let model = dir + "/m.ir"
        try "func m(x: f64[8,8], w: f64[8,8]) {\n  y = sum(tanh(x @ w))\n  return y, grad(y, w)\n}\n"
            .write(toFile: model, atomically: true, encoding: .utf8)
        let log = dir + "/cc.log"
        let slow = dir + "/slow"
        let wrapper = dir + "/cc-wrapper"
        try """
        #!/bin/sh
        case "$1" in --version) exec cc "$@" ;; esac
        echo "$$ $*" >> '\(log)'
        \(compile?(dir) ?? "while [ -e '\(slow)' ]; do sleep 0.1; done\nexec cc \"$@\"")

        """.write(toFile: wrapper, atomically: true, encoding: .utf8)
        chmod(wrapper, 0o755)
        var env = ProcessInfo.processInfo.environment
        env["CC"] = wrapper
        env["GRADC_CACHE_DIR"] = dir + "/cache"
        return Sandbox(dir: dir, model: model, log: log, slow: slow, environment: env)
    }

    func start(_ s: Sandbox, _ arguments: [String]? = nil, environment: [String: String] = [:]) throws -> (Process, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: gradc)
        p.arguments = arguments ?? ["run", s.model, "--backend", "c", "--seed", "5"]
        p.environment = s.environment.merging(environment) { $1 }
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        return (p, pipe)
    }

    func finish(_ started: (Process, Pipe)) -> (status: Int32, output: String) {
        let data = started.1.fileHandleForReading.readDataToEndOfFile()
        started.0.waitUntilExit()
        return (started.0.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// kill -9 during a compile, then compile again: works, and the entry is whole.
    func testKilledCompileThenCompileAgain() throws {
        let s = try sandbox("kill")
        XCTAssertTrue(FileManager.default.createFile(atPath: s.slow, contents: Data()))
        let victim = try start(s)
        let deadline = Date().addingTimeInterval(60)
        while s.compiles == 0, Date() < deadline { usleep(20_000) }
        XCTAssertEqual(s.compiles, 1, "the compile never started")
        kill(victim.0.processIdentifier, SIGKILL)
        // The orphaned wrapper (still waiting) is ours too: end it by its pid.
        let log = try String(contentsOfFile: s.log, encoding: .utf8)
        if let pid = log.split(separator: " ").first.flatMap({ Int32($0) }) { kill(pid, SIGKILL) }
        let killed = finish(victim)
        XCTAssertEqual(victim.0.terminationReason, .uncaughtSignal, killed.output)
        try FileManager.default.removeItem(atPath: s.slow)

        let again = finish(try start(s))
        XCTAssertEqual(again.status, 0, again.output)
        XCTAssertTrue(again.output.contains("y: f64 ="), again.output)
        XCTAssertEqual(s.compiles, 2)
        let cache = try CCache(directory: s.environment["GRADC_CACHE_DIR"] ?? "")
        XCTAssertEqual(cache.info().entries, 1)
        let third = finish(try start(s))
        XCTAssertEqual(third.output, again.output)
        XCTAssertEqual(s.compiles, 2, "the rebuilt entry is used")
    }

    /// A foreign shared object (valid ELF, no gradc trailer) or a truncated one at the
    /// entry's path is rebuilt, never loaded.
    func testForeignOrTruncatedSharedObjectIsRebuilt() throws {
        let s = try sandbox("foreign")
        let first = finish(try start(s))
        XCTAssertEqual(first.status, 0, first.output)
        let cacheDir = s.environment["GRADC_CACHE_DIR"] ?? ""
        let entries = try FileManager.default.contentsOfDirectory(atPath: cacheDir).filter { $0.hasPrefix("gradc-") && $0.hasSuffix(".so") }
        let entry = cacheDir + "/" + (try XCTUnwrap(entries.first))

        let foreignSource = s.dir + "/foreign.c"
        try "int gradc_foreign(void) { return 42; }\n".write(toFile: foreignSource, atomically: true, encoding: .utf8)
        let cc = try CCompiler.find()
        try cc.compileSharedObject(source: foreignSource, output: entry, flags: ["-O0"])
        let rebuilt = finish(try start(s))
        XCTAssertEqual(rebuilt.status, 0, rebuilt.output)
        XCTAssertEqual(rebuilt.output, first.output)
        XCTAssertEqual(s.compiles, 2, "a foreign .so must be rebuilt")

        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: entry)[.size] as? Int)
        XCTAssertEqual(truncate(entry, off_t(size - 1)), 0)
        let again = finish(try start(s))
        XCTAssertEqual(again.output, first.output)
        XCTAssertEqual(s.compiles, 3, "a truncated .so must be rebuilt")
    }

    /// Eight processes on one model and an empty cache: all succeed, one compile.
    func testEightConcurrentProcessesCompileOnce() throws {
        let s = try sandbox("eight")
        let started = try (0..<8).map { _ in try start(s) }
        let results = started.map(finish)
        for r in results { XCTAssertEqual(r.status, 0, r.output) }
        XCTAssertEqual(Set(results.map(\.output)).count, 1)
        XCTAssertEqual(s.compiles, 1, "processes that miss together wait for one build")
        XCTAssertEqual(try CCache(directory: s.environment["GRADC_CACHE_DIR"] ?? "").info().entries, 1)
    }

    // MARK: Timeouts and odd entries (issue 13 §3)

    /// Ends every compiler wrapper the sandbox logged that still runs, with its process group (a
    /// wrapper leads its own: Foundation starts each child in a new group), so a failing test
    /// leaves no sleeper.
    func killWrappers(_ s: Sandbox) {
        let log = (try? String(contentsOfFile: s.log, encoding: .utf8)) ?? ""
        for line in log.split(separator: "\n") {
            guard let pid = line.split(separator: " ").first.flatMap({ Int32($0) }),
                  let command = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                  String(decoding: command, as: UTF8.self).contains(s.dir) else { continue }
            kill(-pid, SIGKILL)
        }
    }

    /// Whether `pid` is gone (or a zombie nobody has reaped yet).
    func isDead(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
    }

    /// Waits for `started` while polling, up to a generous safety limit (the fix makes it end in
    /// about a second; without it the process would wait for the hung compiler forever).
    func finish(_ started: (Process, Pipe), within limit: TimeInterval) -> (status: Int32, output: String)? {
        let output = DispatchQueue(label: "gradc-output")
        nonisolated(unsafe) var data = Data()
        let read = DispatchSemaphore(value: 0)
        output.async {
            data = started.1.fileHandleForReading.readDataToEndOfFile()
            read.signal()
        }
        let deadline = Date().addingTimeInterval(limit)
        while started.0.isRunning, Date() < deadline { usleep(20_000) }
        if started.0.isRunning {
            kill(started.0.processIdentifier, SIGKILL)
            started.0.waitUntilExit()
            return nil
        }
        _ = read.wait(timeout: .now() + 5)
        return (started.0.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// A compiler that hangs (its child too) is killed with its whole process group after
    /// GRADC_CC_TIMEOUT, with an error naming the variable; the next build works.
    func testHungCompilerIsKilledAfterTimeout() throws {
        let s = try sandbox("hung") { dir in
            "[ -e '\(dir)/hung-once' ] && exec cc \"$@\"\ntouch '\(dir)/hung-once'\nsleep 300 & echo $! > '\(dir)/sleeper'\nwait"
        }
        defer { killWrappers(s) }
        let r = try XCTUnwrap(finish(try start(s, environment: ["GRADC_CC_TIMEOUT": "0.5"]), within: 60), "gradc waited for the hung compiler")
        XCTAssertNotEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("did not finish within 0.5 s and was killed"), r.output)
        XCTAssertTrue(r.output.contains("GRADC_CC_TIMEOUT"), r.output)
        let sleeper = try XCTUnwrap(Int32(String(contentsOfFile: s.dir + "/sleeper", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        let deadline = Date().addingTimeInterval(10)
        while !isDead(sleeper), Date() < deadline { usleep(20_000) }
        XCTAssertTrue(isDead(sleeper), "the compiler's child was killed too")
        if !isDead(sleeper) { kill(sleeper, SIGKILL) }

        let again = finish(try start(s, environment: ["GRADC_CC_TIMEOUT": "60"]))
        XCTAssertEqual(again.status, 0, again.output)
        XCTAssertTrue(again.output.contains("y: f64 ="), again.output)
    }

    /// A process holding an entry's lock with a hung compile does not block the others: after
    /// GRADC_CACHE_LOCK_TIMEOUT they compile themselves and succeed.
    func testLockHeldByHungCompileIsGivenUp() throws {
        let s = try sandbox("lockwait") { dir in
            "if mkdir '\(dir)/first' 2>/dev/null; then sleep 300; fi\nexec cc \"$@\""
        }
        let holder = try start(s, environment: ["GRADC_CC_TIMEOUT": "600"])
        defer {
            killWrappers(s)
            kill(holder.0.processIdentifier, SIGKILL)
            holder.0.waitUntilExit()
        }
        let deadline = Date().addingTimeInterval(60)
        while s.compiles == 0, Date() < deadline { usleep(20_000) }
        XCTAssertEqual(s.compiles, 1, "the holder's compile never started")

        let waiter = try XCTUnwrap(finish(try start(s, environment: ["GRADC_CACHE_LOCK_TIMEOUT": "0.3"]), within: 60),
                                   "the second process waited on the hung holder's lock")
        XCTAssertEqual(waiter.status, 0, waiter.output)
        XCTAssertTrue(waiter.output.contains("y: f64 ="), waiter.output)
        XCTAssertEqual(s.compiles, 2)
        XCTAssertTrue(holder.0.isRunning, "the holder is still hung")
    }

    /// A directory at the entry's path: `gradc run` rebuilds past it, and `gradc cache --clear`
    /// removes one.
    func testDirectoryAtEntryPathRunAndClear() throws {
        let s = try sandbox("direntry")
        let first = finish(try start(s))
        XCTAssertEqual(first.status, 0, first.output)
        let cacheDir = s.environment["GRADC_CACHE_DIR"] ?? ""
        let entries = try FileManager.default.contentsOfDirectory(atPath: cacheDir).filter { $0.hasPrefix("gradc-") && $0.hasSuffix(".so") }
        let entry = cacheDir + "/" + (try XCTUnwrap(entries.first))
        for clear in [false, true] {
            XCTAssertEqual(unlink(entry), 0)
            XCTAssertEqual(mkdir(entry, 0o700), 0)
            XCTAssertTrue(FileManager.default.createFile(atPath: entry + "/inside", contents: Data("x".utf8)))
            if clear {
                let r = finish(try start(s, ["cache", "--clear"]))
                XCTAssertEqual(r.status, 0, r.output)
                XCTAssertFalse(FileManager.default.fileExists(atPath: entry), "cache --clear leaves the directory: \(r.output)")
            } else {
                let r = finish(try start(s))
                XCTAssertEqual(r.status, 0, r.output)
                XCTAssertEqual(r.output, first.output)
                var st = stat()
                XCTAssertEqual(lstat(entry, &st), 0)
                XCTAssertEqual(st.st_mode & S_IFMT, S_IFREG)
            }
        }
    }
}
