import Foundation
import Grad
import TestSupport
import XCTest

/// Inputs that would exhaust memory are refused with an error before anything is allocated:
/// shapes past `maxElementCount`, functions past `--max-memory` (default 4 GiB), `.gbc` arenas
/// past the same limit, Jacobians past `maxJacobianElements`.
final class LimitTests: XCTestCase {
    var gradc: String {
        URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).deletingLastPathComponent().appendingPathComponent("gradc").path
    }

    func model(_ text: String, _ name: String = "m.ir") throws -> String {
        let dir = try temporaryDirectory("limits").path
        try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        return dir + "/" + name
    }

    func run(_ args: [String]) throws -> (status: Int32, output: String) {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: gradc), "gradc not built next to the tests")
        return try runProcess(gradc, args)
    }

    func testHugeShapesAreRefusedBeforeAllocation() throws {
        let huge = try model("func f(x: f64[100000,100000]) {\n  return exp(x)\n}\n")
        for verb in ["run", "check"] {
            let started = Date()
            let r = try run([verb, huge])
            XCTAssertEqual(r.status, 3, r.output)
            XCTAssertTrue(r.output.contains("needs more than 4.0 GiB"), r.output)
            XCTAssertTrue(r.output.contains("--max-memory"), r.output)
            XCTAssertLessThan(Date().timeIntervalSince(started), 30, "refused, not attempted")
        }
        let beyond = try model("func f(x: f64[1099511627776,2]) {\n  return x\n}\n")
        let r = try run(["emit", beyond])
        XCTAssertEqual(r.status, 3, r.output)
        XCTAssertTrue(r.output.contains("at most \(maxElementCount) elements"), r.output)
    }

    func testMaxMemoryOption() throws {
        let m = try model("func f(x: f64[512,512]) {\n  return sum(x * x)\n}\n")
        let refused = try run(["run", m, "--max-memory", "1M"])
        XCTAssertEqual(refused.status, 3, refused.output)
        XCTAssertTrue(refused.output.contains("needs more than 1.0 MiB"), refused.output)
        XCTAssertEqual(try run(["run", m, "--max-memory", "64M"]).status, 0)
        XCTAssertEqual(try run(["run", m, "--max-memory", "lots"]).status, 2)
    }

    func testBytecodeArenaHonoursMaxMemory() throws {
        let m = try model("func f(x: f64[512,512]) {\n  return sum(x * x)\n}\n")
        let gbc = (m as NSString).deletingPathExtension + ".gbc"
        XCTAssertEqual(try run(["compile", m, "--backend", "bytecode", "-o", gbc]).status, 0)
        let refused = try run(["run", gbc, "--max-memory", "1M"])
        XCTAssertEqual(refused.status, 3, refused.output)
        XCTAssertTrue(refused.output.contains("exceeds the limit"), refused.output)
        XCTAssertEqual(try run(["run", gbc]).status, 0)
    }

    func testLargeJacobianIsALocatedError() throws {
        let m = try model("func f(x: f64[100000]) {\n  return hessian(sum(x * x), x)\n}\n")
        for verb in ["run", "check", "emit"] {
            let r = try run([verb, m])
            XCTAssertEqual(r.status, 3, r.output)
            XCTAssertTrue(r.output.contains("too large to expand"), r.output)
            XCTAssertTrue(r.output.contains("2:10"), r.output)
        }
    }

    func testLibraryCompileRefusesPastTheLimit() throws {
        let f = try XCTUnwrap(parseModule("func f(x: f64[1024,1024]) {\n  return exp(x)\n}\n").functions.last)
        XCTAssertThrowsError(try compile(f, backend: .bytecode, options: CompileOptions(memoryLimit: 1 << 20))) { error in
            XCTAssertTrue("\(error)".contains("needs more than 1.0 MiB"), "\(error)")
        }
        XCTAssertNoThrow(try compile(f, backend: .bytecode, options: CompileOptions(memoryLimit: 64 << 20)))
    }
}
