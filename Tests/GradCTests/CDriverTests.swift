import Foundation
import Grad
import TestSupport
import XCTest

/// The cache, the loader, the standalone output and the ABI, with no user text in the C.
final class CDriverTests: XCTestCase {
    /// A fresh directory, removed when the test ends (also the world-writable one and the one
    /// given to another user by `testUnsafeCacheDirectoriesAreRefused`).
    func tempDir(_ name: String) throws -> String {
        try temporaryDirectory(name).path
    }

    func scaled(_ factor: Double, name: String = "scale") throws -> Function {
        let fb = FunctionBuilder(name)
        let x = try fb.input("x", .f64, [3])
        let y = try sum(x * factor)
        try fb.output(y, "y")
        try fb.output(fb.grad(of: y, wrt: [x]))
        return try Differentiator.expand(fb.function)
    }

    // MARK: Hostile names

    func testHostileNamesNeverReachTheC() throws {
        let hostile = ["x\");system(\"id", "x'", "*/", "naïve_名前", "a\nb", "/*", "#define"]
        let fb = FunctionBuilder(hostile[0])
        var inputs: [Value] = []
        for (i, name) in hostile.enumerated() {
            inputs.append(try fb.input(name, i % 2 == 0 ? .f64 : .f32, [2]))
        }
        var total = try sum(inputs[0])
        for v in inputs.dropFirst() where v.dtype == .f64 { total = try total + sum(v) }
        try fb.output(total, hostile[1])
        try fb.output(inputs[1], hostile[2])
        try fb.output(fb.grad(of: total, wrt: [inputs[0]]).first ?? total, hostile[3])
        let f = try Differentiator.expand(fb.function)
        let src = try emitC([f], headerName: "model.h")
        for text in [src.source, src.header] {
            for name in hostile where !["*/", "/*", "#define"].contains(name) {
                XCTAssertFalse(text.contains(name), "'\(name)' appears in the generated C")
            }
            XCTAssertFalse(text.contains("system"))
            XCTAssertFalse(text.unicodeScalars.contains { $0.value > 127 }, "non-ASCII in the generated C")
            // Every comment closes exactly once: no '*/' or '/*' inside a comment.
            XCTAssertEqual(text.components(separatedBy: "/*").count, text.components(separatedBy: "*/").count)
        }
        let module = try CModule([f], environment: testEnvironment)
        var rng = SplitMix64(seed: 3)
        let args = f.parameters.map { Tensor.random(f.type(of: $0.value), using: &rng) }
        let got = try module.kernels[0].run(args)
        var named: [String: Tensor] = [:]
        for (p, t) in zip(f.parameters, args) { named[p.name] = t }
        let expected = try ReferenceEvaluator.run(f, inputs: named)
        for (g, e) in zip(got, expected) { XCTAssertTrue(sameBits(g, e)) }
    }

    // MARK: Standalone C

    /// Builds a C `main` against the emitted .c/.h with cc only (no gradc code) and checks
    /// the values it prints against the reference evaluator.
    func testStandaloneMainAgainstHeader() throws {
        let src = """
        func mlp(x: f64[4,3], w: f64[3,2], b: f64[2]) {
          h = tanh(x @ w + b)
          loss = mean(h * h)
          return loss, grad(loss, w, b)
        }
        """
        let f = try Differentiator.expand(XCTUnwrap(Pipeline.parse(src).functions.first))
        let emitted = try emitC([f])
        let dir = try tempDir("standalone")
        try emitted.source.write(toFile: dir + "/model.c", atomically: true, encoding: .utf8)
        try emitted.header.write(toFile: dir + "/model.h", atomically: true, encoding: .utf8)
        let sym = "mlp"
        let upper = sym
        let main = """
        #include <stdio.h>
        #include <stdlib.h>
        #include "model.h"
        int main(void) {
            double x[12], w[6], b[2], loss, gw[6], gb[2];
            for (int i = 0; i < 12; i++) x[i] = 0.1 * i - 0.5;
            for (int i = 0; i < 6; i++) w[i] = 0.2 * i - 0.4;
            b[0] = 0.25; b[1] = -0.75;
            const void *in[\(upper)_NUM_INPUTS] = {x, w, b};
            void *out[\(upper)_NUM_OUTPUTS] = {&loss, gw, gb};
            static unsigned char ws[\(upper)_WORKSPACE_BYTES + 1];
            if (\(sym)(in, out, ws) != 0) return 1;
            printf("%.17g\\n", loss);
            for (int i = 0; i < 6; i++) printf("%.17g\\n", gw[i]);
            for (int i = 0; i < 2; i++) printf("%.17g\\n", gb[i]);
            if (\(sym)(in, out, NULL) != 0) return 1;
            printf("%.17g\\n", loss);
            return 0;
        }
        """
        try main.write(toFile: dir + "/main.c", atomically: true, encoding: .utf8)
        let cc = try CCompiler.find()
        let build = try runProcess(cc.path, ["-O2", "-ffp-contract=off", "-o", dir + "/main", dir + "/main.c", dir + "/model.c", "-lm"])
        XCTAssertEqual(build.status, 0, build.output)
        let ran = try runProcess(dir + "/main", [])
        XCTAssertEqual(ran.status, 0, ran.output)
        let printed = ran.output.split(separator: "\n").compactMap { Double($0) }
        let xs = (0..<12).map { 0.1 * Double($0) - 0.5 }
        let ws = (0..<6).map { 0.2 * Double($0) - 0.4 }
        let expected = try ReferenceEvaluator.run(f, inputs: [
            "x": XCTUnwrap(Tensor(xs, shape: [4, 3])), "w": XCTUnwrap(Tensor(ws, shape: [3, 2])), "b": XCTUnwrap(Tensor([0.25, -0.75], shape: [2])),
        ])
        let flat = expected.flatMap(\.doubles)
        XCTAssertEqual(printed.count, flat.count + 1)
        for (p, e) in zip(printed, flat + [flat[0]]) { XCTAssertEqual(p, e, "standalone C value") }
        XCTAssertTrue(emitted.header.contains("\(upper)_WORKSPACE_BYTES"))
    }

    // MARK: Cache

    func testCacheKeysFlagsAndCompiler() throws {
        let cache = try CCache(directory: try tempDir("cache"))
        let cc = try CCompiler.find()
        let src = try emitC([scaled(2)]).source
        let a = try cache.sharedObject(source: src, compiler: cc, flags: ["-O1", "-ffp-contract=off"])
        XCTAssertFalse(a.hit)
        let b = try cache.sharedObject(source: src, compiler: cc, flags: ["-O1", "-ffp-contract=off"])
        XCTAssertTrue(b.hit)
        XCTAssertEqual(a.path, b.path)
        let c = try cache.sharedObject(source: src, compiler: cc, flags: ["-O2", "-ffp-contract=off"])
        XCTAssertFalse(c.hit, "changed flags must miss")
        XCTAssertNotEqual(c.path, a.path)
        var other = cc
        other.identity += " (another version)"
        let d = try cache.sharedObject(source: src, compiler: other, flags: ["-O1", "-ffp-contract=off"])
        XCTAssertFalse(d.hit, "a changed compiler must miss")
        XCTAssertEqual(cache.info().entries, 3)
    }

    func testTruncatedEntryIsRebuilt() throws {
        let dir = try tempDir("trunc")
        var env = testEnvironment
        env["GRADC_CACHE_DIR"] = dir
        let f = try scaled(3, name: "trunc")
        // Built and released (unloaded) before the entry is damaged on disk.
        let path = try CModule([f], environment: env).report.objectPath
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        XCTAssertEqual(truncate(path, off_t(size / 2)), 0)
        XCTAssertFalse(try CCache(directory: dir).isValidEntry(path))
        let second = try CModule([f], environment: env)
        XCTAssertFalse(second.report.cacheHit, "a truncated entry must be rebuilt")
        XCTAssertTrue(try CCache(directory: dir).isValidEntry(path))
        let out = try second.kernels[0].run([XCTUnwrap(Tensor([1, 2, 3] as [Double], shape: [3]))])
        XCTAssertEqual(out[0].scalar, 18)
        let third = try CModule([f], environment: env)
        XCTAssertTrue(third.report.cacheHit)
    }

    func testChangedModelInOneProcessRunsNewCode() throws {
        let x = try XCTUnwrap(Tensor([1, 2, 3] as [Double], shape: [3]))
        let two = try CModule([scaled(2)], environment: testEnvironment)
        let three = try CModule([scaled(3)], environment: testEnvironment)
        XCTAssertNotEqual(try emitC([scaled(2)]).prefix, try emitC([scaled(3)]).prefix)
        XCTAssertNotEqual(two.report.objectPath, three.report.objectPath)
        XCTAssertEqual(try two.kernels[0].run([x])[0].scalar, 12)
        XCTAssertEqual(try three.kernels[0].run([x])[0].scalar, 18)
        XCTAssertEqual(try two.kernels[0].run([x])[1].doubles, [2, 2, 2])
    }

    func testUnsafeCacheDirectoriesAreRefused() throws {
        let open = try tempDir("open")
        chmod(open, 0o777)
        XCTAssertThrowsError(try CCache(directory: open)) { error in
            XCTAssertTrue("\(error)".contains("writable by group or others"), "\(error)")
        }
        if getuid() == 0 {
            let foreign = try tempDir("foreign")
            chmod(foreign, 0o700)
            XCTAssertEqual(chown(foreign, 12345, 12345), 0)
            XCTAssertThrowsError(try CCache(directory: foreign)) { error in
                XCTAssertTrue("\(error)".contains("owned by uid 12345"), "\(error)")
            }
        }
        let fresh = try tempDir("fresh") + "/a/b"
        _ = try CCache(directory: fresh)
        var st = stat()
        XCTAssertEqual(stat(fresh, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o700)
    }

    func testMissingCompilerSaysBytecodeStillWorks() throws {
        XCTAssertThrowsError(try CCompiler.find(environment: ["CC": "gradc-no-such-compiler", "PATH": "/nonexistent"])) { error in
            XCTAssertTrue("\(error)".contains("bytecode backend"), "\(error)")
        }
    }

    func testCompileErrorShowsCompilerOutput() throws {
        let cache = try CCache(directory: try tempDir("err"))
        XCTAssertThrowsError(try cache.sharedObject(source: "int broken( {", compiler: CCompiler.find(), flags: ["-O0"])) { error in
            XCTAssertTrue("\(error)".contains("the C compiler failed"), "\(error)")
            XCTAssertTrue("\(error)".contains("error"), "\(error)")
        }
    }

    /// Four gradc processes compile one model into an empty cache at once: all succeed.
    func testFourConcurrentProcesses() throws {
        let gradc = URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).deletingLastPathComponent().appendingPathComponent("gradc").path
        guard FileManager.default.isExecutableFile(atPath: gradc) else {
            throw XCTSkip("gradc executable not built next to the tests")
        }
        let dir = try tempDir("concurrent")
        let model = dir + "/m.ir"
        try "func m(x: f64[8,8], w: f64[8,8]) {\n  y = sum(tanh(x @ w))\n  return y, grad(y, w)\n}\n".write(toFile: model, atomically: true, encoding: .utf8)
        var env = ProcessInfo.processInfo.environment
        env["GRADC_CACHE_DIR"] = dir + "/cache"
        var processes: [(Process, Pipe)] = []
        for _ in 0..<4 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: gradc)
            p.arguments = ["run", model, "--backend", "c", "--seed", "5"]
            p.environment = env
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = pipe
            try p.run()
            processes.append((p, pipe))
        }
        var outputs: [String] = []
        for (p, pipe) in processes {
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0, String(decoding: data, as: UTF8.self))
            outputs.append(String(decoding: data, as: UTF8.self))
        }
        XCTAssertEqual(Set(outputs).count, 1)
        XCTAssertEqual(try CCache(directory: dir + "/cache").info().entries, 1)
    }
}
