import Foundation
import Grad
import TestSupport
import XCTest

/// Indexing in generated C (issue 16): an index out of range makes the function return
/// `cIndexOutOfRangeStatus` (2) before any read or write out of bounds — checked under
/// AddressSanitizer — also from the parts that long functions are cut into.
final class CIndexingTests: XCTestCase {
    static let source = """
        func f(x: f64[4,3], i: i64[5], j: i64[4,2], u: f64[5,3]) {
          t = take(x, i, axis=0)
          a = take_along_axis(x, j, axis=1)
          s = scatter_add(x, i, u, axis=0)
          loss = sum(t * t) + sum(a) + sum(s * s)
          return loss, grad(loss, x, u)
        }
        """

    func function() throws -> Function {
        try optimize(Differentiator.expand(XCTUnwrap(Pipeline.parse(CIndexingTests.source).functions.first)))
    }

    func inputs(i: [Int64], j: [Int64]) throws -> [Tensor] {
        [Tensor.random(TensorType(.f64, [4, 3]), seed: 1), try XCTUnwrap(Tensor(.i64(i), shape: [5])),
         try XCTUnwrap(Tensor(.i64(j), shape: [4, 2])), Tensor.random(TensorType(.f64, [5, 3]), seed: 2)]
    }

    static let goodI: [Int64] = [0, 3, -1, -4, 3]
    static let goodJ: [Int64] = [2, 0, -3, -1, 1, 1, 0, 2]
    /// Indices outside −n ..< n of i's axis (n = 4) and of j's (n = 3).
    static let badI: [Int64] = [4, -5, .max, .min]
    static let badJ: [Int64] = [3, -4]

    /// Through the loader (`CModule`): status 2 is an error saying an index was out of range,
    /// and the next call with good indices agrees with the reference again.
    func testOutOfRangeIndexReturnsStatus2() throws {
        let f = try function()
        guard (try? CCompiler.find(environment: testEnvironment)) != nil else { throw XCTSkip("no C compiler") }
        for chunk in [400, 1] {
            let module = try CModule([f], options: CBackendOptions(emit: CEmitOptions(chunkStatements: chunk)), environment: testEnvironment)
            if chunk == 1 { XCTAssertTrue(try XCTUnwrap(module.source).source.contains("(in, out, ws) != 0)"), "a part that checks indices returns the status") }
            for bad in CIndexingTests.badI {
                var i = CIndexingTests.goodI
                i[2] = bad
                XCTAssertThrowsError(try module.kernels[0].run(inputs(i: i, j: CIndexingTests.goodJ))) { error in
                    XCTAssertTrue("\(error)".contains("status 2): an index was out of range"), "\(error)")
                }
            }
            let good = try inputs(i: CIndexingTests.goodI, j: CIndexingTests.goodJ)
            var named: [String: Tensor] = [:]
            for (p, t) in zip(f.parameters, good) { named[p.name] = t }
            let expected = try ReferenceEvaluator.run(f, inputs: named)
            for (g, e) in zip(try module.kernels[0].run(good), expected) { XCTAssertTrue(sameBits(g, e), "chunk \(chunk): \(g) vs \(e)") }
        }
    }

    /// The emitted C and a plain C main compiled with -fsanitize=address: inputs in
    /// exactly-sized heap buffers, the workspace allocated by the function; every bad index
    /// gives status 2 and no AddressSanitizer report, good indices give 0.
    func testAddressSanitizerSeesNoOutOfBoundsAccess() throws {
        let cc = try CCompiler.find(environment: testEnvironment)
        let dir = try temporaryDirectory("asan")
        let probe = dir.appendingPathComponent("probe.c").path
        try "int main(void) { return 0; }\n".write(toFile: probe, atomically: true, encoding: .utf8)
        let probeBuild = try runProcess(cc.path, ["-fsanitize=address", "-o", dir.appendingPathComponent("probe").path, probe])
        guard probeBuild.status == 0, try runProcess(dir.appendingPathComponent("probe").path, []).status == 0 else {
            throw XCTSkip("\(cc.path) cannot build and run programs with -fsanitize=address: \(probeBuild.output)")
        }
        let f = try function()
        for chunk in [400, 1] {
            let emitted = try emitC([f], options: CEmitOptions(chunkStatements: chunk))
            let sub = dir.appendingPathComponent("chunk\(chunk)")
            try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
            try emitted.source.write(to: sub.appendingPathComponent("model.c"), atomically: true, encoding: .utf8)
            try emitted.header.write(to: sub.appendingPathComponent("model.h"), atomically: true, encoding: .utf8)
            func list(_ v: [Int64]) -> String { v.map { $0 == .min ? "INT64_MIN" : ($0 == .max ? "INT64_MAX" : "INT64_C(\($0))") }.joined(separator: ", ") }
            let main = """
                #include <stdio.h>
                #include <stdlib.h>
                #include <string.h>
                #include "model.h"
                static int call(const int64_t *iv, const int64_t *jv) {
                    double *x = malloc(12 * sizeof(double)), *u = malloc(15 * sizeof(double));
                    int64_t *i = malloc(5 * sizeof(int64_t)), *j = malloc(8 * sizeof(int64_t));
                    double *loss = malloc(sizeof(double)), *gx = malloc(12 * sizeof(double)), *gu = malloc(15 * sizeof(double));
                    for (int k = 0; k < 12; k++) x[k] = 0.25 * k - 1;
                    for (int k = 0; k < 15; k++) u[k] = 0.5 - 0.125 * k;
                    memcpy(i, iv, 5 * sizeof(int64_t));
                    memcpy(j, jv, 8 * sizeof(int64_t));
                    const void *in[] = {x, i, j, u};
                    void *out[] = {loss, gx, gu};
                    int status = \(emitted.functions[0].symbol)(in, out, NULL);
                    if (status == 0) printf("loss %.17g\\n", *loss);
                    free(x); free(u); free(i); free(j); free(loss); free(gx); free(gu);
                    return status;
                }
                int main(void) {
                    const int64_t good_i[5] = {\(list(CIndexingTests.goodI))}, good_j[8] = {\(list(CIndexingTests.goodJ))};
                    const int64_t bad_i[] = {\(list(CIndexingTests.badI))}, bad_j[] = {\(list(CIndexingTests.badJ))};
                    printf("good %d\\n", call(good_i, good_j));
                    for (int b = 0; b < \(CIndexingTests.badI.count); b++) {
                        for (int at = 0; at < 5; at++) {
                            int64_t i[5];
                            memcpy(i, good_i, sizeof i);
                            i[at] = bad_i[b];
                            printf("bad i %d\\n", call(i, good_j));
                        }
                    }
                    for (int b = 0; b < \(CIndexingTests.badJ.count); b++) {
                        for (int at = 0; at < 8; at++) {
                            int64_t j[8];
                            memcpy(j, good_j, sizeof j);
                            j[at] = bad_j[b];
                            printf("bad j %d\\n", call(good_i, j));
                        }
                    }
                    return 0;
                }
                """
            try main.write(to: sub.appendingPathComponent("main.c"), atomically: true, encoding: .utf8)
            let exe = sub.appendingPathComponent("main").path
            let build = try runProcess(cc.path, ["-fsanitize=address", "-fno-omit-frame-pointer", "-g", "-O1", "-ffp-contract=off", "-o", exe,
                                                 sub.appendingPathComponent("main.c").path, sub.appendingPathComponent("model.c").path, "-lm"])
            XCTAssertEqual(build.status, 0, build.output)
            let ran = try runProcess(exe, [])
            XCTAssertEqual(ran.status, 0, ran.output)
            XCTAssertFalse(ran.output.contains("AddressSanitizer"), ran.output)
            let lines = ran.output.split(separator: "\n").map(String.init)
            let expected = try ReferenceEvaluator.run(f, inputs: [
                "x": XCTUnwrap(Tensor((0..<12).map { 0.25 * Double($0) - 1 }, shape: [4, 3])),
                "i": XCTUnwrap(Tensor(.i64(CIndexingTests.goodI), shape: [5])), "j": XCTUnwrap(Tensor(.i64(CIndexingTests.goodJ), shape: [4, 2])),
                "u": XCTUnwrap(Tensor((0..<15).map { 0.5 - 0.125 * Double($0) }, shape: [5, 3])),
            ])[0]
            let want = ["loss " + String(format: "%.17g", try XCTUnwrap(expected.scalar)), "good 0"]
                + [String](repeating: "bad i 2", count: 5 * CIndexingTests.badI.count)
                + [String](repeating: "bad j 2", count: 8 * CIndexingTests.badJ.count)
            XCTAssertEqual(lines, want, "chunk \(chunk)")
        }
    }
}
