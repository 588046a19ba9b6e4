import Grad
@testable import GradIR
import TestSupport
import XCTest

/// Conservativeness on every function of the `.ir` fixtures (loops, indexing, convolutions,
/// factorizations, special functions, …): each small float output's Jacobian pattern with
/// respect to each small float parameter contains every finite non-zero of the library's
/// dense Jacobian at a random point, and likewise the Hessian of each scalar output.
final class FixturePatternTests: XCTestCase {
    func testFixturePatternsContainEveryNonZero() throws {
        var checked = 0
        for file in try fixtureFiles("Tests/Fixtures") {
            guard let module = try? parseModule(repositoryFile(file)) else { continue }
            for f in module.functions {
                let inputs = randomInputs(f, seed: 11)
                let parameters = f.parameters.map(\.value).filter { f.type(of: $0).dtype.isFloat && f.type(of: $0).count <= 16 }
                for out in f.outputs {
                    let y = out.value
                    let t = f.type(of: y)
                    guard t.dtype.isFloat, t.count >= 1, t.count <= 64 else { continue }
                    for x in parameters {
                        let p = try Sparsity.jacobian(of: y, wrt: x, in: f)
                        guard let dense = try? denseJacobian(f, y, x, inputs) else { continue }
                        assertInside(dense.map { $0.isNaN ? 0 : $0 }, p, "\(file) \(f.name): ∂\(out.name)/∂\(f.parameterName(x) ?? "?")")
                        checked += 1
                        guard t.count == 1, f.type(of: x).count <= 9 else { continue }
                        let h = try Sparsity.hessian(of: y, wrt: x, in: f)
                        guard let denseH = try? denseHessian(f, y, x, inputs) else { continue }
                        assertInside(denseH.map { $0.isNaN ? 0 : $0 }, h, "\(file) \(f.name): ∂²\(out.name)/∂\(f.parameterName(x) ?? "?")²")
                        checked += 1
                    }
                }
            }
        }
        XCTAssertGreaterThan(checked, 100)
    }
}

/// No fixture (the regressions' huge shapes and steps included) makes the analysis trap: every
/// float output with respect to every float parameter, under a small limit.
final class FixtureRobustnessTests: XCTestCase {
    func testEveryFixturePairIsAnalysedWithoutTrapping() throws {
        let root = repositoryRoot.appendingPathComponent("Tests/Fixtures")
        let files = try XCTUnwrap(FileManager.default.enumerator(atPath: root.path)).compactMap { $0 as? String }.filter { $0.hasSuffix(".ir") }
        var analysed = 0
        for file in files.sorted() {
            guard let text = try? String(contentsOf: root.appendingPathComponent(file), encoding: .utf8),
                  let module = try? parseModule(text) else { continue }
            for f in module.functions {
                for out in f.outputs where f.type(of: out.value).dtype.isFloat {
                    for p in f.parameters where f.type(of: p.value).dtype.isFloat {
                        _ = try? Sparsity.jacobian(of: out.value, wrt: p.value, in: f, limit: 1 << 20)
                        if f.type(of: out.value).isScalar { _ = try? Sparsity.hessian(of: out.value, wrt: p.value, in: f, limit: 1 << 20) }
                        analysed += 1
                    }
                }
                _ = Colouring.symmetricColouring(try Sparsity.jacobian(of: -1, wrt: 0, in: f))
            }
        }
        XCTAssertGreaterThan(analysed, 100)
    }
}
