import Foundation
import Grad
import TestSupport
import XCTest

/// Replays every input in Tests/Fixtures/regressions/ — crashes found by the fuzzers and the
/// reviews, kept after their fix — through the same pipeline as the fuzz targets:
/// - `.ir`: parse → print → parse (same graph) → differentiate → optimize → memory check →
///   reference evaluator and VM when small → outputs printed as text;
/// - `.gbc`: decode → link (VM validation) → run.
/// Each gives a result or a diagnostic, never a crash. A `# expect: TEXT` first line pins the
/// diagnostic the file must produce. The fuzz targets' replay tools are run on the directory too.
final class RegressionFixtureTests: XCTestCase {
    static let directory = repositoryRoot.appendingPathComponent("Tests/Fixtures/regressions").path

    func files(_ suffix: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: Self.directory).filter { $0.hasSuffix(suffix) }.sorted()
    }

    /// The first diagnostic the pipeline gives for `bytes`, or nil when every stage succeeds.
    func irPipeline(_ bytes: [UInt8], _ name: String) throws -> String? {
        do {
            let module = try parseModule(bytes: bytes, file: name)
            for f in module.functions {
                let back = try XCTUnwrap(parseModule(printFunction(f), file: "printed.ir").functions.last)
                XCTAssertEqual(back.nodes, f.nodes, "\(name): print → parse changed the graph")
                XCTAssertNoThrow(try verifyFunction(f, stage: "parsed"), name)
                let expanded = try Differentiator.expand(f)
                XCTAssertNoThrow(try verifyFunction(expanded, stage: "differentiated"), name)
                let optimized = try optimize(expanded, options: OptimizerOptions(verify: true))
                try Pipeline.checkMemory(optimized, limit: 1 << 20)
                var rng = SplitMix64(seed: 1)
                var named: [String: Tensor] = [:]
                for p in optimized.parameters {
                    named[p.name] = Tensor.random(optimized.type(of: p.value), range: -2...2, using: &rng)
                }
                let reference = try ReferenceEvaluator.run(optimized, inputs: named)
                let vm = try VirtualMachine(BytecodeProgram(function: optimized)).run(optimized.parameters.compactMap { named[$0.name] })
                for t in reference + vm { _ = formatTensor(t) }
            }
            return nil
        } catch let d as Diagnostic {
            return d.description
        }
    }

    func testI64ExtremesPrintExactly() throws {
        let t = try XCTUnwrap(Tensor(.i64([Int64.max, Int64.min, 9_007_199_254_740_993]), shape: [3]))
        XCTAssertEqual(formatTensor(t), "[9223372036854775807, -9223372036854775808, 9007199254740993]")
    }

    /// A step on an axis the view does not step along (extent 1) may be huge: `slice` (only a
    /// `.gbc` or the Swift API can carry such a step; the parser limits it) and `pad`, on every
    /// backend. Found by GradFuzzGBC (gbc-pad-huge-step.gbc).
    func testHugeStepsOnUnitAxes() throws {
        let huge = 1 << 62
        var f = Function(name: "f")
        let x = f.addParameter("x", TensorType(.f64, [2, 3]))
        let s = f.append(Node(op: .slice, inputs: [x], attrs: Attributes([.start: .ints([1, 0]), .stop: .ints([2, 3]), .step: .ints([huge, 1])]),
                              type: TensorType(.f64, [1, 3])))
        let p = f.append(Node(op: .pad, inputs: [s], attrs: Attributes([.low: .ints([0, 0]), .high: .ints([1, 0]), .step: .ints([huge, 1])]),
                              type: TensorType(.f64, [2, 3])))
        f.outputs = [Output(name: "s", value: s), Output(name: "p", value: p)]
        // The type rules agree with the declared types.
        XCTAssertEqual(try Op.slice.inferType([f.type(of: x)], f.nodes[s].attrs), f.type(of: s))
        XCTAssertEqual(try Op.pad.inferType([f.type(of: s)], f.nodes[p].attrs), f.type(of: p))
        let input = try XCTUnwrap(Tensor([1, 2, 3, 4, 5, 6] as [Double], shape: [2, 3]))
        let expected: [[Double]] = [[4, 5, 6], [4, 5, 6, 0, 0, 0]]
        XCTAssertEqual(try ReferenceEvaluator.run(f, inputs: ["x": input]).map(\.doubles), expected)
        XCTAssertEqual(try VirtualMachine(BytecodeProgram(function: f)).run([input]).map(\.doubles), expected)
        XCTAssertEqual(try VirtualMachine(BytecodeProgram(function: f, fuse: false, inPlace: false)).run([input]).map(\.doubles), expected)
        if (try? CCompiler.find()) != nil {
            var env = ProcessInfo.processInfo.environment
            env["GRADC_CACHE_DIR"] = try temporaryDirectory("regressions").path
            let module = try CModule([f], environment: env)
            XCTAssertEqual(try module.kernels[0].run([input]).map(\.doubles), expected)
        }
    }

    func testIRRegressions() throws {
        let names = try files(".ir")
        XCTAssertFalse(names.isEmpty)
        for name in names {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.directory + "/" + name)))
            let message = try irPipeline(bytes, name)
            let firstLine = String(decoding: bytes.prefix { $0 != 10 }, as: UTF8.self)
            if firstLine.hasPrefix("# expect: ") {
                let expected = String(firstLine.dropFirst("# expect: ".count))
                XCTAssertTrue(message?.contains(expected) ?? false, "\(name): expected an error containing '\(expected)', got \(message ?? "success")")
            }
        }
    }

    func testGBCRegressions() throws {
        for name in try files(".gbc") {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.directory + "/" + name)))
            do {
                let program = try BytecodeProgram(serialized: bytes, verifyChecksum: false)
                let vm = try VirtualMachine(program, limits: VMLimits(maxArenaBytes: 16 << 20))
                var rng = SplitMix64(seed: 1)
                _ = try vm.run(program.inputs.map { Tensor.random($0.operand.type, range: -2...2, using: &rng) })
            } catch {
                XCTAssertFalse(error.message.isEmpty, name)
            }
        }
    }

    /// The fuzz targets' own harness (built as replay tools) on every regression file.
    func testFuzzReplayTools() throws {
        let products = URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).deletingLastPathComponent()
        for tool in ["GradFuzzIR", "GradFuzzGBC", "GradFuzzGBCRun"] {
            let path = products.appendingPathComponent(tool).path
            guard FileManager.default.isExecutableFile(atPath: path) else { continue }
            let r = try runProcess(path, [Self.directory])
            XCTAssertEqual(r.status, 0, "\(tool): \(r.output)")
            XCTAssertTrue(r.output.contains("no crash"), r.output)
        }
    }
}
