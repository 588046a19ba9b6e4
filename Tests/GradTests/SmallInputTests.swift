import Foundation
import Grad
import TestSupport
import XCTest

/// Small inputs that used to crash gradc or make it allocate without bound (issue 13 §2):
/// a directory as the model, and `.gbc` files whose declared inputs are huge or many.
final class SmallInputTests: XCTestCase {
    var gradc: String {
        URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).deletingLastPathComponent().appendingPathComponent("gradc").path
    }

    func run(_ args: [String]) throws -> (status: Int32, output: String) {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: gradc), "gradc not built next to the tests")
        return try runProcess(gradc, args)
    }

    /// A fresh directory, removed when the test ends.
    func scratchDirectory() throws -> String {
        try temporaryDirectory("small").path
    }

    /// Writes `program` as a `.gbc` file.
    func write(_ program: BytecodeProgram) throws -> String {
        let path = try scratchDirectory() + "/m.gbc"
        try Data(program.serialized()).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// A program with no instructions: `inputs` laid out one after the other from byte 0, one
    /// scalar output after them.
    func program(inputs: [TensorType], arenaBytes: Int? = nil) -> BytecodeProgram {
        var bindings: [BytecodeBinding] = []
        var end = 0
        for (k, type) in inputs.enumerated() {
            bindings.append(BytecodeBinding(name: "x\(k)", operand: BytecodeOperand(type: type, offset: end)))
            end += type.count * type.dtype.byteSize
        }
        let arena = arenaBytes ?? end + 64
        return BytecodeProgram(name: "f", arenaBytes: arena, workspaceOffset: arena, constants: [], inputs: bindings,
                               outputs: [BytecodeBinding(name: "y", operand: BytecodeOperand(type: TensorType(.f64), offset: end))],
                               instructions: [])
    }

    /// Was a SIGILL (exit 132) from a `try!` in Foundation's `FileHandle.readData(ofLength:)`.
    func testADirectoryAsTheModelIsAClearError() throws {
        let dir = try scratchDirectory()
        for verb in ["run", "check", "emit", "compile"] {
            let r = try run([verb, dir])
            XCTAssertEqual(r.status, 3, "\(verb): \(r.output)")
            XCTAssertTrue(r.output.contains("cannot read '\(dir)': it is a directory"), "\(verb): \(r.output)")
        }
    }

    /// A 200-byte file declaring an f64[2⁴⁰] input (8 TiB) in an arena of 64 bytes: once an
    /// abort ("failed to allocate 8796093022240 bytes", exit 134) because the random input was
    /// made before the file was validated. (Also Tests/Fixtures/regressions/gbc-run-huge-input.gbc.)
    func testHugeDeclaredInputIsRefusedBeforeAllocating() throws {
        let path = try write(program(inputs: [TensorType(.f64, [1 << 20, 1 << 20])], arenaBytes: 64))
        let r = try run(["run", path])
        XCTAssertEqual(r.status, 3, r.output)
        XCTAssertTrue(r.output.contains("outside the arena of 64 bytes"), r.output)
        XCTAssertTrue(r.output.contains(path), "the message names the file: \(r.output)")
    }

    /// 8 inputs of 128 KiB in an arena of 1 MiB: a valid file whose run needs the arena and
    /// the input tensors copied into it, over 2 MiB. `--max-memory` bounds all of it, not
    /// only the arena.
    func testInputsCountAgainstMaxMemory() throws {
        let path = try write(program(inputs: Array(repeating: TensorType(.f64, [1 << 14]), count: 8)))
        let refused = try run(["run", path, "--max-memory", "1536K"])
        XCTAssertEqual(refused.status, 3, refused.output)
        XCTAssertTrue(refused.output.contains("running 'f' needs more than 1.5 MiB"), refused.output)
        XCTAssertTrue(refused.output.contains("--max-memory"), refused.output)
        let allowed = try run(["run", path, "--max-memory", "3M"])
        XCTAssertEqual(allowed.status, 0, allowed.output)
    }

    /// 40 two-line functions, each calling the previous one twice (2⁴⁰ nodes): once unbounded
    /// memory and time in every command, now the call that crosses the inlining budget.
    func testInliningBudgetInTheCLI() throws {
        var source = "func g0(x: f64) {\n  return x * 2\n}\n"
        for k in 1...40 { source += "func g\(k)(x: f64) {\n  return g\(k - 1)(x) + g\(k - 1)(x)\n}\n" }
        let path = try scratchDirectory() + "/chain.ir"
        try source.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try run(["run", path])
        XCTAssertEqual(r.status, 3, r.output)
        XCTAssertTrue(r.output.contains("chain.ir:62:10: error: inlining this call of 'g19' would give the file 4718589 nodes, more than the inlining budget of 4194304"), r.output)
        XCTAssertTrue(r.output.contains("  return g19(x) + g19(x)\n         ^"), r.output)
    }

    /// The library path the CLI and GradFuzzGBCRun share makes no input before the check.
    func testRunBytecodeChecksMemoryBeforeMakingInputs() throws {
        let p = program(inputs: Array(repeating: TensorType(.f64, [1 << 14]), count: 8))
        let vm = try Pipeline.linkBytecode(p.serialized(), limits: VMLimits(maxArenaBytes: 1536 << 10))
        var made = 0
        XCTAssertThrowsError(try Pipeline.runBytecode(vm, memoryLimit: 1536 << 10) { _ in
            made += 1
            return [:]
        })
        XCTAssertEqual(made, 0)
        let outputs = try Pipeline.runBytecode(vm, memoryLimit: 3 << 20) { signature in
            made += 1
            XCTAssertEqual(signature.parameters.map(\.name), (0..<8).map { "x\($0)" })
            var rng = SplitMix64(seed: 1)
            var inputs: [String: Tensor] = [:]
            for p in signature.parameters { inputs[p.name] = Tensor.random(signature.type(of: p.value), using: &rng) }
            return inputs
        }
        XCTAssertEqual(made, 1)
        XCTAssertEqual(outputs.count, 1)
    }
}
