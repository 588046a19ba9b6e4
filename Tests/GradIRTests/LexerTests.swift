@testable import GradIR
import XCTest

/// The streamed lexer and the symbol table: what the parser relies on.
final class LexerTests: XCTestCase {
    /// Tokens are lexed as the parser goes, but a lexing error anywhere in the file still wins
    /// over a parse or type error before it, as when the whole file was lexed first.
    func testLexingErrorAfterAParseErrorIsReported() {
        let cases: [(String, String, SourceLocation)] = [
            ("func f(x: f64) {\n  return y\n}\n$\n", "unexpected character '$'", SourceLocation(line: 4, column: 1)),
            ("func f(x: f64) {\n  return x +\n}\n# c\nfunc g(x: f64) {\n  return 1x\n}\n", "invalid number '1x'", SourceLocation(line: 6, column: 10)),
            ("func f(x: f64[2], y: f64[3]) {\n  return x + y\n}\n\u{0}", "unexpected NUL byte", SourceLocation(line: 4, column: 1)),
            ("func f(x: f64) {\n  return x\n}\nfunc g(y: f64) {\n  return y ! 2\n}\n", "unexpected character '!'", SourceLocation(line: 5, column: 12)),
            // A valid file that ends in a bad byte: the parser alone would accept the cut input.
            ("func f(x: f64) {\n  return x\n}\n`", "unexpected character '`'", SourceLocation(line: 4, column: 1)),
        ]
        for (source, message, location) in cases {
            XCTAssertThrowsError(try parseModule(source, file: "t.ir")) { e in
                XCTAssertEqual((e as? Diagnostic)?.message, message, source.debugDescription)
                XCTAssertEqual((e as? Diagnostic)?.location, location, source.debugDescription)
                XCTAssertNotNil((e as? Diagnostic)?.sourceLine, source.debugDescription)
            }
        }
        // Without a lexing error, the first parse error is reported.
        XCTAssertThrowsError(try parseModule("func f(x: f64) {\n  return y\n}\nfunc f(x: f64) {\n  return x\n}\n")) { e in
            XCTAssertEqual((e as? Diagnostic)?.message, "use of undefined name 'y'")
        }
    }

    /// Every distinct name gets its own symbol, the same one each time, whatever its digits
    /// (the hash adds a name's trailing number to the hash of the rest).
    func testSymbolsAreOnePerDistinctName() {
        var table = SymbolTable.keywords
        var rng = SeededGenerator(seed: 42)
        var names: [String] = Keyword.allCases.map(\.text)
        for i in 0..<3000 {
            names += ["x\(i)", "t\(i)", "%\(i)", "x0\(i)", "x\(i)0", "a\(i)b\(i)"]
            let letters = (0..<Int.random(in: 1...3, using: &rng)).map { _ in "abcxyz_".randomElement(using: &rng) ?? "a" }
            names.append(String(letters) + String(UInt64.random(in: 0...UInt64.max, using: &rng)))
        }
        names.append("x" + String(repeating: "9", count: 40))
        names.append("x" + String(repeating: "9", count: 41))
        var expected: [String: Symbol] = [:]
        for round in 0..<2 {
            for name in names {
                let bytes = Array(("(" + name + ")").utf8)
                guard let s = table.intern(bytes, 1, bytes.count - 1) else { return XCTFail("table full") }
                if let known = expected[name] {
                    XCTAssertEqual(s, known, "\(name), round \(round)")
                } else {
                    XCTAssertEqual(round, 0, name)
                    expected[name] = s
                }
                XCTAssertEqual(table.name(s), name)
            }
        }
        XCTAssertEqual(Set(expected.values).count, expected.count)
        for k in Keyword.allCases { XCTAssertEqual(expected[k.text], k.rawValue) }
    }

    /// Names that differ only in their digits or leading zeros bind different values.
    func testNumberedNamesStayDistinct() throws {
        var body = ""
        var sum = "x"
        for i in 0..<2000 {
            body += "  v\(i) = x + \(i)\n  v0\(i) = x * \(i)\n  %\(i) = v\(i) - v0\(i)\n"
            sum = i == 0 ? "%0" : "s\(i - 1)"
            body += "  s\(i) = \(sum) + %\(i)\n"
        }
        let f = try parseModule("func f(x: f64) {\n\(body)  return s1999, v07, v7, %7\n}\n").functions[0]
        let out = f.outputs.map { f.nodes[$0.value] }
        XCTAssertEqual(f.outputs.map(\.name), ["s1999", "v07", "v7", "out3"])
        XCTAssertEqual(out[1].op, .mul)
        XCTAssertEqual(out[2].op, .add)
        XCTAssertEqual(out[3].op, .sub)
        XCTAssertEqual(out[3].inputs, [f.outputs[2].value, f.outputs[1].value])
    }
}
