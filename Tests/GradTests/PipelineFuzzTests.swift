import Foundation
import Grad
import TestSupport
import XCTest

/// 10,000 mutated fixtures through parse → verify → differentiate → verify → optimize (the
/// verifier after every pass): each gives a result or a located error, never a crash.
final class PipelineFuzzTests: XCTestCase {
    func corpus() throws -> [[UInt8]] {
        var files: [[UInt8]] = []
        for dir in ["Tests/Fixtures", "Examples"] {
            let url = repositoryRoot.appendingPathComponent(dir)
            for name in try FileManager.default.contentsOfDirectory(atPath: url.path).sorted() where name.hasSuffix(".ir") {
                files.append([UInt8](try Data(contentsOf: url.appendingPathComponent(name))))
            }
        }
        return files
    }

    static let tokens: [[UInt8]] = ["(", ")", "[", "]", ",", "=", "@", "^", "-", "grad(", "hessian(", "f32", "i64", "0", "-1",
                                    "99999999999999999999", "1e308", "nan", "inf", "\n", "return ", "func ", "x", "%1", "axes=[", "::"]
        .map { Array($0.utf8) }

    func mutate(_ input: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            guard !bytes.isEmpty else { break }
            let i = Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: bytes[i] = UInt8.random(in: 0...255, using: &rng)
            case 1: bytes.remove(at: i)
            case 2: bytes.insert(contentsOf: Self.tokens[Int.random(in: 0..<Self.tokens.count, using: &rng)], at: i)
            case 3: bytes = Array(bytes[..<i])
            case 4:
                let j = Int.random(in: 0..<bytes.count, using: &rng)
                bytes.swapAt(i, j)
            default:
                let j = Int.random(in: i..<bytes.count, using: &rng)
                bytes.insert(contentsOf: bytes[i...j], at: j)
            }
        }
        return bytes
    }

    func testMutatedFixturesNeverCrash() throws {
        let files = try corpus()
        XCTAssertGreaterThan(files.count, 5)
        var rng = SplitMix64(seed: 2026)
        var parsed = 0, differentiated = 0
        for k in 0..<10_000 {
            let input = mutate(files[k % files.count], &rng)
            do {
                let module = try parseModule(bytes: input, file: "mutant.ir")
                parsed += 1
                for f in module.functions {
                    // A function the parser or the differentiator built must verify: a
                    // verifier error there is a bug, not an answer.
                    XCTAssertNoThrow(try verifyFunction(f, stage: "parsed"))
                    let d = try Differentiator.expand(f)
                    XCTAssertNoThrow(try verifyFunction(d, stage: "differentiated"))
                    _ = try optimize(d, options: OptimizerOptions(verify: true))
                    try Pipeline.checkMemory(d)
                    differentiated += 1
                }
            } catch let d as Diagnostic {
                XCTAssertFalse(d.message.isEmpty)
            }
        }
        // The corpus must exercise the later stages too, not only parse errors.
        XCTAssertGreaterThan(parsed, 500)
        XCTAssertGreaterThan(differentiated, 500)
    }
}
