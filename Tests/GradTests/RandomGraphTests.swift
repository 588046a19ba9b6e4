import Foundation
import Grad
import TestSupport
import XCTest

/// Random-graph differential testing: for seeded random well-typed graphs,
/// - printing then parsing gives the same graph (parsed and differentiated forms);
/// - gradients (and Hessians) pass finite differences;
/// - the optimized graph computes the same values as the unoptimized one;
/// - the bytecode VM and the C backend compute exactly (bit for bit) what the reference
///   evaluator computes, on the optimized and on the unoptimized graph (the VM in portable
///   mode; with fused multiply-add its matmul outputs within tolerance).
///
/// A failing case is shrunk (`shrink`: drop outputs, replace nodes by same-typed operands,
/// shrink dimensions) and reported as an `.ir` file, with the `gradc check` command that feeds
/// it the same inputs; the file is also written to the temporary directory.
final class RandomGraphTests: XCTestCase {
    static let seeds: ClosedRange<UInt64> = 1...60

    /// Cases, generated once (the generator is deterministic).
    static let cases: [(seed: UInt64, case: FailingCase)] = seeds.compactMap { seed in
        var generator = RandomGraphGenerator(seed: seed)
        guard let f = try? generator.generate() else { return nil }
        return (seed, FailingCase(function: f, inputs: generator.inputs))
    }

    /// Checks `property` on a case; on failure shrinks it and fails with the minimal `.ir`.
    func assertHolds(_ c: FailingCase, seed: UInt64, _ what: String, budget: Int = 2_000,
                     _ property: (FailingCase) -> String?, file: StaticString = #filePath, line: UInt = #line) {
        guard property(c) != nil else { return }
        let (small, message) = shrink(c, budget: budget, failure: property)
        let dir = repositoryRoot.appendingPathComponent("out/random-failures")
        let path = dir.appendingPathComponent("seed-\(seed)-\(what.replacingOccurrences(of: " ", with: "-")).ir").path
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try? small.irFile.write(toFile: path, atomically: true, encoding: .utf8)
        XCTFail("seed \(seed): \(what): \(message ?? "?")\n--- shrunk from \(c.function.nodes.count) to \(small.function.nodes.count) nodes, written to \(path) ---\n\(small.irFile)",
                file: file, line: line)
    }

    func testRandomGraphs() throws {
        XCTAssertEqual(Self.cases.count, Self.seeds.count)
        var checked = 0
        for (seed, c) in Self.cases {
            assertHolds(c, seed: seed, "round trip", Properties.roundTrip)
            assertHolds(c, seed: seed, "finite differences", Properties.finiteDifferences)
            assertHolds(c, seed: seed, "optimizer", Properties.optimizedEqualsUnoptimized)
            assertHolds(c, seed: seed, "bytecode", Properties.bytecodeEqualsReference)
            checked += c.function.nodes.filter { $0.op.info.family == .derivative }.count
        }
        XCTAssertGreaterThan(checked, 60)
    }

    /// Across the seeds, the generator uses every op of the IR.
    func testGeneratorCoversEveryOp() {
        var seen = Set<Op>()
        for (_, c) in Self.cases { seen.formUnion(c.function.nodes.map(\.op)) }
        // Loops have no random generator yet (issue 15): LoopTests and Tests/Fixtures/loops.ir cover them.
        XCTAssertEqual(Set(Op.allCases.filter { $0.family != .loop }).subtracting(seen), [], "ops no random graph uses")
    }

    /// Every case through the C backend: one module (one cc run) for all of them, each
    /// function bit for bit equal to the reference; a failing one is shrunk with one compile
    /// per candidate.
    func testCBackendEqualsReference() throws {
        let compilerFound = (try? CCompiler.find()) != nil
        try XCTSkipUnless(compilerFound, "no C compiler")
        let prepared = try Self.cases.map { try Properties.lowered($0.case.function, level: 2) }
        let module = try CModule(prepared, options: Properties.cOptions, environment: Properties.cEnvironment)
        for (k, (seed, c)) in Self.cases.enumerated() {
            let ordered = prepared[k].parameters.compactMap { c.inputs[$0.name] }
            let got = try module.kernels[k].run(ordered)
            let expected = try ReferenceEvaluator.run(prepared[k], inputs: c.inputs)
            if let mismatch = Properties.firstMismatch(got, expected) {
                assertHolds(c, seed: seed, "C backend", budget: 300, Properties.cEqualsReference)
                XCTAssertNil(mismatch)  // in case shrinking lost the failure
            }
        }
    }

    /// The shrinker itself: a planted "bug" (any graph that computes a `cos` for an output
    /// fails) shrinks to at most three nodes (`cos` of a parameter of shape [1,…], or of one op on it), printed
    /// as valid `.ir`.
    func testShrinkerFindsASmallCase() throws {
        let planted: (FailingCase) -> String? = { c in
            let f = c.function
            var needed = Set(f.outputs.map(\.value))
            for i in f.nodes.indices.reversed() where needed.contains(i) { needed.formUnion(f.nodes[i].inputs) }
            return needed.contains { f.nodes[$0].op == .cos } ? "contains cos" : nil
        }
        var shrunkSome = 0
        for (seed, c) in Self.cases where planted(c) != nil {
            let (small, message) = shrink(c, failure: planted)
            XCTAssertEqual(message, "contains cos", "seed \(seed)")
            XCTAssertTrue(small.function.nodes.contains { $0.op == .cos })
            XCTAssertLessThanOrEqual(small.function.nodes.count, 3, "seed \(seed):\n\(small.irFile)")
            for p in small.function.parameters {
                XCTAssertTrue(small.function.type(of: p.value).shape.allSatisfy { $0 == 1 }, "dimensions shrink to 1:\n\(small.irFile)")
            }
            // The printed case parses and evaluates on its own inputs.
            let back = try XCTUnwrap(parseModule(small.irFile, file: "shrunk.ir").functions.last)
            XCTAssertNoThrow(try evaluate(back, small.inputs))
            shrunkSome += 1
        }
        XCTAssertGreaterThan(shrunkSome, 3)
    }
}

/// The properties checked on every random graph; each returns a failure message or nil.
enum Properties {
    static let cOptions = CBackendOptions(optimization: "-O0")
    /// A cache directory kept across test runs in the build directory, not in /tmp (entries
    /// are keyed by source, compiler and flags, so reuse is safe): the first run compiles,
    /// later ones load.
    static let cEnvironment: [String: String] = {
        var env = ProcessInfo.processInfo.environment
        env["GRADC_CACHE_DIR"] = repositoryRoot.appendingPathComponent(".build/test-caches/random-graphs").path
        return env
    }()

    static func lowered(_ f: Function, level: Int) throws -> Function {
        try optimize(Differentiator.expand(f), options: OptimizerOptions(level: level))
    }

    static func roundTrip(_ c: FailingCase) -> String? {
        do {
            for g in [c.function, try Differentiator.expand(c.function)] {
                let back = try XCTUnwrap(parseModule(printFunction(g), file: "random.ir").functions.last)
                if back.nodes != g.nodes { return "print → parse changed the graph" }
            }
        } catch {
            return "error: \(error)"
        }
        return nil
    }

    static func finiteDifferences(_ c: FailingCase) -> String? {
        do {
            let failed = try GradientChecker.check(c.function, inputs: c.inputs).filter { !$0.passed }
            return failed.first.map { "\($0.label): abs \($0.maxAbsError) rel \($0.maxRelError) \($0.note ?? "")" }
        } catch {
            return "error: \(error)"
        }
    }

    /// Bitwise at -O1; at -O2 (stabilizations may change bits) close.
    static func optimizedEqualsUnoptimized(_ c: FailingCase) -> String? {
        do {
            let expanded = try Differentiator.expand(c.function)
            let reference = try ReferenceEvaluator.run(expanded, inputs: c.inputs)
            let f32 = c.function.parameters.contains { c.function.type(of: $0.value).dtype == .f32 }
            for level in [1, 2] {
                let values = try ReferenceEvaluator.run(optimize(expanded, options: OptimizerOptions(level: level)), inputs: c.inputs)
                for (k, (a, b)) in zip(reference, values).enumerated() {
                    if level == 1, !sameBits(a, b) { return "-O1 changed the bits of output \(k)" }
                    if level == 2, !allClose(a.doubles, b.doubles, rtol: f32 ? 1e-4 : 1e-10, atol: 1e-12) {
                        return "-O2 changed the values of output \(k)"
                    }
                }
            }
        } catch {
            return "error: \(error)"
        }
        return nil
    }

    /// The VM, with and without optimization: portable, bit for bit against the reference;
    /// with its default kernels (fused multiply-add in matmul on a CPU with AVX2 and FMA),
    /// bit for bit except outputs computed from a float matmul, which agree within 1e-12 (f64)
    /// / 1e-5 (f32) of their largest magnitude.
    static func bytecodeEqualsReference(_ c: FailingCase) -> String? {
        do {
            for level in [0, 2] {
                let f = try lowered(c.function, level: level)
                let expected = try ReferenceEvaluator.run(f, inputs: c.inputs)
                var portable = VMLimits()
                portable.portable = true
                let vm = try VirtualMachine(BytecodeProgram(function: f), limits: portable)
                let got = try vm.run(f.parameters.compactMap { c.inputs[$0.name] })
                if let m = firstMismatch(got, expected) { return "-O\(level): portable VM \(m)" }
                let fast = try VirtualMachine(BytecodeProgram(function: f))
                let fastGot = try fast.run(f.parameters.compactMap { c.inputs[$0.name] })
                let fused = fast.matmulKernel == .avx2FMA ? floatMatmulOutputs(f) : []
                for (k, (g, e)) in zip(fastGot, expected).enumerated() {
                    let ok = fused.contains(k) ? closeToMax(g, e, tolerance: fusedMatmulTolerance(g.dtype)) : sameBits(g, e)
                    if !ok { return "-O\(level): VM (\(fast.matmulKernel)) output \(k): \(g) vs reference \(e)" }
                }
            }
        } catch {
            return "error: \(error)"
        }
        return nil
    }

    static func cEqualsReference(_ c: FailingCase) -> String? {
        do {
            let f = try lowered(c.function, level: 2)
            let expected = try ReferenceEvaluator.run(f, inputs: c.inputs)
            let module = try CModule([f], options: cOptions, environment: cEnvironment)
            guard let kernel = module.kernels.first else { return "no kernel" }
            let got = try kernel.run(f.parameters.compactMap { c.inputs[$0.name] })
            return firstMismatch(got, expected).map { "C \($0)" }
        } catch {
            return "error: \(error)"
        }
    }

    /// The first output that differs in bits, described; nil when all agree.
    static func firstMismatch(_ got: [Tensor], _ expected: [Tensor]) -> String? {
        guard got.count == expected.count else { return "returned \(got.count) outputs, the reference \(expected.count)" }
        for (k, (g, e)) in zip(got, expected).enumerated() where !sameBits(g, e) {
            return "output \(k): \(g) vs reference \(e)"
        }
        return nil
    }

    static func allClose(_ a: [Double], _ b: [Double], rtol: Double, atol: Double) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { x, y in
            x == y || (x.isNaN && y.isNaN) || Swift.abs(x - y) <= atol + rtol * Swift.max(Swift.abs(x), Swift.abs(y))
        }
    }
}
