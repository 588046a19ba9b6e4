import Foundation
import Grad
import TestSupport
import XCTest

final class FileFormatTests: XCTestCase {
    func program(_ source: String) throws -> BytecodeProgram {
        let module = try Pipeline.lower(Pipeline.parse(source), to: .optimized)
        return try BytecodeProgram(function: Pipeline.function(module, named: nil))
    }

    static let models = [
        """
        func mlp(x: f32[4,6], y: f32[4,3], w1: f32[6,5], b1: f32[5], w2: f32[5,3], b2: f32[3]) {
          h = relu(x @ w1 + b1)
          loss = mean(softmax_cross_entropy(h @ w2 + b2, y))
          return loss, grad(loss, w1, b1, w2, b2)
        }
        """,
        """
        func f(x: f64[3], n: i64[2], c: bool) {
          s = sum(x * 2.5)
          t = select(c, s, -s)
          return t, cumsum(x, axis=0), one_hot(n, depth=3), x[1:], reshape(x, shape=[3,1])
        }
        """,
        """
        func cell(h: f64[3], x: f64[3], w: f64[3]) {
          return tanh(h * w + x), sum(h)
        }
        func inner(i: i64, c: f64, x: f64) {
          return c * x + cast(i, dtype=f64)
        }
        func rnn(h0: f64[3], xs: f64[4,3], w: f64[3]) {
          hT, ys = scan(cell, carry=h0, over=xs, with=w, reverse=true)
          c = fori(inner, 3, carry=sum(hT), with=sum(ys))
          return c, grad(c, h0, xs, w)
        }
        """,
    ]

    func testRoundTrip() throws {
        for source in Self.models {
            let p = try program(source)
            let bytes = p.serialized()
            let q = try BytecodeProgram(serialized: bytes)
            XCTAssertEqual(p, q)
            XCTAssertEqual(q.serialized(), bytes)
            // Runs after loading, same results as before saving.
            let inputs = p.inputs.enumerated().map { Tensor.random($0.element.operand.type, seed: UInt64($0.offset + 3)) }
            let a = try VirtualMachine(p).run(inputs)
            let b = try VirtualMachine(q).run(inputs)
            XCTAssertEqual(a.count, b.count)
            for (x, y) in zip(a, b) { XCTAssertTrue(sameBits(x, y)) }
        }
    }

    func testClearErrors() throws {
        let bytes = try program(Self.models[0]).serialized()
        func message(_ b: [UInt8]) -> String {
            do {
                _ = try VirtualMachine(BytecodeProgram(serialized: b))
                return "accepted"
            } catch {
                return error.message
            }
        }
        XCTAssertTrue(message([]).contains("not a gradc bytecode file"))
        XCTAssertTrue(message(Array("func f() {}".utf8)).contains("not a gradc bytecode file"))
        XCTAssertTrue(message(Array(bytes.dropLast(5))).contains("truncated"))
        var v = bytes
        v[8] = 9
        XCTAssertTrue(message(v).contains("unsupported gradc bytecode version 9"))
        var c = bytes
        c[c.count - 3] ^= 0x40
        XCTAssertTrue(message(c).contains("checksum mismatch"))
    }

    /// Sets the header's checksum to match the (possibly damaged) payload, so the structural
    /// checks behind the checksum are exercised too.
    func resealed(_ b: [UInt8]) -> [UInt8] {
        guard b.count >= 32 else { return b }
        var out = b
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for x in b[32...] {
            h ^= UInt64(x)
            h = h &* 0x100_0000_01b3
        }
        let length = UInt64(b.count - 32)
        for i in 0..<8 {
            out[16 + i] = UInt8(truncatingIfNeeded: length >> (8 * i))
            out[24 + i] = UInt8(truncatingIfNeeded: h >> (8 * i))
        }
        return out
    }

    /// Random bit flips, truncations, byte runs and length-field blowups of valid files: every
    /// one is either rejected with a diagnostic or loads into a VM that runs without crashing.
    func testFuzzedFilesNeverCrash() throws {
        var rng = SplitMix64(seed: 2024)
        var rejected = 0
        var accepted = 0
        for source in Self.models {
            let p = try program(source)
            let valid = p.serialized()
            let inputs = p.inputs.map { Tensor.random($0.operand.type, seed: 1) }
            for trial in 0..<600 {
                var b = valid
                switch trial % 5 {
                case 0:
                    for _ in 0..<(1 + Int(rng.next() % 4)) {
                        let i = Int(rng.next() % UInt64(b.count))
                        b[i] ^= UInt8(1) << UInt8(rng.next() % 8)
                    }
                case 1:
                    b = Array(b.prefix(Int(rng.next() % UInt64(b.count))))
                case 2:
                    // A 4- or 8-byte field overwritten with a huge or boundary value.
                    let i = 32 + Int(rng.next() % UInt64(b.count - 40))
                    let values: [UInt64] = [.max, UInt64(Int64.max), 1 << 40, 1 << 32, 0xFFFF_FFFF, 0, 1 << 62]
                    let v = values[Int(rng.next() % UInt64(values.count))]
                    for k in 0..<(rng.next() % 2 == 0 ? 4 : 8) { b[i + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(k))) }
                case 3:
                    let i = Int(rng.next() % UInt64(b.count))
                    let n = min(b.count - i, 1 + Int(rng.next() % 16))
                    for k in 0..<n { b[i + k] = UInt8(truncatingIfNeeded: rng.next()) }
                default:
                    let i = 32 + Int(rng.next() % UInt64(b.count - 32))
                    b[i] = UInt8(truncatingIfNeeded: rng.next())
                }
                let candidates = trial % 2 == 0 ? [b, resealed(b)] : [resealed(b)]
                for candidate in candidates {
                    do {
                        let q = try BytecodeProgram(serialized: candidate)
                        var limits = VMLimits(maxArenaBytes: 1 << 24)
                        limits.maxLoopSteps = 1 << 16
                        let vm = try VirtualMachine(q, limits: limits)
                        if q.inputs.map(\.operand.type) == p.inputs.map(\.operand.type) {
                            _ = try? vm.run(inputs)
                        }
                        accepted += 1
                    } catch {
                        XCTAssertFalse(error.message.isEmpty)
                        rejected += 1
                    }
                }
            }
        }
        XCTAssertGreaterThan(rejected, 500)
        _ = accepted
    }

    func testHostileArenaSizeIsRefused() throws {
        var p = try program(Self.models[0])
        p.arenaBytes = 1 << 50
        XCTAssertThrowsError(try VirtualMachine(BytecodeProgram(serialized: p.serialized())))
        var q = try program(Self.models[0])
        if case .op(let op, let attrs, var ins, let out, let node)? = q.instructions.first(where: { if case .op = $0 { return true } else { return false } }),
           let index = q.instructions.firstIndex(of: .op(op, attrs, inputs: ins, output: out, node: node)), !ins.isEmpty {
            ins[0].offset = q.arenaBytes - 4
            q.instructions[index] = .op(op, attrs, inputs: ins, output: out, node: node)
            XCTAssertThrowsError(try VirtualMachine(q)) { error in
                XCTAssertTrue("\(error)".contains("outside the arena") || "\(error)".contains("aligned"), "\(error)")
            }
        }
    }
}

/// The `.gbc` files in Tests/Fixtures/regressions/ (replayed by RegressionFixtureTests and the
/// fuzz seeds) must be in the current format: a file the decoder refuses by its version tests
/// nothing. (Until format v3 they were version 1 files, refused at the header since v2; v4, which added
/// the loop instruction, changed only their version field.)
final class RegressionFileFormatTests: XCTestCase {
    func load(_ name: String) throws -> BytecodeProgram {
        let url = repositoryRoot.appendingPathComponent("Tests/Fixtures/regressions/\(name)")
        return try BytecodeProgram(serialized: [UInt8](try Data(contentsOf: url)), verifyChecksum: false)
    }

    func testEveryRegressionFileDecodes() throws {
        let directory = repositoryRoot.appendingPathComponent("Tests/Fixtures/regressions").path
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".gbc") }
        XCTAssertFalse(names.isEmpty)
        for name in names {
            XCTAssertNoThrow(try load(name), name)
        }
    }

    /// gbc-pad-huge-step.gbc still holds what it was kept for: a `pad` stepping by ≥ 2⁶² along
    /// an axis of extent 1, in a program the VM accepts and runs (the kernel used to overflow).
    func testPadHugeStepReachesTheKernel() throws {
        let p = try load("gbc-pad-huge-step.gbc")
        let hugePads = p.instructions.filter {
            guard case .op(.pad, let attrs, let ins, _, _) = $0, let step = attrs.step, ins.count == 1 else { return false }
            return zip(step, ins[0].type.shape).contains { $0 >= 1 << 62 && $1 == 1 }
        }
        XCTAssertFalse(hugePads.isEmpty)
        let vm = try VirtualMachine(p, limits: VMLimits(maxArenaBytes: 16 << 20))
        _ = try vm.run(p.inputs.map { Tensor.random($0.operand.type, seed: 1) })
    }

    /// gbc-vm-init-throw*.gbc: refused by validation (the error path of `VirtualMachine.init`).
    func testVMInitThrowFilesAreRefusedByValidation() throws {
        for (name, expected) in [("gbc-vm-init-throw.gbc", "instruction 4: invalid attribute 'axes' of prod"),
                                 ("gbc-vm-init-throw-2.gbc", "instruction 5: invalid attribute 'axes' of logsumexp")] {
            let p = try load(name)
            XCTAssertThrowsError(try VirtualMachine(p, limits: VMLimits(maxArenaBytes: 16 << 20))) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(name): \(error)")
            }
        }
    }
}

/// Names and bindings in a `.gbc` file are untrusted: names become file names
/// (`gradc run --output-dir`) and terminal output, and a binding's type decides how the caller's
/// bytes are read. Each test crafts a file from a valid program.
final class UntrustedFileTests: XCTestCase {
    func decode(_ p: BytecodeProgram) throws -> BytecodeProgram {
        try BytecodeProgram(serialized: p.serialized())
    }

    func refusal(_ p: BytecodeProgram) -> String {
        do {
            _ = try VirtualMachine(decode(p))
            return "accepted"
        } catch {
            return (error as? Diagnostic)?.message ?? "\(error)"
        }
    }

    func testNamesMustBeIdentifiers() throws {
        let valid = try ValidationErrorTests.valid()
        XCTAssertNoThrow(try decode(valid))
        let crafted: [(WritableKeyPath<BytecodeProgram, String>, String, String)] = [
            (\.outputs[0].name, "../../x", "name of output 0 '../../x' is not an identifier"),
            (\.outputs[1].name, "/etc/passwd", "name of output 1 '/etc/passwd' is not an identifier"),
            (\.outputs[0].name, "s\nforged: f64 = 1", "name of output 0 's\\u{A}forged: f64 = 1' is not an identifier"),
            (\.inputs[0].name, "\u{1B}[2J\u{1B}[31mx", "name of input 0 '\\u{1B}[2J\\u{1B}[31mx' is not an identifier"),
            (\.inputs[2].name, "", "name of input 2 '' is not an identifier"),
            (\.inputs[1].name, "y\u{202E}", "name of input 1 'y\\u{202E}' is not an identifier"),
            (\.name, "f\r", "function name 'f\\u{D}' is not an identifier"),
        ]
        for (path, name, expected) in crafted {
            var p = valid
            p[keyPath: path] = name
            let message = refusal(p)
            XCTAssertTrue(message.contains(expected + " ([A-Za-z_][A-Za-z0-9_]*)"), message)
            XCTAssertFalse(message.unicodeScalars.contains { $0.value < 0x20 || $0.value > 0x7E && $0 != "…" }, "message prints raw control characters: \(message.debugDescription)")
        }
    }

    func testNamesAreUnique() throws {
        var p = try ValidationErrorTests.valid()
        p.outputs[2].name = "s"
        XCTAssertTrue(refusal(p).contains("output 2 is named 's' like an earlier output"), refusal(p))
        var q = try ValidationErrorTests.valid()
        q.inputs[1].name = "x"
        XCTAssertTrue(refusal(q).contains("input 1 is named 'x' like an earlier input"), refusal(q))
    }

    /// A binding whose dtype or shape disagrees with the instructions that read or write its
    /// bytes used to load and reinterpret the caller's bytes.
    func testBindingsMustAgreeWithTheInstructions() throws {
        var wrongInputDType = try ValidationErrorTests.valid()
        wrongInputDType.inputs[0].operand.type = TensorType(.i64, [4])
        XCTAssertEqual(refusal(wrongInputDType),
                       "invalid bytecode: instruction 0, operand 0 uses f64[4] at byte 8, but that is input 0: i64[4] at byte 8 (a constant, input or output is used inside its bytes in its own dtype; an input or constant is written only whole)")
        var wrongInputShape = try ValidationErrorTests.valid()
        wrongInputShape.inputs[1].operand.type = TensorType(.f64, [2])
        XCTAssertEqual(refusal(wrongInputShape),
                       "invalid bytecode: instruction 0, operand 2 uses f64[4] at byte 40, but that is input 1: f64[2] at byte 40 (a constant, input or output is used inside its bytes in its own dtype; an input or constant is written only whole)")
        var wrongOutputDType = try ValidationErrorTests.valid()
        wrongOutputDType.outputs[2].operand.type = TensorType(.i64, [4])
        XCTAssertEqual(refusal(wrongOutputDType),
                       "invalid bytecode: instruction 2, result uses f64[4] at byte 128, but that is output 2: i64[4] at byte 128 (a constant, input or output is used inside its bytes in its own dtype; an input or constant is written only whole)")
        var wrongConstant = try ValidationErrorTests.valid()
        wrongConstant.constants[0].operand.type = TensorType(.i64)
        XCTAssertEqual(refusal(wrongConstant),
                       "invalid bytecode: instruction 0, operand 1 uses f64 at byte 0, but that is constant 0: i64 at byte 0 (a constant, input or output is used inside its bytes in its own dtype; an input or constant is written only whole)")
        // A view of a binding (same bytes, same dtype, another shape) is fine: instruction 5
        // copies x as f64[2,2].
        XCTAssertEqual(refusal(try ValidationErrorTests.valid()), "accepted")
    }
}
