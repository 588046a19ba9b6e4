/// Tokens of the `.ir` language and the lexer that produces them from UTF-8 bytes.
///
/// The lexer works on bytes so that it can report invalid UTF-8 and NUL bytes with an exact
/// location. Newlines end statements, except inside `(…)` and `[…]` where they are skipped.

// MARK: Tokens

/// The kinds of token of the `.ir` language.
enum TokenKind: Hashable, Sendable {
    /// `[A-Za-z_][A-Za-z0-9_]*` (keywords are identifiers too; the parser tells them apart).
    case identifier
    /// `%[A-Za-z0-9_.]+`
    case percentName
    /// `1`, `1.5`, `1e-3` (no sign; `inf` and `nan` are identifiers).
    case number
    /// Operators and punctuation: `( ) [ ] { } , : ; = + - * / ^ @ == != < <= > >= ->`.
    case punct
    case newline
    case eof
}

/// One token: its kind, its exact text and where it starts.
struct Token: Sendable {
    var kind: TokenKind
    var text: String
    var location: SourceLocation

    func isPunct(_ p: String) -> Bool { kind == .punct && text == p }
    func isIdentifier(_ s: String) -> Bool { kind == .identifier && text == s }

    /// How the token is named in "expected …, found …" messages.
    var quoted: String {
        switch kind {
        case .newline: return "end of line"
        case .eof: return "end of file"
        default: return "'\(text)'"
        }
    }
}

// MARK: Byte-level checks

/// The byte offset of the first invalid UTF-8 sequence in `bytes`, or `nil` when it is valid.
func firstInvalidUTF8Offset(_ bytes: [UInt8]) -> Int? {
    var i = 0
    let n = bytes.count
    while i < n {
        let b = bytes[i]
        if b < 0x80 {
            i += 1
            continue
        }
        var need = 0
        var lower: UInt8 = 0x80
        var upper: UInt8 = 0xBF
        switch b {
        case 0xC2...0xDF: need = 1
        case 0xE0: need = 2; lower = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: need = 2
        case 0xED: need = 2; upper = 0x9F
        case 0xF0: need = 3; lower = 0x90
        case 0xF1...0xF3: need = 3
        case 0xF4: need = 3; upper = 0x8F
        default: return i
        }
        if i + need >= n { return i }
        for k in 1...need {
            let c = bytes[i + k]
            let lo: UInt8 = k == 1 ? lower : 0x80
            let hi: UInt8 = k == 1 ? upper : 0xBF
            if c < lo || c > hi { return i }
        }
        i += need + 1
    }
    return nil
}

/// The 1-based line and column (counted in Unicode scalars) of byte `offset`.
func sourceLocation(ofByte offset: Int, in bytes: [UInt8]) -> SourceLocation {
    var line = 1
    var column = 1
    var i = 0
    let end = min(offset, bytes.count)
    while i < end {
        let b = bytes[i]
        if b == 0x0A {
            line += 1
            column = 1
        } else if b & 0xC0 != 0x80 {
            column += 1
        }
        i += 1
    }
    return SourceLocation(line: line, column: column)
}

// MARK: Lexer

/// Turns UTF-8 bytes into tokens. Throws on bytes that cannot start a token.
struct Lexer {
    private let bytes: [UInt8]
    private var pos = 0
    private var line = 1
    private var column = 1
    /// Depth of open `(` and `[`: newlines inside them are not statement ends.
    private var groupDepth = 0
    private var lastEnd = SourceLocation(line: 1, column: 1)

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Lexes the whole input; the last token is `.eof`.
    static func tokenize(_ bytes: [UInt8]) throws(Diagnostic) -> [Token] {
        var lexer = Lexer(bytes: bytes)
        var tokens: [Token] = []
        while true {
            let t = try lexer.next()
            tokens.append(t)
            if t.kind == .eof { return tokens }
        }
    }

    private var here: SourceLocation { SourceLocation(line: line, column: column) }

    private func peek(_ k: Int = 0) -> UInt8? {
        let i = pos + k
        return i < bytes.count ? bytes[i] : nil
    }

    private mutating func advance() {
        guard pos < bytes.count else { return }
        let b = bytes[pos]
        pos += 1
        if b == 0x0A {
            line += 1
            column = 1
        } else if b & 0xC0 != 0x80 {
            column += 1
        }
    }

    private static func isIdentStart(_ b: UInt8) -> Bool {
        (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F
    }
    private static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
    private static func isIdentChar(_ b: UInt8) -> Bool { isIdentStart(b) || isDigit(b) }

    private func text(_ from: Int) -> String {
        String(decoding: bytes[from..<pos], as: UTF8.self)
    }

    private mutating func make(_ kind: TokenKind, _ start: Int, _ loc: SourceLocation) -> Token {
        lastEnd = here
        return Token(kind: kind, text: text(start), location: loc)
    }

    mutating func next() throws(Diagnostic) -> Token {
        // Skip blanks, comments and (inside groups) newlines.
        while let b = peek() {
            if b == 0x20 || b == 0x09 || b == 0x0D {
                advance()
            } else if b == 0x23 {  // '#'
                while let c = peek(), c != 0x0A {
                    if c == 0 { throw Diagnostic(.nulByte, at: here) }
                    advance()
                }
            } else if b == 0x0A && groupDepth > 0 {
                advance()
            } else {
                break
            }
        }
        let start = pos
        let loc = here
        guard let b = peek() else {
            return Token(kind: .eof, text: "", location: lastEnd)
        }
        if b == 0x0A {
            advance()
            return Token(kind: .newline, text: "\n", location: loc)
        }
        if b == 0 { throw Diagnostic(.nulByte, at: loc) }
        if Lexer.isIdentStart(b) {
            while let c = peek(), Lexer.isIdentChar(c) { advance() }
            return make(.identifier, start, loc)
        }
        if b == 0x25 {  // '%'
            advance()
            while let c = peek(), Lexer.isIdentChar(c) || c == 0x2E { advance() }
            if pos == start + 1 { throw Diagnostic(.unexpectedCharacter("%"), at: loc) }
            return make(.percentName, start, loc)
        }
        if Lexer.isDigit(b) {
            return try number(start, loc)
        }
        if b >= 0x80 {
            // A non-ASCII scalar outside a comment: report it whole.
            advance()
            while let c = peek(), c & 0xC0 == 0x80 { advance() }
            throw Diagnostic(.unexpectedCharacter(text(start)), at: loc)
        }
        advance()
        let two: [UInt8: UInt8] = [0x3D: 0x3D, 0x21: 0x3D, 0x3C: 0x3D, 0x3E: 0x3D, 0x2D: 0x3E]
        if let second = two[b], peek() == second {
            advance()
            return make(.punct, start, loc)
        }
        switch b {
        case 0x28, 0x5B:  // ( [
            groupDepth += 1
        case 0x29, 0x5D:  // ) ]
            groupDepth = max(0, groupDepth - 1)
        case 0x7B, 0x7D, 0x2C, 0x3A, 0x3B, 0x3D, 0x2B, 0x2D, 0x2A, 0x2F, 0x5E, 0x40, 0x3C, 0x3E:
            break
        default:
            let shown = b < 0x20 || b == 0x7F ? "\\u{\(String(b, radix: 16))}" : text(start)
            throw Diagnostic(.unexpectedCharacter(shown), at: loc)
        }
        return make(.punct, start, loc)
    }

    /// `digits ('.' digits)? ([eE] [+-]? digits)?`; letters glued to it make it invalid.
    private mutating func number(_ start: Int, _ loc: SourceLocation) throws(Diagnostic) -> Token {
        var valid = true
        while let c = peek(), Lexer.isDigit(c) { advance() }
        if peek() == 0x2E {
            advance()
            var digits = 0
            while let c = peek(), Lexer.isDigit(c) {
                advance()
                digits += 1
            }
            if digits == 0 { valid = false }
        }
        if let e = peek(), e == 0x65 || e == 0x45 {
            advance()
            if let s = peek(), s == 0x2B || s == 0x2D { advance() }
            var digits = 0
            while let c = peek(), Lexer.isDigit(c) {
                advance()
                digits += 1
            }
            if digits == 0 { valid = false }
        }
        while let c = peek(), Lexer.isIdentChar(c) || c == 0x2E {
            advance()
            valid = false
        }
        if !valid { throw Diagnostic(.invalidNumber(text(start)), at: loc) }
        return make(.number, start, loc)
    }
}
