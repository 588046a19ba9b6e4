import Foundation
import Grad
import TestSupport
import XCTest

/// Review of `CLibrary.functionABI`'s reading of `NAME_output_pattern` (CLoader.swift): a
/// library whose pattern disagrees with its output's length must be refused before the
/// loader lets it write the column indices into a buffer sized by the output.
final class ReviewPatternLoaderTests: XCTestCase {
    /// BUG: the loader sizes `indices` by the output's count and asks for the column indices
    /// in the same call as the row starts, so a pattern with more non-zeros than the output
    /// (a stale, hand-edited or foreign `.so`) writes past the buffer before the check.
    /// Here the pattern claims 4 non-zeros for an f64[3] output; the library counts how
    /// often it is asked for column indices: a loader that checks the row starts first
    /// never asks.
    func testMismatchedPatternIsRefusedBeforeItsColumnsAreRead() throws {
        let f = try XCTUnwrap(parseModule("func p(x: f64[3]) {\n  return jacobian(sin(x), x, sparse=true) as j\n}").functions.last)
        let lowered = try optimize(Differentiator.expand(f))
        let emitted = try emitC([lowered])
        var source = emitted.source
        // The diagonal 3×3 pattern made to claim a fourth non-zero in the last row.
        let rows = "_pat0_rows[4] = {0,1,2,3};"
        let cols = "_pat0_cols[3] = {0,1,2};"
        XCTAssertTrue(source.contains(rows) && source.contains(cols) && source.contains("nnz = 3;"), "the emitted pattern changed shape")
        source = source.replacingOccurrences(of: rows, with: "_pat0_rows[4] = {0,1,2,4};")
            .replacingOccurrences(of: cols, with: "_pat0_cols[4] = {0,1,2,2};")
            .replacingOccurrences(of: "nnz = 3;", with: "nnz = 4;")
            .replacingOccurrences(of: "if (column_indices) for", with: "if (column_indices) review_asked++;\n    if (column_indices) for")
        source = "int review_asked = 0;\n" + source
        let dir = try temporaryDirectory("loader").path
        try source.write(toFile: dir + "/model.c", atomically: true, encoding: .utf8)
        try emitted.header.write(toFile: dir + "/model.h", atomically: true, encoding: .utf8)
        try CCompiler.find().compileSharedObject(source: dir + "/model.c", output: dir + "/model.so", flags: ["-O0", "-I", dir])
        let library = try CLibrary(path: dir + "/model.so")
        XCTAssertThrowsError(try library.functionABI(named: "p"))
        guard let handle = dlopen(dir + "/model.so", RTLD_NOW | RTLD_LOCAL), let asked = dlsym(handle, "review_asked") else {
            return XCTFail("no review_asked in the library")
        }
        defer { dlclose(handle) }
        XCTAssertEqual(asked.load(as: Int32.self), 0, "the loader asked for the column indices of a pattern longer than its output (written past the buffer)")
    }
}
