import Foundation
import Grad
import TestSupport
import XCTest

/// `gradc compile --backend c` names: the function's own name by default, `--prefix NAME`
/// checked as a C identifier (exit 2 with the reason), the library's metadata under it.
extension CLITests {
    func testCompileCExportsTheFunctionNameOrThePrefix() throws {
        let dir = try temporaryDirectory("prefix").path
        var r = try run(["compile", "Examples/embed-c/rosenbrock.ir", "--backend", "c", "-o", dir])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("  rosenbrock: function 0, 2 inputs, 3 outputs"), r.out)
        var header = try String(contentsOfFile: dir + "/model.h", encoding: .utf8)
        XCTAssertTrue(header.contains("int rosenbrock(const void *const *inputs, void *const *outputs, void *workspace);"), header)
        XCTAssertTrue(header.contains(" *   inputs[0]   x     f64 (double), scalar"), header)
        XCTAssertTrue(header.contains(" *   outputs[2]  dfdy  f64 (double), scalar"), header)

        r = try run(["compile", "Examples/embed-c/rosenbrock.ir", "--backend", "c", "-o", dir, "--prefix", "rb2"])
        XCTAssertEqual(r.status, 0, r.err)
        header = try String(contentsOfFile: dir + "/model.h", encoding: .utf8)
        XCTAssertTrue(header.contains("const gradc_tensor_info *rb2_input(int32_t i);"), header)
        XCTAssertFalse(header.contains("rosenbrock("), header)
        let abi = try CLibrary(path: dir + "/model.so").functionABI(named: "rb2")
        XCTAssertEqual(abi.inputNames, ["x", "y"])
        XCTAssertEqual(abi.outputNames, ["f", "dfdx", "dfdy"])
    }

    func testCompileCRefusesUnusableNames() throws {
        let dir = try temporaryDirectory("prefix-bad").path
        let cases: [([String], String)] = [
            (["--prefix", "a b"], "gradc: --prefix 'a b' is not a usable C name: it is not an identifier"),
            (["--prefix", "double"], "gradc: --prefix 'double' is not a usable C name: it is a C or C++ keyword"),
            (["--prefix", "sqrt"], "gradc: --prefix 'sqrt' is not a usable C name: it is (or is reserved for) a name of the C library"),
            (["--prefix", "_m"], "reserved in C and C++"),
        ]
        for (extra, message) in cases {
            let r = try run(["compile", "Examples/embed-c/rosenbrock.ir", "--backend", "c", "-o", dir] + extra)
            XCTAssertEqual(r.status, 2, "\(extra): \(r.err)")
            XCTAssertTrue(r.err.contains(message), "\(extra): \(r.err)")
        }
        let model = try temporaryFile("func main(x: f64) {\n  return x * 2\n}\nfunc g(x: f64) {\n  return x\n}\n")
        var r = try run(["compile", model, "--backend", "c", "-o", dir, "--func", "main"])
        XCTAssertEqual(r.status, 2, r.err)
        XCTAssertTrue(r.err.contains("function 'main' cannot be exported to C under its own name (it is a C or C++ keyword or reserved name): give it one with --prefix NAME"), r.err)
        r = try run(["compile", model, "--backend", "c", "-o", dir, "--prefix", "twice"])
        XCTAssertEqual(r.status, 2, r.err)
        XCTAssertTrue(r.err.contains("--prefix names one function, but 2 are compiled: choose one with --func NAME"), r.err)
        r = try run(["compile", model, "--backend", "c", "-o", dir, "--func", "main", "--prefix", "twice"])
        XCTAssertEqual(r.status, 0, r.err)
    }
}
