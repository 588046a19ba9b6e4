import Foundation

// NumPy `.npy` files: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
//
// Layout: the magic `\x93NUMPY`, a major and a minor version byte, the header length
// (little-endian u16 for version 1, u32 for versions 2 and 3), an ASCII Python dict literal
// `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }` padded with spaces and a
// final '\n' so that the data starts at a multiple of 64 bytes, then the raw elements in C order.
//
// We write version 1.0 and read 1.0, 2.0 and 3.0. Accepted element types: `<f4`, `<f8`,
// `<i8`, `|b1` (bytes must be 0 or 1: anything else is an error, to catch corrupt files).
// Reading is strict and bounded: header ≤ 64 KiB, only the three standard keys, shape
// entries checked for overflow, data length exactly count × itemsize, checked before any
// allocation. No input makes the reader crash.

/// Largest header we accept, in bytes.
public let npyMaxHeaderLength = 64 * 1024

private let npyMagic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

// MARK: - Reading

/// Decodes a `.npy` file.
public func readNPY(_ bytes: [UInt8]) throws(Diagnostic) -> Tensor {
    func fail(_ message: String) -> Diagnostic { Diagnostic(.invalidNPY(message)) }
    guard bytes.count >= 10, Array(bytes[0..<6]) == npyMagic else {
        throw fail("missing the \\x93NUMPY magic (not a .npy file)")
    }
    let major = bytes[6]
    let minor = bytes[7]
    let headerLength: Int
    let headerStart: Int
    switch major {
    case 1:
        headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        headerStart = 10
    case 2, 3:
        guard bytes.count >= 12 else { throw fail("truncated header length") }
        headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        headerStart = 12
    default:
        throw fail("unsupported format version \(major).\(minor) (expected 1.0, 2.0 or 3.0)")
    }
    guard minor == 0 else { throw fail("unsupported format version \(major).\(minor) (expected 1.0, 2.0 or 3.0)") }
    guard headerLength <= npyMaxHeaderLength else {
        throw fail("header of \(headerLength) bytes is longer than the \(npyMaxHeaderLength)-byte limit")
    }
    let dataStart = headerStart + headerLength
    guard dataStart <= bytes.count else { throw fail("truncated header: \(headerLength) bytes announced, \(bytes.count - headerStart) present") }

    let header = try NPYHeader.parse(bytes[headerStart..<dataStart])
    guard !header.fortranOrder else {
        throw fail("fortran_order is True: only C-order (row-major) arrays are supported")
    }
    guard let count = checkedElementCount(header.shape) else {
        throw fail("shape \(header.shape) is too large (rank ≤ \(maxRank), at most \(maxElementCount) elements)")
    }
    let itemSize = header.dtype.byteSize
    let available = bytes.count - dataStart
    guard available == count * itemSize else {
        throw fail("data is \(available) bytes, expected \(count * itemSize) for \(header.dtype)\(header.shape) (\(count) × \(itemSize))")
    }

    let storage: Tensor.Storage
    switch header.dtype {
    case .f32:
        storage = .f32((0..<count).map { Float(bitPattern: UInt32(littleEndianBytes: bytes, at: dataStart + 4 * $0)) })
    case .f64:
        storage = .f64((0..<count).map { Double(bitPattern: UInt64(littleEndianBytes: bytes, at: dataStart + 8 * $0)) })
    case .i64:
        storage = .i64((0..<count).map { Int64(bitPattern: UInt64(littleEndianBytes: bytes, at: dataStart + 8 * $0)) })
    case .bool:
        var values: [Bool] = []
        values.reserveCapacity(count)
        for i in 0..<count {
            let b = bytes[dataStart + i]
            guard b <= 1 else { throw fail("bool element \(i) is the byte \(b), expected 0 or 1") }
            values.append(b == 1)
        }
        storage = .bool(values)
    }
    guard let tensor = Tensor(storage, shape: header.shape) else {
        throw fail("shape \(header.shape) does not match the data")
    }
    return tensor
}

/// Reads a `.npy` file from disk.
public func readNPY(path: String) throws(Diagnostic) -> Tensor {
    let data: Data
    do {
        data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
        throw Diagnostic(.io("cannot read '\(path)': \(error.localizedDescription)"))
    }
    do {
        return try readNPY([UInt8](data))
    } catch {
        throw Diagnostic(error.kind, file: path)
    }
}

// MARK: - Writing

/// Encodes a tensor as a version 1.0 `.npy` file (little-endian, C order).
public func writeNPY(_ t: Tensor) -> [UInt8] {
    let descr: String
    switch t.dtype {
    case .f32: descr = "<f4"
    case .f64: descr = "<f8"
    case .i64: descr = "<i8"
    case .bool: descr = "|b1"
    }
    let shapeText: String
    switch t.shape.count {
    case 0: shapeText = "()"
    case 1: shapeText = "(\(t.shape[0]),)"
    default: shapeText = "(" + t.shape.map(String.init).joined(separator: ", ") + ")"
    }
    var header = Array("{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }".utf8)
    // Pad with spaces so that magic + version + length + header (ending in '\n') is a multiple of 64.
    let unpadded = 10 + header.count + 1
    header += [UInt8](repeating: 0x20, count: (64 - unpadded % 64) % 64)
    header.append(0x0A)

    var out = npyMagic + [1, 0, UInt8(header.count & 0xFF), UInt8(header.count >> 8)] + header
    out.reserveCapacity(out.count + t.count * t.dtype.byteSize)
    switch t.storage {
    case .f32(let v): for x in v { out.appendLittleEndian(UInt64(x.bitPattern), bytes: 4) }
    case .f64(let v): for x in v { out.appendLittleEndian(x.bitPattern, bytes: 8) }
    case .i64(let v): for x in v { out.appendLittleEndian(UInt64(bitPattern: x), bytes: 8) }
    case .bool(let v): for x in v { out.append(x ? 1 : 0) }
    }
    return out
}

/// Writes a tensor to a `.npy` file (atomically: a temporary file, then a rename).
public func writeNPY(_ t: Tensor, path: String) throws(Diagnostic) {
    do {
        try Data(writeNPY(t)).write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
        throw Diagnostic(.io("cannot write '\(path)': \(error.localizedDescription)"))
    }
}

// MARK: - Byte helpers

extension UInt32 {
    /// Four little-endian bytes at `offset` (the caller checked the bounds).
    fileprivate init(littleEndianBytes b: [UInt8], at offset: Int) {
        self = UInt32(b[offset]) | UInt32(b[offset + 1]) << 8 | UInt32(b[offset + 2]) << 16 | UInt32(b[offset + 3]) << 24
    }
}

extension UInt64 {
    /// Eight little-endian bytes at `offset` (the caller checked the bounds).
    fileprivate init(littleEndianBytes b: [UInt8], at offset: Int) {
        var v: UInt64 = 0
        for i in (0..<8).reversed() { v = v << 8 | UInt64(b[offset + i]) }
        self = v
    }
}

extension Array where Element == UInt8 {
    fileprivate mutating func appendLittleEndian(_ v: UInt64, bytes: Int) {
        for i in 0..<bytes { append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }
}

// MARK: - Header dictionary

/// The parsed header: a strict reader of the dict literal NumPy writes (string keys in single
/// or double quotes, no escapes; values a string, `True`/`False` or a tuple of integers;
/// optional trailing comma; spaces and a final newline around it).
struct NPYHeader {
    var dtype: DType
    var fortranOrder: Bool
    var shape: [Int]

    private enum Value {
        case string(String)
        case bool(Bool)
        case tuple([Int])
    }

    static func parse(_ text: ArraySlice<UInt8>) throws(Diagnostic) -> NPYHeader {
        func fail(_ message: String) -> Diagnostic { Diagnostic(.invalidNPY("header: " + message)) }
        let b = Array(text)
        guard b.allSatisfy({ $0 == 0x0A || $0 == 0x0D || $0 == 0x09 || (0x20..<0x7F).contains($0) }) else {
            throw fail("contains bytes that are not printable ASCII")
        }
        var i = 0
        func skipSpace() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
        }
        func peek() -> UInt8? { i < b.count ? b[i] : nil }
        func expect(_ c: Character) throws(Diagnostic) {
            skipSpace()
            guard let ascii = c.asciiValue, peek() == ascii else {
                throw fail("expected '\(c)' at byte \(i)")
            }
            i += 1
        }
        func string() throws(Diagnostic) -> String {
            skipSpace()
            guard let q = peek(), q == 0x27 || q == 0x22 else { throw fail("expected a quoted string at byte \(i)") }
            i += 1
            let start = i
            while i < b.count, b[i] != q {
                if b[i] == 0x5C { throw fail("escapes are not supported in strings") }
                i += 1
            }
            guard i < b.count else { throw fail("unterminated string") }
            let s = String(decoding: b[start..<i], as: UTF8.self)
            i += 1
            return s
        }
        func integer() throws(Diagnostic) -> Int {
            skipSpace()
            let start = i
            var v = 0
            while let c = peek(), (0x30...0x39).contains(c) {
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(Int(c - 0x30))
                guard !o1, !o2 else { throw fail("shape entry is too large") }
                v = s
                i += 1
            }
            guard i > start else { throw fail("expected a non-negative integer at byte \(i)") }
            return v
        }
        func value() throws(Diagnostic) -> Value {
            skipSpace()
            switch peek() {
            case 0x27?, 0x22?:
                return .string(try string())
            case 0x28?:  // (
                i += 1
                var items: [Int] = []
                var endsWithComma = false
                while true {
                    skipSpace()
                    if peek() == 0x29 {
                        i += 1
                        break
                    }
                    guard items.count < maxRank else { throw fail("shape has more than \(maxRank) entries") }
                    items.append(try integer())
                    endsWithComma = false
                    skipSpace()
                    if peek() == 0x2C {
                        i += 1
                        endsWithComma = true
                    } else if peek() != 0x29 {
                        throw fail("expected ',' or ')' in the shape at byte \(i)")
                    }
                }
                // Python: `(3)` is the integer 3, not a tuple; NumPy writes `(3,)`.
                if items.count == 1 && !endsWithComma {
                    throw fail("a one-element shape needs a trailing comma, like (3,)")
                }
                return .tuple(items)
            default:
                let rest = b[i...]
                if rest.starts(with: Array("True".utf8)) {
                    i += 4
                    return .bool(true)
                }
                if rest.starts(with: Array("False".utf8)) {
                    i += 5
                    return .bool(false)
                }
                throw fail("expected a string, True, False or a tuple at byte \(i)")
            }
        }

        var descr: String?
        var fortran: Bool?
        var shape: [Int]?
        try expect("{")
        while true {
            skipSpace()
            if peek() == 0x7D {
                i += 1
                break
            }
            let key = try string()
            guard ["descr", "fortran_order", "shape"].contains(key) else {
                throw fail("unexpected key '\(key)' (expected descr, fortran_order and shape)")
            }
            try expect(":")
            let v = try value()
            switch (key, v) {
            case ("descr", .string(let s)):
                guard descr == nil else { throw fail("duplicate key 'descr'") }
                descr = s
            case ("fortran_order", .bool(let f)):
                guard fortran == nil else { throw fail("duplicate key 'fortran_order'") }
                fortran = f
            case ("shape", .tuple(let t)):
                guard shape == nil else { throw fail("duplicate key 'shape'") }
                shape = t
            default:
                throw fail("key '\(key)' has a value of the wrong kind")
            }
            skipSpace()
            if peek() == 0x2C {
                i += 1
            } else if peek() != 0x7D {
                throw fail("expected ',' or '}' at byte \(i)")
            }
        }
        skipSpace()
        guard i == b.count else { throw fail("unexpected text after the dictionary") }
        guard let descr, let fortran, let shape else {
            throw fail("needs the keys 'descr', 'fortran_order' and 'shape'")
        }
        let dtype: DType
        switch descr {
        case "<f4": dtype = .f32
        case "<f8": dtype = .f64
        case "<i8": dtype = .i64
        case "|b1": dtype = .bool
        default:
            throw fail("unsupported dtype '\(descr)' (supported: '<f4', '<f8', '<i8', '|b1')")
        }
        return NPYHeader(dtype: dtype, fortranOrder: fortran, shape: shape)
    }
}
