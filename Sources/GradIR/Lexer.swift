/// Tokens of the `.ir` language and the lexer that produces them from UTF-8 bytes.
///
/// The lexer works on bytes so that it can report invalid UTF-8 and NUL bytes with an exact
/// location. Newlines end statements, except inside `(…)` and `[…]` where they are skipped.
///
/// Made for large generated files: tokens are lexed as the parser asks for them
/// (`TokenStream`), never all held at once, and hold no strings. A token is its kind, its byte
/// range in the source, where it starts and, for a name, an interned `Symbol`: the parser
/// compares and looks up names as integers, and makes a `String` only where one is kept
/// (parameter and output names) or shown.

/// The identifier rule of the `.ir` language, stated once: `[A-Za-z_][A-Za-z0-9_]*`, ASCII
/// only. The lexer reads names by it; names that reach gradc by other routes (the function,
/// input and output names of a `.gbc` file, which become file paths and terminal output) are
/// checked against it.
public enum Identifier {
    /// The rule as a regular expression, for messages.
    public static let pattern = "[A-Za-z_][A-Za-z0-9_]*"
    /// `A-Z`, `a-z` (setting bit 5 maps `A-Z` onto `a-z`; wrapping makes the rest large) or `_`.
    @inline(__always) static func isStart(_ b: UInt8) -> Bool { (b | 0x20) &- 0x61 < 26 || b == 0x5F }
    @inline(__always) static func isDigit(_ b: UInt8) -> Bool { b &- 0x30 < 10 }
    @inline(__always) static func isContinuation(_ b: UInt8) -> Bool { isStart(b) || isDigit(b) }

    /// Whether the whole of `s` is one identifier.
    public static func isValid(_ s: String) -> Bool {
        var bytes = s.utf8.makeIterator()
        guard let first = bytes.next(), isStart(first) else { return false }
        while let b = bytes.next() {
            guard isContinuation(b) else { return false }
        }
        return true
    }

    /// `s` in quotes for a message: printable ASCII as is, every other character as `\u{…}`,
    /// at most 40 characters (a name from a file must not print forged lines or terminal
    /// escapes).
    public static func quoted(_ s: String) -> String {
        var out = "'"
        for (k, c) in s.unicodeScalars.enumerated() {
            if k == 40 {
                out += "…"
                break
            }
            let plain = (0x20...0x7E).contains(c.value) && c != "'" && c != "\\"
            out += plain ? String(c) : "\\u{\(String(c.value, radix: 16, uppercase: true))}"
        }
        return out + "'"
    }
}

// MARK: Tokens

/// The kinds of token of the `.ir` language.
enum TokenKind: UInt8, Sendable {
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

/// An interned name: its number in a `SymbolTable`.
typealias Symbol = Int32

/// One token. (The fields are ordered widest first, so a token takes 40 bytes.)
struct Token: Sendable {
    /// The token's text is `source[start..<end]`.
    var start: Int
    var end: Int
    var location: SourceLocation
    /// The interned text of an identifier or a `%`-name; -1 for other kinds.
    var symbol: Symbol
    /// The one or two bytes of a punctuation token (`Token.punctCode`); 0 for other kinds.
    var punct: UInt16
    var kind: TokenKind

    @inline(__always)
    func isPunct(_ p: StaticString) -> Bool { kind == .punct && punct == Token.punctCode(p) }
    @inline(__always)
    func isKeyword(_ k: Keyword) -> Bool { kind == .identifier && symbol == k.rawValue }

    /// Punctuation (one or two ASCII bytes) as a number: its first byte, plus its second byte
    /// times 256.
    @inline(__always)
    static func punctCode(_ p: StaticString) -> UInt16 {
        let first = UInt16(p.utf8Start[0])
        return p.utf8CodeUnitCount == 1 ? first : first | UInt16(p.utf8Start[1]) << 8
    }
}

/// Names the parser recognizes. They are interned before anything else, so a keyword's
/// symbol is its raw value.
enum Keyword: Symbol, CaseIterable, Sendable {
    // Reserved: they cannot name a value, a parameter or a function.
    case `func`, `return`, `as`, `true`, `false`, inf, nan
    // Element types.
    case f32, f64, i64, bool
    // Callees the parser handles itself.
    case grad, zeros, ones, fill

    var text: String {
        switch self {
        case .func: return "func"
        case .return: return "return"
        case .as: return "as"
        case .true: return "true"
        case .false: return "false"
        case .inf: return "inf"
        case .nan: return "nan"
        case .f32: return "f32"
        case .f64: return "f64"
        case .i64: return "i64"
        case .bool: return "bool"
        case .grad: return "grad"
        case .zeros: return "zeros"
        case .ones: return "ones"
        case .fill: return "fill"
        }
    }

    var isReserved: Bool { rawValue <= Keyword.nan.rawValue }
}

// MARK: Symbols

/// Interns names: every distinct identifier or `%`-name of a source gets a `Symbol`, the
/// keywords first, so that the parser compares and looks names up as integers.
///
/// A chained hash table over the names' bytes, with a hash that keeps numbered names close:
/// the hash of `x17` is the hash of `x` plus 17. Generated code, and the printer's `%17`,
/// use runs of such names, so their lookups touch neighbouring memory instead of scattering
/// over a table of hundreds of thousands of names (a cache and TLB miss each).
struct SymbolTable: Sendable {
    /// The bytes of every name, back to back: symbol `s` is `bytes[offsets[s]..<offsets[s + 1]]`.
    private var bytes: [UInt8] = []
    private var offsets: [Int] = [0]
    /// The hash of each symbol, and the next symbol in its bucket (-1: none).
    private var hashes: [UInt32] = []
    private var nextInBucket: [Symbol] = []
    /// The first symbol of each bucket (-1: empty); a power of two of them, at least one per name.
    private var buckets = [Symbol](repeating: -1, count: 64)

    /// A table of the keywords, to start from.
    static let keywords: SymbolTable = {
        var table = SymbolTable()
        for k in Keyword.allCases {
            let text = Array(k.text.utf8)
            _ = table.intern(text, 0, text.count)
        }
        return table
    }()

    private init() {}

    /// The number of symbols.
    var count: Int { hashes.count }

    /// The text of a symbol (made when asked for: most names never need a `String`).
    func name(_ s: Symbol) -> String {
        String(decoding: bytes[offsets[Int(s)]..<offsets[Int(s) + 1]], as: UTF8.self)
    }

    /// The symbol of `source[start..<end]`, added if new; `nil` once `Symbol.max` names exist.
    mutating func intern(_ source: [UInt8], _ start: Int, _ end: Int) -> Symbol? {
        let hash = SymbolTable.hash(source, start, end)
        var s = buckets[Int(hash) & (buckets.count - 1)]
        while s >= 0 {
            if hashes[Int(s)] == hash, equals(Int(s), source, start, end) { return s }
            s = nextInBucket[Int(s)]
        }
        guard count < Int(Symbol.max) else { return nil }
        let symbol = Symbol(count)
        for i in start..<end { bytes.append(source[i]) }
        offsets.append(bytes.count)
        hashes.append(hash)
        nextInBucket.append(-1)
        if count > buckets.count {
            buckets = [Symbol](repeating: -1, count: 2 * buckets.count)
            for s in 0..<count { link(Symbol(s)) }
        } else {
            link(symbol)
        }
        return symbol
    }

    /// FNV-1a of the name without its trailing digits, plus the number they spell.
    private static func hash(_ source: [UInt8], _ start: Int, _ end: Int) -> UInt32 {
        var h: UInt32 = 0x811c_9dc5
        var prefix = h
        var number: UInt32 = 0
        for i in start..<end {
            let b = source[i]
            h = (h ^ UInt32(b)) &* 0x0100_0193
            if b >= 0x30 && b <= 0x39 {
                number = number &* 10 &+ UInt32(b - 0x30)
            } else {
                prefix = h
                number = 0
            }
        }
        return prefix &+ number
    }

    private mutating func link(_ s: Symbol) {
        let b = Int(hashes[Int(s)]) & (buckets.count - 1)
        nextInBucket[Int(s)] = buckets[b]
        buckets[b] = s
    }

    private func equals(_ s: Int, _ source: [UInt8], _ start: Int, _ end: Int) -> Bool {
        let from = offsets[s]
        guard offsets[s + 1] - from == end - start else { return false }
        for k in 0..<(end - start) where bytes[from + k] != source[start + k] { return false }
        return true
    }
}

// MARK: Byte-level checks

/// The byte offset of the first invalid UTF-8 sequence in `bytes`, or `nil` when it is valid.
func firstInvalidUTF8Offset(_ bytes: [UInt8]) -> Int? {
    var i = 0
    let n = bytes.count
    while i < n {
        // Eight ASCII bytes at a time.
        if i + 8 <= n, bytes.withUnsafeBytes({ $0.loadUnaligned(fromByteOffset: i, as: UInt64.self) }) & 0x8080_8080_8080_8080 == 0 {
            i += 8
            continue
        }
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

/// The tokens of a source, lexed as the parser asks for them, with one token of lookahead.
///
/// A lexing error does not stop the parser at once: the stream records it and ends (gives
/// `.eof`), and `lexingError()` reports it in place of whatever the parser made of the cut
/// input. So the error reported for a file with an invalid byte is that byte, wherever it is,
/// as if the whole file had been lexed before parsing.
///
/// A class, so that the parser holding it stays small: debug builds copy the parser into a
/// stack slot at each call of one of its non-mutating methods, and the parser's recursion
/// limit (`ParseLimits.maxDepth`) must fit in the stack of a debug build too.
final class TokenStream {
    // Only the parser that owns the stream uses it, so the runtime exclusivity checks of class
    // properties are not needed (they cost ~5% of parsing).
    @exclusivity(unchecked) private var lexer: Lexer
    @exclusivity(unchecked) private(set) var current: Token
    @exclusivity(unchecked) private(set) var next: Token
    /// The lexing error that ended the stream.
    private var error: Diagnostic?

    init(_ bytes: [UInt8]) {
        lexer = Lexer(bytes: bytes)
        let none = Token(start: 0, end: 0, location: SourceLocation(line: 1, column: 1), symbol: -1, punct: 0, kind: .eof)
        current = none
        next = none
        current = lex()
        next = current.kind == .eof ? current : lex()
    }

    /// Moves to the next token; at the end, stays at `.eof`.
    func advance() {
        current = next
        if next.kind != .eof { next = lex() }
    }

    /// The first lexing error of the whole source: lexes the rest of it if need be.
    func lexingError() -> Diagnostic? {
        while next.kind != .eof { next = lex() }
        return error
    }

    var bytes: [UInt8] { lexer.bytes }

    /// The text of a name.
    func name(_ symbol: Symbol) -> String { lexer.symbols.name(symbol) }

    /// The exact text of a token.
    func text(_ t: Token) -> String { lexer.text(t) }

    /// The next token; never called again once it gave `.eof`.
    private func lex() -> Token {
        do {
            return try lexer.next()
        } catch {
            self.error = error
            return Token(start: 0, end: 0, location: error.location, symbol: -1, punct: 0, kind: .eof)
        }
    }

    /// Whether `func NAME` appears anywhere in the source (before any lexing error). Lexes
    /// the source again: only error messages need it.
    func declaresFunction(named name: String) -> Bool {
        var lexer = Lexer(bytes: bytes)
        var previous: Token? = nil
        while let t = try? lexer.next(), t.kind != .eof {
            if let p = previous, p.isKeyword(.func), t.kind == .identifier, lexer.symbols.name(t.symbol) == name {
                return true
            }
            previous = t
        }
        return false
    }
}

/// Turns UTF-8 bytes into tokens. Throws on bytes that cannot start a token.
struct Lexer {
    let bytes: [UInt8]
    private var pos = 0
    private var line = 1
    private var column = 1
    /// Depth of open `(` and `[`: newlines inside them are not statement ends.
    private var groupDepth = 0
    private var lastEnd = SourceLocation(line: 1, column: 1)
    private(set) var symbols = SymbolTable.keywords

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The exact text of a token.
    func text(_ t: Token) -> String {
        String(decoding: bytes[t.start..<t.end], as: UTF8.self)
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

    /// Skips the ASCII bytes that satisfy `accept` (one column each).
    private mutating func skipASCII(while accept: (UInt8) -> Bool) {
        var i = pos
        while i < bytes.count, accept(bytes[i]) { i += 1 }
        column += i - pos
        pos = i
    }

    private static func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D }

    private static func isIdentStart(_ b: UInt8) -> Bool { Identifier.isStart(b) }
    private static func isDigit(_ b: UInt8) -> Bool { Identifier.isDigit(b) }
    private static func isIdentChar(_ b: UInt8) -> Bool { Identifier.isContinuation(b) }

    private func text(from: Int) -> String {
        String(decoding: bytes[from..<pos], as: UTF8.self)
    }

    private mutating func make(_ kind: TokenKind, _ start: Int, _ loc: SourceLocation, punct: UInt16 = 0) -> Token {
        lastEnd = here
        return Token(start: start, end: pos, location: loc, symbol: -1, punct: punct, kind: kind)
    }

    private mutating func name(_ kind: TokenKind, _ start: Int, _ loc: SourceLocation) throws(Diagnostic) -> Token {
        guard let symbol = symbols.intern(bytes, start, pos) else {
            throw Diagnostic(.other("more than \(Symbol.max) distinct names"), at: loc)
        }
        var t = make(kind, start, loc)
        t.symbol = symbol
        return t
    }

    mutating func next() throws(Diagnostic) -> Token {
        // Skip blanks, comments and (inside groups) newlines.
        while let b = peek() {
            if Lexer.isBlank(b) {
                skipASCII(while: Lexer.isBlank)
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
            return Token(start: start, end: start, location: lastEnd, symbol: -1, punct: 0, kind: .eof)
        }
        if b == 0x0A {
            advance()
            return Token(start: start, end: pos, location: loc, symbol: -1, punct: 0, kind: .newline)
        }
        if b == 0 { throw Diagnostic(.nulByte, at: loc) }
        if Lexer.isIdentStart(b) {
            skipASCII(while: Lexer.isIdentChar)
            return try name(.identifier, start, loc)
        }
        if b == 0x25 {  // '%'
            advance()
            skipASCII { Lexer.isIdentChar($0) || $0 == 0x2E }
            if pos == start + 1 { throw Diagnostic(.unexpectedCharacter("%"), at: loc) }
            return try name(.percentName, start, loc)
        }
        if Lexer.isDigit(b) {
            return try number(start, loc)
        }
        if b >= 0x80 {
            // A non-ASCII scalar outside a comment: report it whole.
            advance()
            while let c = peek(), c & 0xC0 == 0x80 { advance() }
            throw Diagnostic(.unexpectedCharacter(text(from: start)), at: loc)
        }
        advance()
        // `==`, `!=`, `<=`, `>=` and `->`.
        let second: UInt8? = switch b {
        case 0x3D, 0x21, 0x3C, 0x3E: 0x3D
        case 0x2D: 0x3E
        default: nil
        }
        if let second, peek() == second {
            advance()
            return make(.punct, start, loc, punct: UInt16(b) | UInt16(second) << 8)
        }
        switch b {
        case 0x28, 0x5B:  // ( [
            groupDepth += 1
        case 0x29, 0x5D:  // ) ]
            groupDepth = max(0, groupDepth - 1)
        case 0x7B, 0x7D, 0x2C, 0x3A, 0x3B, 0x3D, 0x2B, 0x2D, 0x2A, 0x2F, 0x5E, 0x40, 0x3C, 0x3E:
            break
        default:
            let shown = b < 0x20 || b == 0x7F ? "\\u{\(String(b, radix: 16))}" : text(from: start)
            throw Diagnostic(.unexpectedCharacter(shown), at: loc)
        }
        return make(.punct, start, loc, punct: UInt16(b))
    }

    /// `digits ('.' digits)? ([eE] [+-]? digits)?`; letters glued to it make it invalid.
    private mutating func number(_ start: Int, _ loc: SourceLocation) throws(Diagnostic) -> Token {
        var valid = true
        skipASCII(while: Lexer.isDigit)
        if peek() == 0x2E {
            advance()
            let digitsStart = pos
            skipASCII(while: Lexer.isDigit)
            if pos == digitsStart { valid = false }
        }
        if let e = peek(), e == 0x65 || e == 0x45 {
            advance()
            if let s = peek(), s == 0x2B || s == 0x2D { advance() }
            let digitsStart = pos
            skipASCII(while: Lexer.isDigit)
            if pos == digitsStart { valid = false }
        }
        let glued = pos
        skipASCII { Lexer.isIdentChar($0) || $0 == 0x2E }
        if pos != glued { valid = false }
        if !valid { throw Diagnostic(.invalidNumber(text(from: start)), at: loc) }
        return make(.number, start, loc)
    }
}
