import Foundation
import Grad
import TestSupport
import XCTest

/// The C ABI describes itself (docs/c-abi.md): readable exported names, a header usable
/// from C and C++, metadata a foreign caller reads at run time, warning-free C.
final class CABITests: XCTestCase {
    /// Every dtype, a scalar, vectors and matrices, a matmul (so a workspace) and a gradient.
    static let mixedSource = """
        func mixed(x: f64[4,3], w: f64[3,2], s: f32, n: i64[5], m: bool[2,2]) {
          h = tanh(x @ w)
          loss = mean(h * h)
          return loss, grad(loss, w), s * 2, n + 1, m
        }
        """

    static func mixed() throws -> Function {
        try optimize(Differentiator.expand(Pipeline.function(Pipeline.parse(mixedSource), named: nil)))
    }

    /// C (or C++) compilers on this machine, by the names given.
    static func compilers(_ names: [String]) -> [String] {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin", "/opt/swift/usr/bin"]
        var found: [String] = []
        for name in names {
            if let p = path.map({ $0 + "/" + name }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
                found.append(p)
            }
        }
        return found
    }

    // MARK: Metadata

    /// `NAME_num_inputs`, `NAME_input(i)`, … read back through dlopen/dlsym (CLibrary) give
    /// the model's names, dtypes, shapes and the emitted workspace size; a kernel loaded by
    /// name alone computes the reference's values.
    func testMetadataReadThroughDlopenMatchesTheModel() throws {
        let f = try Self.mixed()
        let module = try CModule([f], environment: testEnvironment)
        let emitted = try XCTUnwrap(module.source?.functions.first)
        XCTAssertEqual(emitted.symbol, "mixed", "the exported name is the function's")
        let read = try module.library.functionABI(named: "mixed")
        XCTAssertEqual(read.inputNames, ["x", "w", "s", "n", "m"])
        XCTAssertEqual(read.inputs, f.parameters.map { f.type(of: $0.value) })
        XCTAssertEqual(read.outputNames, f.outputs.map(\.name))
        XCTAssertEqual(read.outputs, f.outputs.map { f.type(of: $0.value) })
        XCTAssertEqual(read.outputs.map(\.dtype), [.f64, .f64, .f32, .i64, .bool])
        XCTAssertEqual(read.outputs[1].shape, [3, 2])
        XCTAssertGreaterThan(read.workspaceBytes, 0)
        XCTAssertEqual(read, emitted)
        XCTAssertThrowsError(try module.library.functionABI(named: "nosuch")) { error in
            XCTAssertTrue("\(error)".contains("has no symbol nosuch_abi_version"), "\(error)")
        }

        let kernel = try CKernel(library: module.library, name: "mixed")
        var rng = SplitMix64(seed: 5)
        var named: [String: Tensor] = [:]
        for p in f.parameters { named[p.name] = Tensor.random(f.type(of: p.value), using: &rng) }
        let got = try kernel.run(f.parameters.compactMap { named[$0.name] })
        let expected = try ReferenceEvaluator.run(f, inputs: named)
        for (k, (g, e)) in zip(got, expected).enumerated() where k >= 2 {
            XCTAssertTrue(sameBits(g, e), "output \(k)")
        }
        XCTAssertTrue(closeToMax(got[0], expected[0], tolerance: fusedMatmulTolerance(.f64)))
    }

    // MARK: Names

    func testExportedNamesAreCheckedIdentifiers() throws {
        let f = try Self.mixed()
        for ok in ["my_model", "M", "a", "Strain", "f32", "mixed2"] {
            XCTAssertEqual(try emitC([f], names: [ok]).functions[0].symbol, ok)
        }
        let refused: [(String, String)] = [
            ("int", "keyword"), ("class", "keyword"), ("main", "reserved"), ("_x", "reserved"), ("a__b", "reserved"),
            ("a b", "not an identifier"), ("naïve", "not an identifier"), ("", "not an identifier"),
            ("x\");system(\"id", "not an identifier"), (String(repeating: "a", count: 65), "longer than 64"),
            ("free", "C library"), ("tanh", "C library"), ("trunc", "C library"), ("index", "C library"),
            ("strain", "reserved for"), ("size_t", "reserved for"), ("pthread_go", "reserved for"),
            ("gradc_tensor_info", "gradc's own"), ("GRADC_ABI_VERSION", "gradc's own"), (try emitC([f]).prefix + "_f0", "gradc's own"),
            ("NAN", "C library"), ("INT64_C", "C library"),
        ]
        for (name, reason) in refused {
            XCTAssertThrowsError(try emitC([f], names: [name]), name) { error in
                XCTAssertTrue("\(error)".contains(reason), "\(name): \(error)")
                XCTAssertTrue("\(error)".contains("--prefix"), "\(name): \(error)")
            }
        }
        // Two functions whose interfaces would share a name.
        var g = f
        g.name = "mixed_input"
        XCTAssertThrowsError(try emitC([f, g], names: ["mixed", "mixed_input"])) { error in
            XCTAssertTrue("\(error)".contains("'mixed_input' is also a name of the C interface of function 'mixed'"), "\(error)")
        }
        // Without names: each function's own name, else a generated one (never an error).
        let defaults = try emitC([f, g, f]).functions.map(\.symbol)
        XCTAssertEqual(defaults[0], "mixed")
        XCTAssertTrue(defaults[1].hasPrefix("gradc_") && defaults[2].hasPrefix("gradc_"), "\(defaults)")
        XCTAssertEqual(Set(defaults).count, 3)
    }

    /// Every function or function-like macro the generated C calls (every op, every fixture)
    /// is refused as an exported name, so `cNameProblem`'s lists cover the code: a kernel
    /// that starts calling another libc function must add it there.
    func testNamesTheCodeCallsAreRefused() throws {
        let cases = try Conformance.everyOp(.f64) + Conformance.everyOp(.f32) + Conformance.fixtures()
        let modules = [try emitC(cases.map(\.function)), try emitC(cases.map(\.function), options: CEmitOptions(threads: false, fma: false))]
        let called = Self.calledNames(modules.map(\.source).joined())
        let expected: Set<String> = ["exp", "tanh", "malloc", "memcpy", "INT64_C"]
        XCTAssertEqual(expected.subtracting(called), [], "the scan finds calls")
        // Not calls: the module's own definitions, attribute and preprocessor words.
        var own: Set<String> = ["defined", "aligned", "vector_size", "may_alias", "optimize", "noinline"]
        for m in modules {
            for f in m.functions { own.formUnion([f.symbol] + ["_abi_version", "_num_inputs", "_num_outputs", "_workspace_bytes", "_input", "_output", "_output_pattern"].map { f.symbol + $0 }) }
        }
        let accepted = called.subtracting(own).filter { cNameProblem($0) == nil }
        XCTAssertEqual(accepted, [], "names the generated C calls that cNameProblem accepts")
    }

    /// Identifiers directly followed by `(` in C source `text`, outside comments and literals.
    static func calledNames(_ text: String) -> Set<String> {
        let b = Array(text.utf8)
        func isWord(_ c: UInt8) -> Bool {
            (c >= 0x30 && c <= 0x39) || c == 0x5F || (c | 0x20 >= 0x61 && c | 0x20 <= 0x7A)
        }
        var names: Set<String> = []
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "/") && i + 1 < b.count && b[i + 1] == UInt8(ascii: "*") {
                i += 2
                while i + 1 < b.count && !(b[i] == UInt8(ascii: "*") && b[i + 1] == UInt8(ascii: "/")) { i += 1 }
                i += 2
            } else if b[i] == UInt8(ascii: "\"") {
                i += 1
                while i < b.count && b[i] != UInt8(ascii: "\"") { i += b[i] == UInt8(ascii: "\\") ? 2 : 1 }
                i += 1
            } else if isWord(b[i]) {
                let start = i
                while i < b.count && isWord(b[i]) { i += 1 }
                var j = i
                while j < b.count && b[j] == UInt8(ascii: " ") { j += 1 }
                let word = String(decoding: b[start..<i], as: UTF8.self)
                if j < b.count && b[j] == UInt8(ascii: "("), let first = word.first, !first.isNumber { names.insert(word) }
            } else {
                i += 1
            }
        }
        return names
    }

    // MARK: C and C++ callers

    /// The header compiles as C++ (`extern "C"`) under -Wall -Wextra -Werror, links against
    /// model.c compiled as C, and the program reads the metadata through the header's
    /// prototypes and calls the function — with g++ and clang++ where present.
    func testHeaderFromCppLinksAndReadsMetadata() throws {
        let cxx = Self.compilers(["g++", "clang++"])
        try XCTSkipIf(cxx.isEmpty, "no C++ compiler (g++ or clang++) on PATH")
        let f = try Self.mixed()
        let emitted = try emitC([f])
        let dir = try temporaryDirectory("cxx")
        try emitted.source.write(to: dir.appendingPathComponent("model.c"), atomically: true, encoding: .utf8)
        try emitted.header.write(to: dir.appendingPathComponent("model.h"), atomically: true, encoding: .utf8)
        try """
            #include <cstdio>
            #include <vector>
            #include "model.h"
            #include "model.h"  // the guard makes a second include harmless

            int main() {
                static_assert(mixed_NUM_INPUTS == 5 && mixed_NUM_OUTPUTS == 5, "counts");
                std::printf("abi %d inputs %d outputs %d workspace %lld\\n", mixed_abi_version(), mixed_num_inputs(),
                            mixed_num_outputs(), (long long)mixed_workspace_bytes());
                for (int32_t i = 0; i < mixed_num_inputs(); i++) {
                    const gradc_tensor_info *t = mixed_input(i);
                    std::printf("in %s %s %d %lld:", t->name, t->dtype, t->rank, (long long)t->count);
                    for (int32_t a = 0; a < t->rank; a++) std::printf(" %lld", (long long)t->shape[a]);
                    std::printf("\\n");
                }
                for (int32_t i = 0; i < mixed_num_outputs(); i++) {
                    const gradc_tensor_info *t = mixed_output(i);
                    std::printf("out %s %s %d %lld\\n", t->name, t->dtype, t->rank, (long long)t->count);
                }
                if (mixed_input(-1) != nullptr || mixed_input(5) != nullptr || mixed_output(5) != nullptr) return 2;
                std::vector<double> x(12, 0.5), w(6, -0.25), gw(6);
                float s = 1.5f, s2 = 0;
                std::vector<int64_t> n = {1, 2, 3, 4, 5}, n1(5);
                std::vector<uint8_t> m = {1, 0, 0, 1}, m1(4);
                double loss = 0;
                const void *in[mixed_NUM_INPUTS] = {x.data(), w.data(), &s, n.data(), m.data()};
                void *out[mixed_NUM_OUTPUTS] = {&loss, gw.data(), &s2, n1.data(), m1.data()};
                if (mixed(in, out, nullptr) != 0) return 3;
                std::printf("s2 %g n1 %lld m1 %d\\n", s2, (long long)n1[4], m1[3]);
                return 0;
            }

            """.write(to: dir.appendingPathComponent("main.cpp"), atomically: true, encoding: .utf8)
        let cc = try CCompiler.find()
        let object = dir.appendingPathComponent("model.o").path
        let built = try runProcess(cc.path, ["-std=gnu11", "-O1", "-ffp-contract=off", "-pthread", "-c", "-o", object,
                                             dir.appendingPathComponent("model.c").path])
        XCTAssertEqual(built.status, 0, built.output)
        var expected = "abi 1 inputs 5 outputs 5 workspace \(emitted.functions[0].workspaceBytes)\n"
        for p in f.parameters {
            let t = f.type(of: p.value)
            expected += "in \(p.name) \(t.dtype.rawValue) \(t.rank) \(t.count):" + t.shape.map { " \($0)" }.joined() + "\n"
        }
        for o in f.outputs {
            let t = f.type(of: o.value)
            expected += "out \(o.name) \(t.dtype.rawValue) \(t.rank) \(t.count)\n"
        }
        expected += "s2 3 n1 6 m1 1\n"
        for compiler in cxx {
            let program = dir.appendingPathComponent("main-" + URL(fileURLWithPath: compiler).lastPathComponent).path
            let linked = try runProcess(compiler, ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-I", dir.path, "-o", program,
                                                   dir.appendingPathComponent("main.cpp").path, object, "-lm", "-pthread"])
            XCTAssertEqual(linked.status, 0, "\(compiler):\n\(linked.output)")
            let ran = try runProcess(program, [])
            XCTAssertEqual(ran.status, 0, "\(compiler): \(ran.output)")
            XCTAssertEqual(ran.output, expected, compiler)
        }
    }

    /// Everything the emitter writes — every op in f64 and f32, the edge-value table, every
    /// fixture, with and without FMA, threads and chunking — compiles under -Wall -Wextra
    /// -Werror with gcc and clang (where present): the front ends check all of it
    /// (-fsyntax-only: Clang's warnings are all front-end ones), and GCC also optimizes the
    /// fixtures' module at -O2 for the warnings its optimizer gives (uninitialized values,
    /// bounds). So does the header, twice in one file together with a second module's.
    func testGeneratedCHasNoWarnings() throws {
        let compilers = Self.compilers(["gcc", "clang"])
        try XCTSkipIf(compilers.isEmpty, "neither gcc nor clang on PATH")
        let everyOp = try Conformance.everyOp(.f64) + Conformance.everyOp(.f32) + Conformance.edges()
        let fixtures = try Conformance.fixtures()
        let dir = try temporaryDirectory("warnings")
        let variants: [(String, [Function], CEmitOptions, [String])] = [
            ("all", (everyOp + fixtures).map(\.function), CEmitOptions(), ["-fsyntax-only"]),
            ("portable", everyOp.map(\.function), CEmitOptions(threads: false, chunkStatements: 20, fma: false), ["-fsyntax-only"]),
            ("fixtures", fixtures.map(\.function), CEmitOptions(), ["-O2", "-c", "-o", "/dev/null"]),
        ]
        var headers: [String] = []
        for (label, functions, options, mode) in variants {
            let emitted = try emitC(functions, options: options, headerName: "\(label).h")
            let c = dir.appendingPathComponent("\(label).c").path
            try emitted.source.write(toFile: c, atomically: true, encoding: .utf8)
            try emitted.header.write(toFile: dir.appendingPathComponent("\(label).h").path, atomically: true, encoding: .utf8)
            headers.append("\(label).h")
            for compiler in compilers where mode.contains("-fsyntax-only") || compiler.hasSuffix("gcc") {
                let r = try runProcess(compiler, ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-pthread"] + mode + [c])
                XCTAssertEqual(r.status, 0, "\(compiler) \(mode.joined(separator: " ")) on \(label).c:\n\(r.output.prefix(3000))")
            }
        }
        let both = dir.appendingPathComponent("headers.c")
        try (headers + headers).map { "#include \"\($0)\"\n" }.joined().write(to: both, atomically: true, encoding: .utf8)
        for compiler in compilers {
            let r = try runProcess(compiler, ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fsyntax-only", "-I", dir.path, both.path])
            XCTAssertEqual(r.status, 0, "\(compiler) on the headers:\n\(r.output.prefix(3000))")
        }
    }
}
