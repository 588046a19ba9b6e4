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

    func sandbox(_ name: String) throws -> Sandbox {
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
        while [ -e '\(slow)' ]; do sleep 0.1; done
        exec cc "$@"

        """.write(toFile: wrapper, atomically: true, encoding: .utf8)
        chmod(wrapper, 0o755)
        var env = ProcessInfo.processInfo.environment
        env["CC"] = wrapper
        env["GRADC_CACHE_DIR"] = dir + "/cache"
        return Sandbox(dir: dir, model: model, log: log, slow: slow, environment: env)
    }

    func start(_ s: Sandbox) throws -> (Process, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: gradc)
        p.arguments = ["run", s.model, "--backend", "c", "--seed", "5"]
        p.environment = s.environment
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
        FileManager.default.createFile(atPath: s.slow, contents: Data())
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
}
