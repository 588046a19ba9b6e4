import Foundation
import Grad
import TestSupport
import XCTest

/// Runs the built `gradc` executable as a user would.
final class CLITests: XCTestCase {
    /// The `gradc` of the same build as this test binary (which sits next to the products —
    /// on Linux the running executable itself, on macOS inside an `.xctest` bundle), so a
    /// `--scratch-path` build never tests a stale `.build/debug/gradc`.
    var gradc: URL {
        var candidates: [URL] = []
        let running = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        if running.path != "/proc/self/exe" { candidates.append(running.deletingLastPathComponent()) }
        if let bundle = Bundle.allBundles.first(where: { $0.bundlePath.hasSuffix(".xctest") }) {
            candidates.append(URL(fileURLWithPath: bundle.bundlePath).deletingLastPathComponent())
        }
        candidates.append(repositoryRoot.appendingPathComponent(".build/debug"))
        let products = candidates.first { FileManager.default.isExecutableFile(atPath: $0.appendingPathComponent("gradc").path) }
            ?? candidates[candidates.count - 1]
        return products.appendingPathComponent("gradc")
    }

    /// Runs gradc in `directory` (default: the repository), with `stdin` as its standard input
    /// (default: none).
    func run(_ args: [String], stdin: String? = nil, in directory: URL? = nil) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = gradc
        p.arguments = args
        p.currentDirectoryURL = directory ?? repositoryRoot
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let input = Pipe()
        p.standardInput = stdin == nil ? FileHandle.nullDevice : input
        try p.run()
        if let stdin {
            signal(SIGPIPE, SIG_IGN)  // gradc may exit before reading: a failed write, not a killed test
            try? input.fileHandleForWriting.write(contentsOf: Data(stdin.utf8))
            try? input.fileHandleForWriting.close()
        }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    func temporaryFile(_ text: String, name: String = "model.ir") throws -> String {
        let url = try temporaryDirectory("cli").appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: gradc.path), "gradc not built at \(gradc.path)")
    }

    func testRunSeed() throws {
        let r = try run(["run", "Examples/seed.ir", "--input", "x=4", "--input", "y=3"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("z: f64 = 0.0996761317174237"), r.out)
        XCTAssertTrue(r.out.contains("dzdx: f64 = -0.00759400550878"), r.out)
    }

    func testRunWritesNPY() throws {
        let dir = try temporaryDirectory("out").path
        let r = try run(["run", "Examples/mlp.ir", "--output-dir", dir])
        XCTAssertEqual(r.status, 0, r.err)
        let w1 = try readNPYFile(dir + "/dloss_dw1.npy")
        XCTAssertEqual(w1.shape, [64, 32])
    }

    /// `--portable` on the VM (from the model and from a .gbc file) gives the reference
    /// backend's bits for every output of the MLP and its gradient.
    func testPortableBytecodeMatchesReferenceBits() throws {
        let base = try temporaryDirectory("portable").path
        let gbc = base + "/mlp.gbc"
        XCTAssertEqual(try run(["compile", "Examples/mlp.ir", "--backend", "bytecode", "-o", gbc]).status, 0)
        let runs: [(String, [String])] = [
            ("reference", ["run", "Examples/mlp.ir", "--backend", "reference"]),
            ("bytecode", ["run", "Examples/mlp.ir", "--backend", "bytecode", "--portable"]),
            ("gbc", ["run", gbc, "--portable"]),
        ]
        for (name, args) in runs {
            let r = try run(args + ["--output-dir", base + "/" + name])
            XCTAssertEqual(r.status, 0, "\(name): \(r.err)")
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: base + "/reference").filter { $0.hasSuffix(".npy") }
        XCTAssertEqual(files.count, 5)
        for file in files {
            let expected = try readNPYFile(base + "/reference/" + file)
            for name in ["bytecode", "gbc"] {
                XCTAssertTrue(sameBits(try readNPYFile(base + "/\(name)/" + file), expected), "\(name) \(file)")
            }
        }
    }

    /// `--input` reads i64 exactly and bool as true/false/1/0, on every backend; anything
    /// else is refused naming the input (it used to go through a double: 2^53 + 1 rounded,
    /// nan → 0, 1.5 → 1, 0.5 → true, all with exit 0).
    func testIntegerAndBoolInputsAreExact() throws {
        let model = "Tests/Fixtures/integers.ir"
        for backend in ["reference", "bytecode", "c"] {
            for (n, b) in [("9007199254740993", "1"), ("-9223372036854775808", "false"), ("+7", "true"), ("9223372036854775807", "0")] {
                let r = try run(["run", model, "--backend", backend, "--input", "n=\(n)", "--input", "b=\(b)"])
                XCTAssertEqual(r.status, 0, r.err)
                let above = try XCTUnwrap(Int64(n)) &+ 9_007_199_254_740_993  // wraps like i64 arithmetic
                XCTAssertTrue(r.out.contains("out7: bool = \(b == "1" || b == "true")\n"), r.out)
                XCTAssertTrue(r.out.contains("above: i64 = \(above)\n"), "\(backend) n=\(n): \(r.out)")
                XCTAssertTrue(r.out.contains("top: i64[2] =\n[9223372036854775807, 9223372036854775807]"), r.out)
            }
        }
        let refused: [(String, String)] = [
            ("n=1.5", "input 'n' of type i64: '1.5' is not an integer"),
            ("n=nan", "input 'n' of type i64: 'nan' is not an integer"),
            ("n=inf", "input 'n' of type i64: 'inf' is not an integer"),
            ("n=1e3", "input 'n' of type i64: '1e3' is not an integer"),
            ("n=9223372036854775808", "input 'n' of type i64: '9223372036854775808' does not fit in i64"),
            ("n=-9223372036854775809", "input 'n' of type i64: '-9223372036854775809' does not fit in i64"),
            ("b=0.5", "input 'b' of type bool: '0.5' is not a bool (expected true, false, 1 or 0)"),
            ("b=2", "input 'b' of type bool: '2' is not a bool"),
            ("b=-1", "input 'b' of type bool: '-1' is not a bool"),
        ]
        for (spec, message) in refused {
            let r = try run(["run", model, "--input", spec])
            XCTAssertEqual(r.status, 2, "\(spec): \(r.out)")
            XCTAssertTrue(r.err.contains(message), "\(spec): \(r.err)")
            XCTAssertEqual(r.out, "", spec)
        }
    }

    func readNPYFile(_ path: String) throws -> Tensor {
        try readNPY(path: path)
    }

    func testCheckPassesOnExamples() throws {
        for model in ["Examples/seed.ir", "Examples/mlp.ir"] {
            let r = try run(["check", model])
            XCTAssertEqual(r.status, 0, r.out + r.err)
            XCTAssertTrue(r.out.contains("0 failed"), r.out)
        }
    }

    func testCheckFailsOnAWrongDerivative() throws {
        // floor has zero gradient by convention; at a jump finite differences disagree.
        let path = try temporaryFile("func f(x: f64) {\n  return grad(floor(x) * 3, x)\n}\n")
        let r = try run(["check", path, "--input", "x=1"])
        XCTAssertEqual(r.status, 1, r.out + r.err)
        XCTAssertTrue(r.out.contains("FAIL"), r.out)
    }

    func testParseErrorHasLocationAndCaret() throws {
        let path = try temporaryFile("func f(x: f64[2,3], w: f64[4,5]) {\n  return x @ w\n}\n")
        let r = try run(["run", path])
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.err.contains("model.ir:2:12: error: shape mismatch in matmul: f64[2,3] @ f64[4,5]"), r.err)
        XCTAssertTrue(r.err.contains("  return x @ w\n           ^"), r.err)
    }

    func testUsageErrors() throws {
        XCTAssertEqual(try run(["frobnicate"]).status, 2)
        XCTAssertEqual(try run(["run"]).status, 2)
        XCTAssertEqual(try run(["run", "Examples/seed.ir", "--bogus"]).status, 2)
        XCTAssertEqual(try run(["run", "Examples/seed.ir", "--input", "q=1"]).status, 2)
        XCTAssertEqual(try run(["run", "/nonexistent.ir"]).status, 3)
    }

    func testEveryVerbHasHelp() throws {
        for verb in ["run", "check", "emit"] {
            let r = try run([verb, "--help"])
            XCTAssertEqual(r.status, 0)
            XCTAssertTrue(r.out.contains("usage: gradc \(verb)"), r.out)
        }
        XCTAssertTrue(try run(["--help"]).out.contains("exit codes"))
    }

    func testEmitStagesAndDot() throws {
        let parsed = try run(["emit", "Examples/seed.ir", "--stage", "parsed"])
        XCTAssertEqual(parsed.status, 0)
        XCTAssertTrue(parsed.out.contains("= grad("), parsed.out)
        let differentiated = try run(["emit", "Examples/seed.ir", "--stage", "differentiated"])
        XCTAssertFalse(differentiated.out.contains("= grad("))
        let dot = try run(["emit", "Examples/seed.ir", "--stage", "differentiated", "--format", "dot"])
        XCTAssertTrue(dot.out.hasPrefix("digraph"), dot.out)
    }

    func testTrace() throws {
        let r = try run(["run", "Examples/seed.ir", "--input", "x=4", "--input", "y=3", "--trace"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("forward pass"))
        XCTAssertTrue(r.out.contains("backward pass"))
        XCTAssertTrue(r.out.contains("x = input()           -0.00759401"), r.out)
    }

    /// Examples/embed-c: a plain C program built with cc against the emitted .c/.h only.
    func testEmbedCExample() throws {
        let dir = try temporaryDirectory("embed").path
        let r = try run(["compile", "Examples/embed-c/rosenbrock.ir", "--backend", "c", "-o", dir])
        XCTAssertEqual(r.status, 0, r.err)
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        cc.arguments = ["cc", "-O2", "-ffp-contract=off", "-I", dir, repositoryRoot.appendingPathComponent("Examples/embed-c/main.c").path,
                        dir + "/model.c", "-lm", "-o", dir + "/descent"]
        try cc.run()
        cc.waitUntilExit()
        XCTAssertEqual(cc.terminationStatus, 0)
        let program = Process()
        program.executableURL = URL(fileURLWithPath: dir + "/descent")
        let out = Pipe()
        program.standardOutput = out
        try program.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        program.waitUntilExit()
        XCTAssertEqual(program.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("iteration     0: x = -1.200000, y = 1.000000, f = 2.420e+01, grad = (-2.156e+02, -8.800e+01)"), text)
    }

    /// docs/cli-reference.md is generated from the verbs' --help; run Scripts/refresh-docs.sh.
    func testCLIReferenceIsCurrent() throws {
        let r = try run(["doc", "cli"])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(try repositoryFile("docs/cli-reference.md"), r.out, "docs/cli-reference.md is stale: run Scripts/refresh-docs.sh")
    }

    /// An index out of range at run time (issue 16): exit status 3 and, on the reference and
    /// bytecode backends, the op, the value and the model's line with a caret.
    func testRunReportsAnIndexOutOfRange() throws {
        let path = try temporaryFile("func f(e: f64[5,3], ids: i64[4]) {\n  h = take(e, ids, axis=0)\n  return sum(h)\n}\n")
        for backend in ["reference", "bytecode"] {
            let r = try run(["run", path, "--backend", backend, "--input", "ids=[4,0,-6,0]"])
            XCTAssertEqual(r.status, 3, r.err)
            XCTAssertTrue(r.err.contains("model.ir:2:7: error: take: index -6 is out of range for axis 0 of length 5 (expected -5 ≤ index < 5)\n  h = take(e, ids, axis=0)\n      ^"), r.err)
            XCTAssertEqual(try run(["run", path, "--backend", backend, "--input", "ids=[4,0,-5,0]"]).status, 0)
        }
    }
}
