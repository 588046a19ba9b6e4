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
                let expanded = try Differentiator.expand(f)
                let optimized = try optimize(expanded)
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
        for tool in ["GradFuzzIR", "GradFuzzGBC"] {
            let path = products.appendingPathComponent(tool).path
            guard FileManager.default.isExecutableFile(atPath: path) else { continue }
            let r = try runTool(path, [Self.directory])
            XCTAssertEqual(r.status, 0, "\(tool): \(r.output)")
            XCTAssertTrue(r.output.contains("no crash"), r.output)
        }
    }

    func runTool(_ path: String, _ args: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
