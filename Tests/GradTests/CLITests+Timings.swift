import Foundation
import Grad
import TestSupport
import XCTest

/// `--timings`: a line per stage on stderr (name, seconds, peak RSS), stdout unchanged.
extension CLITests {
    /// The stage names of `--timings` lines, in order.
    private func stages(_ err: String) -> [String] {
        err.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("timing: "), let s = line.range(of: " s   peak RSS ") else { return nil }
            let head = line[line.index(line.startIndex, offsetBy: 8)..<s.lowerBound]
            // The name, then the seconds right-aligned: drop the number.
            guard let space = head.lastIndex(of: " ") else { return nil }
            return head[..<space].trimmingCharacters(in: .whitespaces)
        }
    }

    func testCompileBytecodeTimingsNameEveryStage() throws {
        let out = try temporaryDirectory("timings").path + "/m.gbc"
        let r = try run(["compile", "Examples/loops/pendulum.ir", "-o", out, "--timings"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.hasPrefix("wrote \(out)"), r.out)
        let expected = ["read", "parse", "differentiate", "optimize"] + ExecutionPlan.phases.map { "lower: " + $0 }
            + ["lower: bytecode", "serialize", "write", "vm load: deserialize"] + VirtualMachine.phases.map { "vm load: " + $0 }
        XCTAssertEqual(stages(r.err), expected, r.err)
        XCTAssertTrue(r.err.contains(#"peak RSS"#), r.err)
        XCTAssertTrue(r.err.contains("timing: vm: "), r.err)
        // Without the flag: nothing on stderr.
        let quiet = try run(["compile", "Examples/loops/pendulum.ir", "-o", out])
        XCTAssertEqual(quiet.err, "")
    }

    func testRunTimingsNameEveryStage() throws {
        var r = try run(["run", "Examples/seed.ir", "--backend", "bytecode", "--timings"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("z: f64 = "), r.out)
        XCTAssertEqual(stages(r.err), ["read", "parse", "differentiate", "optimize", "inputs"]
            + ExecutionPlan.phases.map { "lower: " + $0 } + ["lower: bytecode"]
            + VirtualMachine.phases.map { "vm load: " + $0 } + ["run", "vm execute (best of 5)"], r.err)
        XCTAssertTrue(r.err.contains("ns per instruction"), r.err)

        r = try run(["run", "Examples/seed.ir", "--timings"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(stages(r.err), ["read", "parse", "differentiate", "optimize", "inputs", "run"], r.err)

        let gbc = try temporaryDirectory("timings-run").path + "/seed.gbc"
        XCTAssertEqual(try run(["compile", "Examples/seed.ir", "-o", gbc]).status, 0)
        r = try run(["run", gbc, "--timings"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(stages(r.err), ["read", "vm load: deserialize"] + VirtualMachine.phases.map { "vm load: " + $0 }
            + ["inputs", "run", "vm execute (best of 5)"], r.err)
    }

    func testCompileCTimingsNameEveryStage() throws {
        guard (try? CCompiler.find()) != nil else { throw XCTSkip("no C compiler") }
        let dir = try temporaryDirectory("timings-c").path
        let r = try run(["compile", "Examples/seed.ir", "--backend", "c", "-o", dir, "--timings"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(stages(r.err), ["read", "parse", "differentiate", "optimize", "c: emit", "c: write", "c: cc", "c: dlopen"], r.err)
        XCTAssertTrue(r.err.contains("bytes of C"), r.err)
    }
}
