import Foundation
import Grad
import XCTest

/// The hints of parse errors for unknown names and Python spellings (`Suggestions`): each
/// case pinned to its message, position and hint; far-off names get no hint.
final class SuggestionTests: XCTestCase {
    func parseError(_ body: String) -> Diagnostic? {
        let source = "func g(v: f64[3]) {\n  return v\n}\nfunc f(x: f64[3], weights: f64[3], n: i64[3]) {\n  h = tanh(x)\n  return \(body)\n}\n"
        do {
            _ = try parseModule(source, file: "m.ir")
            return nil
        } catch {
            return error
        }
    }

    func testHintsForUnknownNames() throws {
        let take = Op(rawValue: "take") != nil
        let cases: [(body: String, message: String, column: Int, hint: String?)] = [
            // The NumPy / PyTorch table.
            ("where(x > 0, x, 0)", "unknown op or function 'where'", 10, "select(cond, a, b) is NumPy's where(cond, a, b)"),
            ("gather(x, n)", "unknown op or function 'gather'", 10,
             take ? "did you mean 'take'? (gradc's gather: gradc doc ops)" : "pick rows with a one-hot matrix: one_hot(indices, depth=n) @ x"),
            ("identity(3)", "unknown op or function 'identity'", 10, "an identity matrix is eye(n, dtype=…)"),
            ("clip(x, 0, 1)", "unknown op or function 'clip'", 10, "clip(x, lo, hi) is minimum(maximum(x, lo), hi)"),
            ("clamp(x, 0, 1)", "unknown op or function 'clamp'", 10, "clip(x, lo, hi) is minimum(maximum(x, lo), hi)"),
            ("concatenate(x, x, axis=0)", "unknown op or function 'concatenate'", 10, "did you mean 'concat'? (concat(a, b, axis=k))"),
            ("unsqueeze(x, 0)", "unknown op or function 'unsqueeze'", 10, "did you mean 'expand_dims'? (expand_dims(x, axis=k))"),
            ("astype(x)", "unknown op or function 'astype'", 10, "did you mean 'cast'? (cast(x, dtype=f64))"),
            ("cast(x, f32)", "use of undefined name 'f32'", 18, "'f32' is a dtype, not a value: give it as an attribute, as in cast(x, dtype=f32)"),
            // Python syntax.
            ("x ** 2", "expected an expression, found '*'", 13, "powers are x ^ y in gradc (Python's x ** y)"),
            ("x.T", "unexpected character '.'", 11, "transpose(x) is NumPy's x.T (transpose(x, perm=[…]) for another order)"),
            ("x.sum()", "unexpected character '.'", 11, "values have no methods: write sum(x, …) for x.sum(…)"),
            ("x.shape", "unexpected character '.'", 11, "types are static: the declared type of a value says its shape"),
            ("x + .5", "unexpected character '.'", 14, "write a digit before the point: 0.5"),
            // Edit distance over ops, functions and names in scope.
            ("softmx(x)", "unknown op or function 'softmx'", 10, "did you mean 'softmax'?"),
            ("sigmod(x)", "unknown op or function 'sigmod'", 10, "did you mean 'sigmoid'?"),
            ("sofmtax(x)", "unknown op or function 'sofmtax'", 10, "did you mean 'softmax'?"),
            ("G(x)", "unknown op or function 'G'", 10, nil),
            ("gg(x)", "unknown op or function 'gg'", 10, nil),
            ("ggg(x)", "unknown op or function 'ggg'", 10, nil),
            ("sqrtt(x)", "unknown op or function 'sqrtt'", 10, "did you mean 'sqrt'?"),
            ("x * wieghts", "use of undefined name 'wieghts'", 14, "did you mean 'weights'?"),
            ("x * hh", "use of undefined name 'hh'", 14, nil),
            ("x * pi", "use of undefined name 'pi'", 14, "there are no named constants: write 3.141592653589793"),
            ("x + relu", "use of undefined name 'relu'", 14, "'relu' is an op: call it, as in relu(…)"),
            ("x + g", "use of undefined name 'g'", 14, "'g' is a function: call it, as in g(…)"),
            ("frobnicate(x)", "unknown op or function 'frobnicate'", 10, nil),
            ("x + quux", "use of undefined name 'quux'", 14, nil),
        ]
        for c in cases {
            guard let d = parseError(c.body) else {
                XCTFail("\(c.body) parsed")
                continue
            }
            XCTAssertEqual(d.message, c.message, c.body)
            XCTAssertEqual(d.location, SourceLocation(line: 6, column: c.column), c.body)
            XCTAssertEqual(d.hint, c.hint, c.body)
            if let hint = c.hint { XCTAssertTrue(d.description.hasSuffix("^\nhint: \(hint)"), d.description) }
        }
    }

    /// A function defined below its caller: the message says so.
    func testFunctionDefinedLater() throws {
        XCTAssertThrowsError(try parseModule("func f(x: f64) {\n  return h(x)\n}\nfunc h(x: f64) {\n  return x\n}\n")) { error in
            let d = error as? Diagnostic
            XCTAssertEqual(d?.message, "no function named 'h'")
            XCTAssertEqual(d?.hint, "'h' is defined further down: a function can call only the functions defined above it")
        }
    }

    /// Every name of the NumPy / PyTorch table gets a hint, and ops and functions of the
    /// file are never "corrected" into themselves.
    func testEveryTableNameHasAHint() throws {
        let foreign = ["where", "gather", "take_along_axis", "index_select", "eye", "identity", "clip", "clamp", "mm",
                       "bmm", "einsum", "power", "multiply", "divide", "true_divide", "subtract", "negative", "absolute",
                       "concatenate", "cat", "unsqueeze", "permute", "view", "flatten", "ravel", "expand", "tile", "repeat",
                       "astype", "to", "float", "double", "amax", "reduce_max", "amin", "reduce_min", "reduce_sum",
                       "reduce_mean", "average", "cross_entropy", "nll_loss", "logistic", "expit", "zeros_like", "ones_like",
                       "full", "full_like", "greater", "less", "equal", "not_equal", "greater_equal", "less_equal"]
        for name in foreign {
            XCTAssertNotNil(Suggestions.unknownCallee(name, functions: []), name)
        }
        XCTAssertNil(Suggestions.closest(to: "softmax", among: ["softmax"]))
        XCTAssertEqual(Suggestions.closest(to: "logsumexpp", among: ["log", "logsumexp"]), "logsumexp")
    }
}
