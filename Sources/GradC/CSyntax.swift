import GradRuntime
// Small pieces of C syntax: types, literals, the text buffer.

/// C spelling of a dtype's element type in buffers.
func cType(_ d: DType) -> String {
    switch d {
    case .f32: return "float"
    case .f64: return "double"
    case .i64: return "int64_t"
    case .bool: return "uint8_t"
    }
}

/// C type of a value held in a local variable (booleans compute as `int` 0/1).
func cLocalType(_ d: DType) -> String {
    d == .bool ? "int" : cType(d)
}

/// An exact C literal of `v` in dtype `d` (hexadecimal floating point for reals, so the
/// compiler reads back exactly the same number).
func cLiteral(_ v: Double, _ d: DType) -> String {
    switch d {
    case .f64:
        return hexFloat(v, suffix: "")
    case .f32:
        return hexFloat(Double(Float(v)), suffix: "f")
    case .i64:
        let i = ScalarMath.toInt64(v)
        return cInt64Literal(i)
    case .bool:
        return v != 0 ? "1" : "0"
    }
}

func cInt64Literal(_ i: Int64) -> String {
    if i == Int64.min { return "INT64_MIN" }
    return "INT64_C(\(i))"
}

/// `0x1.8p+1` style text of `v`; `NAN`, `INFINITY` for the specials (float-typed macros, exact
/// in both precisions).
func hexFloat(_ v: Double, suffix: String) -> String {
    if v.isNaN { return v.sign == .minus ? "(-NAN)" : "NAN" }
    if v.isInfinite { return v < 0 ? "(-INFINITY)" : "INFINITY" }
    let sign = v.sign == .minus ? "-" : ""
    if v == 0 { return "(\(sign)0x0p+0\(suffix))" }
    let bits = v.bitPattern
    let rawExponent = Int((bits >> 52) & 0x7ff)
    let fraction = bits & ((1 << 52) - 1)
    var digits = String(fraction, radix: 16)
    digits = String(repeating: "0", count: 13 - digits.count) + digits
    while digits.hasSuffix("0") { digits.removeLast() }
    let lead = rawExponent == 0 ? "0" : "1"
    let exponent = rawExponent == 0 ? -1022 : rawExponent - 1023
    let body = digits.isEmpty ? lead : lead + "." + digits
    let e = exponent >= 0 ? "+\(exponent)" : "\(exponent)"
    return "\(sign)(0x\(body)p\(e)\(suffix))"
}

/// A growing C source text with indentation.
struct CWriter {
    var text = ""
    var level = 0

    mutating func line(_ s: String) {
        if s.isEmpty {
            text += "\n"
            return
        }
        text += String(repeating: "    ", count: level)
        text += s
        text += "\n"
    }

    mutating func open(_ s: String) {
        line(s.isEmpty ? "{" : s + " {")
        level += 1
    }

    mutating func close(_ suffix: String = "") {
        level -= 1
        line("}" + suffix)
    }
}

/// A C comment's text: anything outside `[A-Za-z0-9_ .,:=%()\[\]@+-]` becomes `_`, so no
/// user text and no `*/` can ever end up in a comment.
func cCommentSafe(_ s: String) -> String {
    var out = ""
    for u in s.unicodeScalars {
        switch u {
        case "a"..."z", "A"..."Z", "0"..."9", "_", " ", ".", ",", ":", "=", "%", "(", ")", "[", "]", "@", "+", "-":
            out.unicodeScalars.append(u)
        default:
            out += "_"
        }
    }
    return out
}

// MARK: - Exported names

/// Longest exported C name accepted (a readable limit; C itself guarantees 31 significant
/// characters of an external name, every current linker far more).
public let maxCNameLength = 64

/// Why `name` cannot name an exported C function (with its `name_…` metadata), or nil when
/// it can: an ASCII identifier of at most `maxCNameLength` characters that is no C or C++
/// keyword, does not start with `_` nor contain `__` (names reserved to the implementation)
/// and is neither gradc's (`gradc_…`, `GRADC_…`: internal and ABI names) nor the C
/// library's (`cLibraryNames`, `isReservedForTheLibrary`): an exported function of that name
/// would clash with a declaration in the same translation unit.
public func cNameProblem(_ name: String) -> String? {
    guard Identifier.isValid(name) else { return "it is not an identifier (\(Identifier.pattern))" }
    if name.utf8.count > maxCNameLength { return "it is longer than \(maxCNameLength) characters" }
    if name.hasPrefix("_") || name.contains("__") { return "names starting with _ or containing __ are reserved in C and C++" }
    if cKeywords.contains(name) { return "it is a C or C++ keyword or reserved name" }
    if name.hasPrefix("gradc_") || name.hasPrefix("GRADC_") { return "names starting with gradc_ or GRADC_ are gradc's own" }
    if cLibraryNames.contains(name) || isReservedForTheLibrary(name) {
        return "it is (or is reserved for) a name of the C library headers the code includes (math.h, stdlib.h, string.h, stdint.h, pthread.h)"
    }
    return nil
}

/// Names the C library headers of generated code declare (C11 and the POSIX and glibc
/// additions of their default feature set; pthread.h brings time.h and sched.h): a function
/// of that name would conflict with their declaration. Not every macro of every libc is
/// here; the compiler reports any other clash (see also `isReservedForTheLibrary`).
let cLibraryNames: Set<String> = {
    let math = """
        acos asin atan atan2 cos sin tan acosh asinh atanh cosh sinh tanh exp exp2 expm1 exp10 pow10 frexp ilogb \
        ldexp log log10 log1p log2 logb modf scalbn scalbln scalb cbrt fabs hypot pow sqrt erf erfc lgamma tgamma \
        gamma ceil floor nearbyint rint lrint llrint round lround llround trunc fmod remainder remquo drem copysign \
        nan nextafter nexttoward fdim fmax fmin fma significand finite j0 j1 jn y0 y1 yn sincos lgamma_r isinf isnan
        """
    let mathMacros = """
        fpclassify isfinite isnormal signbit isgreater isgreaterequal isless islessequal islessgreater isunordered \
        signgam NAN INFINITY HUGE_VAL HUGE_VALF HUGE_VALL FP_NAN FP_INFINITE FP_ZERO FP_SUBNORMAL FP_NORMAL \
        INT8_C INT16_C INT32_C INT64_C UINT8_C UINT16_C UINT32_C UINT64_C INTMAX_C UINTMAX_C INT64_MIN INT64_MAX \
        SIZE_MAX PTRDIFF_MIN PTRDIFF_MAX NULL EXIT_SUCCESS EXIT_FAILURE RAND_MAX
        """
    let stdlib = """
        atof atoi atol atoll strtod strtof strtold strtol strtoll strtoul strtoull strtoq strtouq rand srand rand_r \
        random srandom initstate setstate drand48 erand48 lrand48 nrand48 mrand48 jrand48 srand48 seed48 lcong48 \
        aligned_alloc calloc free malloc realloc reallocarray posix_memalign valloc memalign alloca abort atexit \
        at_quick_exit on_exit exit _Exit quick_exit getenv secure_getenv setenv unsetenv clearenv putenv system \
        bsearch qsort abs labs llabs div ldiv lldiv mblen mbtowc wctomb mbstowcs wcstombs mkstemp mkstemps mkdtemp \
        mktemp realpath a64l l64a ecvt fcvt gcvt qecvt qfcvt qgcvt getsubopt grantpt posix_openpt ptsname \
        unlockpt getloadavg arc4random arc4random_buf arc4random_uniform
        """
    let string = """
        strcpy strncpy strcat strncat strcmp strncmp strcoll strxfrm strchr strrchr strspn strcspn strpbrk strstr \
        strtok strlen strerror memcpy memmove memset memcmp memchr stpcpy stpncpy basename explicit_bzero \
        bcmp bcopy bzero index rindex ffs ffsl ffsll
        """
    let time = """
        clock difftime mktime time asctime ctime gmtime localtime strftime timespec_get nanosleep tzset daylight \
        timezone tzname gmtime_r localtime_r asctime_r ctime_r strptime timegm timelocal dysize stime getdate
        """
    let words = [math, mathMacros, stdlib, string, time].joined(separator: " ").split(whereSeparator: { $0 == " " || $0 == "\n" })
    var names = Set(words.map(String.init))
    for m in math.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
        names.insert(m + "f")
        names.insert(m + "l")
    }
    return names
}()

/// C11 7.31 reserves `str`, `mem` and `wcs` followed by a lowercase letter for future
/// library functions; POSIX reserves names ending in `_t` and the `pthread_`, `sched_`,
/// `clock_` and `timer_` families of the headers pthread.h brings in.
func isReservedForTheLibrary(_ name: String) -> Bool {
    for p in ["str", "mem", "wcs"] where name.hasPrefix(p) {
        if let next = name.dropFirst(3).first, next.isLowercase { return true }
    }
    return name.hasSuffix("_t") || ["pthread_", "sched_", "clock_", "timer_"].contains { name.hasPrefix($0) }
}

/// The names an exported function `name` adds to the C namespace: the function, its
/// metadata functions and the header's compile-time constants.
func cExportedNames(_ name: String) -> [String] {
    [name] + cMetadataSuffixes.map { name + $0 } + cConstantSuffixes.map { name + $0 }
}

let cMetadataSuffixes = ["_abi_version", "_num_inputs", "_num_outputs", "_workspace_bytes", "_input", "_output", "_output_pattern"]
let cConstantSuffixes = ["_NUM_INPUTS", "_NUM_OUTPUTS", "_WORKSPACE_BYTES"]

/// C11 and C++20 keywords and the alternative operator spellings of C++ (the header is
/// included from both languages).
let cKeywords: Set<String> = [
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern",
    "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed",
    "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while",
    "alignas", "alignof", "and", "and_eq", "asm", "bitand", "bitor", "bool", "catch", "char8_t", "char16_t",
    "char32_t", "class", "compl", "concept", "consteval", "constexpr", "constinit", "const_cast", "co_await",
    "co_return", "co_yield", "decltype", "delete", "dynamic_cast", "explicit", "export", "false", "friend",
    "mutable", "namespace", "new", "noexcept", "not", "not_eq", "nullptr", "operator", "or", "or_eq", "private",
    "protected", "public", "reinterpret_cast", "requires", "static_assert", "static_cast", "template", "this",
    "thread_local", "throw", "true", "try", "typeid", "typename", "using", "virtual", "wchar_t", "xor", "xor_eq",
    "NULL", "main",
]

// MARK: - Data tables

/// The definition of `static const` integers `NAME.v[0 ..< values.count]` (`int64_t` when
/// `wide`, else `int32_t`). A long table is written as its little-endian bytes in one string
/// literal, which `cc` reads several times faster than an initializer list of numbers.
func cIntegerTable(name: String, values: [Int], wide: Bool) -> String {
    let t = wide ? "int64_t" : "int32_t"
    let size = wide ? 8 : 4
    let n = max(values.count, 1)
    if values.count <= 256 {
        let list = values.isEmpty ? "0" : values.map { "\($0)" }.joined(separator: ", ")
        return "static const union { unsigned char bytes[\(n * size)]; \(t) v[\(n)]; } \(name) = { .v = { \(list) } };\n"
    }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(values.count * size)
    for v in values {
        let u = UInt64(bitPattern: Int64(v))
        for b in 0..<size { bytes.append(UInt8(truncatingIfNeeded: u >> (8 * b))) }
    }
    return cByteUnion(name: name, memberType: t, count: n, bytes: bytes)
}

/// `static const union { unsigned char bytes[B]; T v[count]; } NAME = { "…" };` with `bytes`
/// written as octal escapes, 64 bytes per line; refuses to compile on a big-endian target.
func cByteUnion(name: String, memberType: String, count: Int, bytes: [UInt8]) -> String {
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 4 + bytes.count / 16 + 256)
    func append(_ s: String) { out.append(contentsOf: s.utf8) }
    append("#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__\n#error \"gradc: this table is little-endian\"\n#endif\n")
    // One byte more than the data for the literal's terminating NUL (no compiler warns).
    append("static const union { unsigned char bytes[\(bytes.count + 1)]; \(memberType) v[\(count)]; } \(name) = {\n")
    let backslash = UInt8(ascii: "\\"), quote = UInt8(ascii: "\""), zero = UInt8(ascii: "0")
    var i = 0
    while i < bytes.count {
        out.append(contentsOf: [32, 32, 32, 32, quote])
        for b in bytes[i..<min(i + 64, bytes.count)] {
            out.append(backslash)
            if b >= 64 { out.append(zero + b / 64) }
            if b >= 8 { out.append(zero + (b / 8) % 8) }
            out.append(zero + b % 8)
        }
        out.append(quote)
        out.append(10)
        i += 64
    }
    append("};\n")
    return String(decoding: out, as: UTF8.self)
}

// MARK: - Scanning generated code

/// `code` with every occurrence of `token` replaced by `replacement`, in one pass over the
/// UTF-8 bytes (Foundation's search is far slower on the megabytes of a large model's C).
func replacingToken(_ token: String, with replacement: String, in code: String) -> String {
    let t = Array(token.utf8), r = Array(replacement.utf8)
    guard let first = t.first else { return code }
    var out: [UInt8] = []
    let bytes = Array(code.utf8)
    out.reserveCapacity(bytes.count + bytes.count / 8)
    var i = 0
    while i < bytes.count {
        if bytes[i] == first, i + t.count <= bytes.count, bytes[i..<(i + t.count)].elementsEqual(t) {
            out.append(contentsOf: r)
            i += t.count
        } else {
            out.append(bytes[i])
            i += 1
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// The names starting with `prefix` that `code` calls (an identifier followed by `(`).
func calledNames(in code: String, prefix: String) -> Set<String> {
    let p = Array(prefix.utf8)
    let bytes = Array(code.utf8)
    guard let first = p.first else { return [] }
    func isIdentifier(_ b: UInt8) -> Bool {
        (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 95
    }
    var names: Set<String> = []
    var i = 0
    while i < bytes.count {
        guard bytes[i] == first, i + p.count <= bytes.count, bytes[i..<(i + p.count)].elementsEqual(p) else {
            i += 1
            continue
        }
        var j = i + p.count
        while j < bytes.count && isIdentifier(bytes[j]) { j += 1 }
        if j < bytes.count && bytes[j] == UInt8(ascii: "(") {
            names.insert(String(decoding: bytes[i..<j], as: UTF8.self))
        }
        i = j
    }
    return names
}
