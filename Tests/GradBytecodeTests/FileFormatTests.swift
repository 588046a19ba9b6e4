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
                        let vm = try VirtualMachine(q, limits: VMLimits(maxArenaBytes: 1 << 24))
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
/// nothing. (Until format v3 they were version 1 files, refused at the header since v2.)
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
