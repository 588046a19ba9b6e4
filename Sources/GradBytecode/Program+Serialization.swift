import GradRuntime

// The `.gbc` file format.
//
// ```
// offset  size  field
//      0     8  magic  89 'G' 'B' 'C' 0D 0A 1A 0A
//      8     4  format version (UInt32, little endian) = 4
//     12     4  reserved, 0
//     16     8  payload length in bytes (UInt64)
//     24     8  FNV-1a 64 checksum of the payload
//     32     …  payload
// ```
// Payload (all integers little endian; strings are UInt32 length + UTF-8):
// names: u16 count × string — every op, attribute key and dtype the file uses, by its `.ir`
// name, in order of first use; a *name* below is a u16 index into this table.
// function name, arenaBytes u64, workspaceOffset u64,
// constants: u32 count × (node u64, operand, u64 length + bytes),
// inputs, outputs: u32 count × (name, operand),
// instructions: u32 count × (tag u8, …) — 0 op: op name, attributes, u32 n × operand,
// result operand, node u64; 1 fused: dtype name, u32 n × (op name, u8 n × u32 register),
// u32 n × leaf operand, result operand, u32 n × node u64; 2 copy: operand, operand;
// 3 loop: node u64, trip count u64, flags u8 (1 reverse, 2 indexed, 4 gated: then u32 the
// gate's body input), body region offset u64,
// u32 n × carry operand, u32 n × sequence operand, u32 n × invariant operand,
// u32 n × (u8 0 | u8 1 operand) final carries, the same for the per-step outputs, then the
// body: a program's fields from the function name on (the name table is the file's).
// Version 4 added the loop instruction (3 had no tag 3).
// Operand: dtype name, rank u8, rank × dimension u64, byte offset u64.
// Attributes: u8 count × (key name, tag u8, value), keys in alphabetical order:
// 0 int i64, 1 ints (u32 n × i64), 2 bool u8, 3 float f64 bits, 4 floats (u32 n × f64 bits),
// 5 dtype name.
//
// Ops, attribute keys and dtypes are stored by name, never by their position in an enum:
// adding a case anywhere in `Op`, `AttrKey` or `DType` changes no file (version 2 stored
// positions, so inserting an op renumbered every later one). The numbers that remain —
// instruction and attribute tags — are part of this format, written out above. Function,
// input and output names must follow the `.ir` identifier rule (they become file names and
// terminal output) and be unique among the inputs and among the outputs. A change to any of
// this needs a new format version: `OpIdentityTests` reads a file frozen at this version.
//
// Reading never trusts a length: every count is checked against the bytes that remain
// before anything is allocated, and the loaded program is then checked by
// `BytecodeProgram.validate` (Program+Validation.swift, run by `VirtualMachine.init`) before
// it can run.

/// The file magic: a non-ASCII first byte, "GBC", then CR LF SUB LF (catches text-mode damage).
public let bytecodeMagic: [UInt8] = [0x89, 0x47, 0x42, 0x43, 0x0D, 0x0A, 0x1A, 0x0A]
/// The format version this build reads and writes.
public let bytecodeFormatVersion: UInt32 = 4

private let headerSize = 32

func fnv1a(_ bytes: ArraySlice<UInt8>) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes {
        h ^= UInt64(b)
        h = h &* 0x100_0000_01b3
    }
    return h
}

// MARK: - Writing

/// The case number of a payload-free enum of at most 256 cases (one byte), else nil.
@inline(__always) func caseNumber<E>(_ e: E) -> Int? {
    MemoryLayout<E>.size == 1 ? Int(unsafeBitCast(e, to: UInt8.self)) : nil
}

struct ByteWriter {
    var bytes: [UInt8] = []
    /// The name table: every op, attribute key and dtype name written, in order of first use.
    var names: [String] = []
    var nameIndex: [String: Int] = [:]
    /// `name(_:)`'s index of each op and dtype already written, by case number (`caseNumber`),
    /// −1 before: no string hashed per instruction and operand (same table, same bytes).
    var opIndex = [Int](repeating: -1, count: 256)
    var dtypeIndex = [Int](repeating: -1, count: 256)

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func int(_ v: Int) { u64(UInt64(bitPattern: Int64(v))) }
    mutating func count(_ n: Int) { u32(UInt32(truncatingIfNeeded: n)) }
    mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        count(utf8.count)
        bytes.append(contentsOf: utf8)
    }
    /// A reference to `s` in the name table (added on first use).
    mutating func name(_ s: String) {
        let index = nameIndex[s] ?? names.count
        if index == names.count {
            names.append(s)
            nameIndex[s] = index
        }
        u16(UInt16(truncatingIfNeeded: index))
    }
    /// `name(op.name)`, the index remembered by op.
    mutating func name(_ op: Op) {
        guard let k = caseNumber(op) else { return name(op.name) }
        if opIndex[k] >= 0 { return u16(UInt16(truncatingIfNeeded: opIndex[k])) }
        name(op.name)
        opIndex[k] = nameIndex[op.name] ?? -1
    }
    /// `name(dtype.rawValue)`, the index remembered by dtype.
    mutating func name(_ dtype: DType) {
        guard let k = caseNumber(dtype) else { return name(dtype.rawValue) }
        if dtypeIndex[k] >= 0 { return u16(UInt16(truncatingIfNeeded: dtypeIndex[k])) }
        name(dtype.rawValue)
        dtypeIndex[k] = nameIndex[dtype.rawValue] ?? -1
    }
    mutating func operand(_ o: BytecodeOperand) {
        name(o.type.dtype)
        u8(UInt8(truncatingIfNeeded: o.type.rank))
        for d in o.type.shape { int(d) }
        int(o.offset)
    }
    mutating func attributes(_ a: Attributes) {
        u8(UInt8(truncatingIfNeeded: a.items.count))
        // By name, so that the bytes do not depend on the order of `AttrKey`'s cases.
        guard !a.items.isEmpty else { return }
        for (key, value) in a.items.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            name(key.rawValue)
            switch value {
            case .int(let v):
                u8(0)
                int(v)
            case .ints(let v):
                u8(1)
                count(v.count)
                for x in v { int(x) }
            case .bool(let v):
                u8(2)
                u8(v ? 1 : 0)
            case .float(let v):
                u8(3)
                u64(v.bitPattern)
            case .floats(let v):
                u8(4)
                count(v.count)
                for x in v { u64(x.bitPattern) }
            case .dtype(let d):
                u8(5)
                name(d.rawValue)
            }
        }
    }
}

extension BytecodeProgram {
    /// The program as a `.gbc` file.
    public func serialized() -> [UInt8] {
        var w = ByteWriter()
        w.bytes.reserveCapacity(64 + 48 * instructions.count)  // about a scalar instruction's bytes
        write(to: &w)
        var payload = ByteWriter()
        payload.u16(UInt16(truncatingIfNeeded: w.names.count))
        for n in w.names { payload.string(n) }
        payload.bytes += w.bytes
        var file = bytecodeMagic
        var h = ByteWriter()
        h.u32(bytecodeFormatVersion)
        h.u32(0)
        h.u64(UInt64(payload.bytes.count))
        h.u64(fnv1a(payload.bytes[...]))
        file += h.bytes
        file += payload.bytes
        return file
    }

    /// The program's fields (the payload after the name table; a loop body nests one).
    func write(to w: inout ByteWriter) {
        w.string(name)
        w.int(arenaBytes)
        w.int(workspaceOffset)
        w.count(constants.count)
        for c in constants {
            w.int(c.node)
            w.operand(c.operand)
            w.int(c.bytes.count)
            w.bytes.append(contentsOf: c.bytes)
        }
        for bindings in [inputs, outputs] {
            w.count(bindings.count)
            for b in bindings {
                w.string(b.name)
                w.operand(b.operand)
            }
        }
        w.count(instructions.count)
        for instruction in instructions {
            switch instruction {
            case .op(let op, let attrs, let ins, let out, let node):
                w.u8(0)
                w.name(op)
                w.attributes(attrs)
                w.count(ins.count)
                for o in ins { w.operand(o) }
                w.operand(out)
                w.int(node)
            case .fused(let dtype, let ops, let leaves, let out, let nodes):
                w.u8(1)
                w.name(dtype)
                w.count(ops.count)
                for m in ops {
                    w.name(m.op)
                    w.u8(UInt8(truncatingIfNeeded: m.args.count))
                    for a in m.args { w.count(a) }
                }
                w.count(leaves.count)
                for o in leaves { w.operand(o) }
                w.operand(out)
                w.count(nodes.count)
                for n in nodes { w.int(n) }
            case .copy(let from, let to):
                w.u8(2)
                w.operand(from)
                w.operand(to)
            case .loop(let l):
                w.u8(3)
                w.int(l.node)
                w.int(l.length)
                w.u8((l.reverse ? 1 : 0) | (l.indexed ? 2 : 0) | (l.gate != nil ? 4 : 0))
                if let g = l.gate { w.count(g) }
                w.int(l.region)
                for group in [l.carries, l.sequences, l.invariants] {
                    w.count(group.count)
                    for o in group { w.operand(o) }
                }
                for group in [l.finals, l.stacked] {
                    w.count(group.count)
                    for o in group {
                        w.u8(o == nil ? 0 : 1)
                        if let o { w.operand(o) }
                    }
                }
                l.body.write(to: &w)
            }
        }
    }
}

// MARK: - Reading

struct ByteReader {
    let bytes: [UInt8]
    var position: Int
    let end: Int
    /// The file's name table, and each name as an op, attribute key and dtype (nil: not one).
    var names: [String] = []
    var ops: [Op?] = []
    var keys: [AttrKey?] = []
    var dtypes: [DType?] = []

    init(bytes: [UInt8], position: Int, end: Int) {
        self.bytes = bytes
        self.position = position
        self.end = end
    }

    var remaining: Int { end - position }

    func fail(_ what: String) -> Diagnostic {
        Diagnostic(.other("invalid bytecode file: \(what) (at byte \(position))"))
    }
    mutating func take(_ n: Int, _ what: String) throws(Diagnostic) -> ArraySlice<UInt8> {
        guard n >= 0, n <= remaining else { throw fail("truncated \(what): needs \(n) bytes, \(remaining) left") }
        defer { position += n }
        return bytes[position..<(position + n)]
    }
    mutating func u8(_ what: String) throws(Diagnostic) -> UInt8 {
        try take(1, what).first ?? 0
    }
    mutating func u16(_ what: String) throws(Diagnostic) -> UInt16 {
        var v: UInt16 = 0
        for (i, b) in try take(2, what).enumerated() { v |= UInt16(b) << (8 * i) }
        return v
    }
    mutating func u32(_ what: String) throws(Diagnostic) -> UInt32 {
        var v: UInt32 = 0
        for (i, b) in try take(4, what).enumerated() { v |= UInt32(b) << (8 * i) }
        return v
    }
    mutating func u64(_ what: String) throws(Diagnostic) -> UInt64 {
        var v: UInt64 = 0
        for (i, b) in try take(8, what).enumerated() { v |= UInt64(b) << (8 * i) }
        return v
    }
    /// A non-negative integer no larger than `limit`.
    mutating func int(_ what: String, limit: Int = Int.max) throws(Diagnostic) -> Int {
        let v = try u64(what)
        guard v <= UInt64(limit) else { throw fail("\(what) \(v) is out of range (at most \(limit))") }
        return Int(v)
    }
    mutating func signedInt(_ what: String) throws(Diagnostic) -> Int {
        Int(Int64(bitPattern: try u64(what)))
    }
    /// A count of items of at least `minSize` bytes each that must fit in what remains.
    mutating func count(_ what: String, minSize: Int) throws(Diagnostic) -> Int {
        let n = Int(try u32(what))
        guard n <= remaining / max(minSize, 1) else { throw fail("\(what) \(n) does not fit in the \(remaining) bytes left") }
        return n
    }
    mutating func string(_ what: String) throws(Diagnostic) -> String {
        let n = try count("length of \(what)", minSize: 1)
        guard let s = String(validating: try take(n, what), as: UTF8.self) else { throw fail("\(what) is not UTF-8") }
        return s
    }
    /// A string that follows the `.ir` identifier rule.
    mutating func identifier(_ what: String) throws(Diagnostic) -> String {
        let s = try string(what)
        guard Identifier.isValid(s) else { throw fail("\(what) \(Identifier.quoted(s)) is not an identifier (\(Identifier.pattern))") }
        return s
    }
    /// Reads the name table and resolves every name once.
    mutating func nameTable() throws(Diagnostic) {
        let n = Int(try u16("name count"))
        guard n <= remaining / 5 else { throw fail("name count \(n) does not fit in the \(remaining) bytes left") }
        for k in 0..<n { names.append(try identifier("name \(k)")) }
        ops = names.map { Op(rawValue: $0) }
        keys = names.map { AttrKey(rawValue: $0) }
        dtypes = names.map { DType(rawValue: $0) }
    }
    /// The index of a name in the table.
    mutating func name(_ what: String) throws(Diagnostic) -> Int {
        let i = Int(try u16(what))
        guard i < names.count else { throw fail("name \(i) of \(what) is not in the table of \(names.count) names") }
        return i
    }
    /// A name the table resolves to a case of `table`, or "unknown KIND 'name'".
    mutating func resolve<T>(_ table: [T?], _ kind: String, _ what: String) throws(Diagnostic) -> T {
        let i = try name(what)
        guard let value = table[i] else {
            throw fail("unknown \(kind) '\(names[i])' in \(what) (written by a newer gradc?)")
        }
        return value
    }
    mutating func dtype(_ what: String) throws(Diagnostic) -> DType {
        try resolve(dtypes, "dtype", what)
    }
    mutating func op(_ what: String) throws(Diagnostic) -> Op {
        try resolve(ops, "op", what)
    }
    mutating func operand(_ what: String) throws(Diagnostic) -> BytecodeOperand {
        let dtype = try dtype(what)
        let rank = Int(try u8(what))
        guard rank <= maxRank else { throw fail("rank \(rank) of \(what) exceeds \(maxRank)") }
        var shape: [Int] = []
        for _ in 0..<rank { shape.append(try int("dimension of \(what)", limit: maxElementCount)) }
        guard checkedElementCount(shape) != nil else { throw fail("shape \(shape) of \(what) is too large") }
        let offset = try int("offset of \(what)")
        return BytecodeOperand(type: TensorType(dtype, shape), offset: offset)
    }
    mutating func attributes(_ what: String) throws(Diagnostic) -> Attributes {
        var a = Attributes()
        let n = Int(try u8("attribute count of \(what)"))
        for _ in 0..<n {
            let key = try resolve(keys, "attribute", "attribute of \(what)")
            let tag = try u8("attribute tag")
            switch tag {
            case 0: a[key] = .int(try signedInt("attribute \(key)"))
            case 1:
                let c = try count("attribute \(key) length", minSize: 8)
                var v: [Int] = []
                v.reserveCapacity(c)
                for _ in 0..<c { v.append(try signedInt("attribute \(key)")) }
                a[key] = .ints(v)
            case 2: a[key] = .bool(try u8("attribute \(key)") != 0)
            case 3: a[key] = .float(Double(bitPattern: try u64("attribute \(key)")))
            case 4:
                let c = try count("attribute \(key) length", minSize: 8)
                var v: [Double] = []
                v.reserveCapacity(c)
                for _ in 0..<c { v.append(Double(bitPattern: try u64("attribute \(key)"))) }
                a[key] = .floats(v)
            case 5: a[key] = .dtype(try dtype("attribute \(key)"))
            default: throw fail("unknown attribute tag \(tag) in \(what)")
            }
        }
        return a
    }
    /// Input or output bindings: identifier names, none twice.
    mutating func bindings(_ what: String) throws(Diagnostic) -> [BytecodeBinding] {
        var list: [BytecodeBinding] = []
        var seen = Set<String>()
        for k in 0..<(try count("\(what) count", minSize: 15)) {
            let name = try identifier("name of \(what) \(k)")
            guard seen.insert(name).inserted else { throw fail("\(what) \(k) is named '\(name)' like an earlier \(what)") }
            list.append(BytecodeBinding(name: name, operand: try operand("\(what) \(name)")))
        }
        return list
    }
}

extension BytecodeProgram {
    /// Reads a `.gbc` file. A truncated, corrupt or hostile file gives a diagnostic; nothing is
    /// allocated beyond what the file's own bytes can justify. (`verifyChecksum: false` is for
    /// tests that exercise the structural checks behind the checksum.) Names are checked here;
    /// everything else by `validate` (which `VirtualMachine.init` runs).
    public init(serialized bytes: [UInt8], verifyChecksum: Bool = true) throws(Diagnostic) {
        guard bytes.count >= headerSize, Array(bytes[0..<8]) == bytecodeMagic else {
            throw Diagnostic(.other("not a gradc bytecode file (bad magic number or shorter than the \(headerSize)-byte header)"))
        }
        var header = ByteReader(bytes: bytes, position: 8, end: headerSize)
        let version = try header.u32("version")
        guard version == bytecodeFormatVersion else {
            let hint = version < bytecodeFormatVersion
                ? "compile the model again with `gradc compile MODEL.ir --backend bytecode`"
                : "it was written by a newer gradc"
            throw Diagnostic(.other("unsupported gradc bytecode version \(version): this gradc reads version \(bytecodeFormatVersion) only; \(hint)"))
        }
        _ = try header.u32("reserved")
        let length = try header.u64("payload length")
        let checksum = try header.u64("checksum")
        guard length == UInt64(bytes.count - headerSize) else {
            throw Diagnostic(.other("invalid bytecode file: payload length \(length) but \(bytes.count - headerSize) bytes follow the header (truncated?)"))
        }
        if verifyChecksum, fnv1a(bytes[headerSize...]) != checksum {
            throw Diagnostic(.other("invalid bytecode file: checksum mismatch (the file is corrupt)"))
        }
        var r = ByteReader(bytes: bytes, position: headerSize, end: bytes.count)
        try r.nameTable()
        self = try r.program(depth: 0)
        guard r.remaining == 0 else { throw r.fail("\(r.remaining) unexpected bytes after the last instruction") }
    }
}

extension ByteReader {
    /// A program's fields (`BytecodeProgram.write(to:)`); `depth` loop bodies enclose it.
    mutating func program(depth: Int) throws(Diagnostic) -> BytecodeProgram {
        let name = try self.identifier("function name")
        let arenaBytes = try self.int("arena size")
        let workspaceOffset = try self.int("workspace offset")
        var constants: [BytecodeConstant] = []
        for _ in 0..<(try self.count("constant count", minSize: 27)) {
            let node = try self.int("constant node")
            let operand = try self.operand("constant")
            let n = try self.int("constant length", limit: remaining)
            constants.append(BytecodeConstant(node: node, operand: operand, bytes: Array(try self.take(n, "constant data"))))
        }
        let inputs = try self.bindings("input")
        let outputs = try self.bindings("output")
        var instructions: [BytecodeInstruction] = []
        let instructionCount = try self.count("instruction count", minSize: 23)
        instructions.reserveCapacity(instructionCount)
        for i in 0..<instructionCount {
            let what = "instruction \(i)"
            switch try self.u8(what) {
            case 0:
                let op = try self.op(what)
                let attrs = try self.attributes(what)
                var ins: [BytecodeOperand] = []
                for _ in 0..<(try self.count("operand count of \(what)", minSize: 11)) { ins.append(try self.operand(what)) }
                let out = try self.operand(what)
                let node = try self.int("node of \(what)")
                instructions.append(.op(op, attrs, inputs: ins, output: out, node: node))
            case 1:
                let dtype = try self.dtype(what)
                var ops: [MicroOp] = []
                for _ in 0..<(try self.count("fused op count of \(what)", minSize: 3)) {
                    let op = try self.op(what)
                    let n = Int(try self.u8(what))
                    var args: [Int] = []
                    for _ in 0..<n { args.append(Int(try self.u32(what))) }
                    ops.append(MicroOp(op: op, args: args))
                }
                var leaves: [BytecodeOperand] = []
                for _ in 0..<(try self.count("leaf count of \(what)", minSize: 11)) { leaves.append(try self.operand(what)) }
                let out = try self.operand(what)
                var nodes: [Int] = []
                for _ in 0..<(try self.count("node count of \(what)", minSize: 8)) { nodes.append(try self.int("node of \(what)")) }
                instructions.append(.fused(dtype: dtype, ops: ops, leaves: leaves, output: out, nodes: nodes))
            case 2:
                let from = try self.operand(what)
                instructions.append(.copy(from: from, to: try self.operand(what)))
            case 3:
                instructions.append(.loop(try self.loop(what, depth: depth)))
            case let tag:
                throw fail("unknown instruction tag \(tag) in \(what)")
            }
        }
        return BytecodeProgram(name: name, arenaBytes: arenaBytes, workspaceOffset: workspaceOffset, constants: constants,
                               inputs: inputs, outputs: outputs, instructions: instructions)
    }

    /// A loop instruction's fields and its body.
    mutating func loop(_ what: String, depth: Int) throws(Diagnostic) -> BytecodeLoop {
        guard depth + 1 < maxLoopNesting else { throw fail("\(what): loops nest more than \(maxLoopNesting) deep") }
        let node = try int("node of \(what)")
        let length = try int("trip count of \(what)")
        let flags = try u8(what)
        guard flags < 8 else { throw fail("\(what): unknown loop flags \(flags)") }
        let gate = flags & 4 != 0 ? Int(try u32("gate of \(what)")) : nil
        let region = try int("body region of \(what)")
        var groups: [[BytecodeOperand]] = []
        for group in ["carry", "sequence", "invariant"] {
            var list: [BytecodeOperand] = []
            for _ in 0..<(try count("\(group) count of \(what)", minSize: 11)) { list.append(try operand(what)) }
            groups.append(list)
        }
        var results: [[BytecodeOperand?]] = []
        for group in ["final carry", "per-step output"] {
            var list: [BytecodeOperand?] = []
            for _ in 0..<(try count("\(group) count of \(what)", minSize: 1)) {
                list.append(try u8(what) == 0 ? nil : try operand(what))
            }
            results.append(list)
        }
        let body = try program(depth: depth + 1)
        return BytecodeLoop(node: node, length: length, reverse: flags & 1 != 0, indexed: flags & 2 != 0, gate: gate, region: region,
                            carries: groups[0], finals: results[0], sequences: groups[1], invariants: groups[2],
                            stacked: results[1], body: body)
    }
}
