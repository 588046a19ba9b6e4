import Foundation
import Grad
import TestSupport
import XCTest

/// The special functions of issue 17 on every backend: values against SciPy, hand-checked
/// points and conventions (poles, x = 0 in xlogy, −inf in logaddexp), derivatives to third
/// order, and the backends agreeing bit for bit.
final class SpecialFunctionTests: XCTestCase {
    var backends: [Backend] {
        var b: [Backend] = [.reference, .bytecode]
        if (try? CCompiler.find()) != nil { b.append(.c) }
        return b
    }

    /// Runs the only function of `source` on every backend; asserts they agree bit for bit and
    /// returns the reference's outputs as doubles.
    func run(_ source: String, _ args: [Tensor]) throws -> [[Double]] {
        let f = try XCTUnwrap(Pipeline.parse(source, file: "special.ir").functions.first)
        var reference: [Tensor] = []
        for backend in backends {
            let out = try compile(f, backend: backend, options: CompileOptions(portable: true))(args)
            if backend == .reference {
                reference = out
            } else {
                for (k, (a, b)) in zip(out, reference).enumerated() { XCTAssertTrue(sameBits(a, b), "\(backend) output \(k): \(a) vs \(b)") }
            }
        }
        return reference.map(\.doubles)
    }

    func close(_ a: Double, _ b: Double, _ rel: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        if a == b { return }
        XCTAssertLessThanOrEqual(abs(a - b), rel * max(abs(b), 1e-300), "\(what): \(a) vs \(b)", file: file, line: line)
    }

    // Recorded with SciPy 1.17.1 (scipy.special.gammaln, psi, polygamma; Python repr of the
    // f64 results) at these points.
    static let xs: [Double] = [1e-8, 0.1, 0.5, 1.0, 1.5, 2.0, 2.5, 10.0, 123.456, 1e4, 1e6, -0.5, -1.5, -2.7, -10.3]
    static let scipyLgamma: [Double] = [18.42068073818021, 2.252712651734206, 0.5723649429247, 0.0, -0.12078223763524526, 0.0, 0.2846828704729192, 12.801827480081469, 469.6055471299295, 82099.71749644238, 12815504.569147611, 1.2655121234846454, 0.860047015376481, -0.0714070853156458, -14.457515440024208]
    static let scipyDigamma: [Double] = [-100000000.57721564, -10.423754940411076, -1.9635100260214235, -0.5772156649015329, 0.03648997397857652, 0.42278433509846713, 0.7031566406452432, 2.251752589066721, 4.811829323828985, 9.21029037114285, 13.81551005796419, 0.03648997397857651, 0.7031566406452434, -1.1153471291406887, 4.6624034935820875]
    static let scipyTrigamma: [Double] = [1e+16, 101.43329915079275, 4.93480220054468, 1.6449340668482266, 0.9348022005446793, 0.6449340668482266, 0.4903577561002349, 0.10516633568168576, 0.008132945834278194, 0.00010000500016666666, 1.0000005000001667e-06, 8.934802200544679, 9.379246644989124, 14.769375845132316, 14.98688706572264]
    static let scipyTetragamma: [Double] = [-2e+24, -2001.8614573783439, -16.828796644234316, -2.404113806319188, -0.8287966442343201, -0.4041138063191886, -0.23620405164172736, -0.011049834970802069, -6.614444336394039e-05, -1.0001000050000002e-08, -1.0000010000005002e-12, -0.82879664423432, -0.23620405164172825, -68.93293902326377, 68.82898861103696]
    static let scipyPolygamma3: [Double] = [5.999999999999999e+32, 60004.512876790235, 97.40909103400242, 6.493939402266829, 1.4090910340024367, 0.4939394022668293, 0.2239058488172521, 0.0023199013042898686, 1.0758864901317463e-06, 2.0003000200000004e-12, 2.000003000002e-18, 193.40909103400242, 194.59427621918758, 768.9626351155221, 769.0193334243988]

    func testGammaFamilyAgainstSciPy() throws {
        let source = """
            func f(x: f64[15]) {
              return lgamma(x), digamma(x), polygamma(1, x), polygamma(2, x), polygamma(3, x)
            }
            """
        let out = try run(source, [Tensor(.f64(Self.xs), shape: [15])!])
        let tables = [Self.scipyLgamma, Self.scipyDigamma, Self.scipyTrigamma, Self.scipyTetragamma, Self.scipyPolygamma3]
        let names = ["lgamma", "digamma", "trigamma", "polygamma(2)", "polygamma(3)"]
        for (k, table) in tables.enumerated() {
            for (i, x) in Self.xs.enumerated() {
                // 1e-14 relative for x > 0; the reflection for x < 0 loses what cancels.
                close(out[k][i], table[i], x > 0 ? 1e-14 : 5e-14, "\(names[k])(\(x))")
            }
        }
    }

    func testF32AgreesWithF64Values() throws {
        let xs: [Float] = [0.1, 0.5, 1, 1.5, 2.5, 10, 123.456, -0.5, -2.7]
        let source = """
            func f(x: f32[9]) {
              return lgamma(x), digamma(x), polygamma(1, x)
            }
            """
        let out = try run(source, [Tensor(.f32(xs), shape: [9])!])
        let tables = [Self.scipyLgamma, Self.scipyDigamma, Self.scipyTrigamma]
        for (k, table) in tables.enumerated() {
            for (i, x) in xs.enumerated() {
                guard let j = Self.xs.firstIndex(of: Double(x)) else { continue }  // f32 points that are f64 points
                XCTAssertLessThanOrEqual(abs(out[k][i] - table[j]), 1e-5 * max(abs(table[j]), 1), "op \(k) at \(x)")
            }
        }
    }

    func testHandCheckedValuesAndPoles() throws {
        let source = """
            func f(x: f64[8]) {
              return lgamma(x), digamma(x), polygamma(1, x), polygamma(2, x)
            }
            """
        let inf = Double.infinity
        let out = try run(source, [Tensor(.f64([1, 2, 0.5, 0, -0.0, -1, -2, inf]), shape: [8])!])
        XCTAssertEqual(out[0][0], 0)
        XCTAssertEqual(out[0][1], 0)
        close(out[0][2], log(Double.pi.squareRoot()), 1e-15, "lgamma(1/2) = ln √π")
        XCTAssertEqual(Array(out[0][3...7]), [inf, inf, inf, inf, inf], "lgamma's poles are +inf")
        close(out[1][0], -0.57721566490153286, 2e-15, "digamma(1) = −γ")
        close(out[1][1], 1 - 0.57721566490153286, 2e-15, "digamma(2) = 1 − γ")
        XCTAssertEqual(out[1][3], -inf, "digamma(+0)")
        XCTAssertEqual(out[1][4], inf, "digamma(−0)")
        XCTAssertTrue(out[1][5].isNaN && out[1][6].isNaN, "digamma at the negative integers")
        XCTAssertEqual(out[1][7], inf)
        close(out[2][0], Double.pi * Double.pi / 6, 2e-15, "trigamma(1) = π²/6")
        XCTAssertEqual(Array(out[2][3...6]), [inf, inf, inf, inf], "trigamma's poles are +inf")
        XCTAssertEqual(out[2][7], 0)
        close(out[3][0], -2 * 1.2020569031595942, 2e-15, "polygamma(2, 1) = −2ζ(3)")
        XCTAssertTrue(out[3][5].isNaN, "polygamma(2, −1)")
    }

    func testOrderOutsideRangeIsNaN() throws {
        let source = """
            func f(n: f64[5], x: f64) {
              return polygamma(n, x)
            }
            """
        let out = try run(source, [Tensor(.f64([16, 17, -1, 0.5, .nan]), shape: [5])!, Tensor(.f64([2]), shape: [])!])
        XCTAssertTrue(out[0][0].isFinite)
        XCTAssertTrue(out[0][1...].allSatisfy(\.isNaN))
    }

    func testErfcLogSigmoidLogaddexpXlogyValues() throws {
        let source = """
            func f(e: f64[8], l: f64[7], a: f64[5], b: f64[5], x: f64[5], y: f64[5]) {
              return erfc(e), log_sigmoid(l), logaddexp(a, b), xlogy(x, y)
            }
            """
        let e: [Double] = [-3, -0.5, 0, 0.5, 2, 5, 10, 26]
        let l: [Double] = [-1000, -30, -1, 0, 1, 30, 1000]
        let (a, b): ([Double], [Double]) = ([0, 1, -1000, 1000, 3], [0, 2, -1000, 999, -40])
        let (x, y): ([Double], [Double]) = ([0, 0, 2, -1.5, 3], [0, 5, 3, 0.25, 1])
        let out = try run(source, [e, l, a, b, x, y].map { Tensor(.f64($0), shape: [$0.count])! })
        // SciPy 1.17.1: scipy.special.erfc, log_expit, xlogy; numpy.logaddexp.
        let erfc: [Double] = [1.9999779095030015, 1.5204998778130465, 1.0, 0.4795001221869535, 0.004677734981047266, 1.5374597944280347e-12, 2.0884875837625446e-45, 5.663192408856145e-296]
        let logSigmoid: [Double] = [-1000.0, -30.000000000000092, -1.3132616875182228, -0.6931471805599453, -0.31326168751822286, -9.357622968839737e-14, -0.0]
        let logaddexp: [Double] = [0.6931471805599453, 2.313261687518223, -999.3068528194401, 1000.3132616875182, 3.0]
        let xlogy: [Double] = [0.0, 0.0, 2.1972245773362196, 2.0794415416798357, 0.0]
        for (k, table) in [erfc, logSigmoid, logaddexp, xlogy].enumerated() {
            for (i, v) in table.enumerated() { close(out[k][i], v, 1e-14, "op \(k) element \(i)") }
        }
        XCTAssertEqual(out[1][0], -1000, "log_sigmoid(−1000) exactly")
        XCTAssertEqual(out[3][0].bitPattern, 0.0.bitPattern, "xlogy(0, 0) = +0")
    }

    func testConventionsOfTheGradients() throws {
        let source = """
            func f(a: f64[3], b: f64[3], x: f64[3], y: f64[3]) {
              s = sum(logaddexp(a, b)) + sum(xlogy(x, y))
              ga, gb, gx, gy = grad(s, a, b, x, y)
              return logaddexp(a, b), ga, gb, gx, gy
            }
            """
        let inf = Double.infinity
        let out = try run(source, [Tensor(.f64([-inf, inf, 2]), shape: [3])!, Tensor(.f64([-inf, inf, 2]), shape: [3])!,
                                   Tensor(.f64([0, 0, 2]), shape: [3])!, Tensor(.f64([0, 3, 0]), shape: [3])!])
        XCTAssertEqual(out[0], [-inf, inf, 2 + log(2)])
        XCTAssertEqual(out[1], [0.5, 0.5, 0.5], "ties split evenly, also at ±inf (never NaN)")
        XCTAssertEqual(out[2], [0.5, 0.5, 0.5])
        XCTAssertEqual(out[3], [-inf, log(3), -inf], "d/dx xlogy = ln y")
        XCTAssertEqual(out[4][0], 0, "d/dy xlogy(0, 0) = 0 (strong zero)")
        XCTAssertEqual(out[4][1], 0)
        XCTAssertEqual(out[4][2], inf)
    }

    /// d³/dx³ lgamma = polygamma(2, x) through three nested grads (the rules of the rules), and
    /// the second derivative of logaddexp at a finite tie is ¼.
    func testThirdOrderAndTies() throws {
        let source = """
            func f(x: f64, a: f64) {
              g1 = grad(lgamma(x), x)
              g2 = grad(g1, x)
              g3 = grad(g2, x)
              h = hessian(logaddexp(a, a * 1), a)
              return g1, g2, g3, polygamma(2, x), h
            }
            """
        let out = try run(source, [Tensor(.f64([2.5]), shape: [])!, Tensor(.f64([0.75]), shape: [])!])
        close(out[0][0], Self.scipyDigamma[6], 1e-14, "ψ(2.5)")
        close(out[1][0], Self.scipyTrigamma[6], 1e-14, "ψ′(2.5)")
        close(out[2][0], Self.scipyTetragamma[6], 1e-14, "ψ″(2.5)")
        XCTAssertEqual(out[2][0], out[3][0])
        // logaddexp(a, a) = a + ln 2: second derivative 0 (σ′ terms cancel: ¼ − 2·¼ + ¼).
        XCTAssertEqual(out[4][0], 0, accuracy: 1e-15)
    }
}
