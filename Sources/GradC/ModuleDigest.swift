import GradRuntime

/// SHA-256 of everything the generated C depends on, computed from the functions themselves
/// (not from the C), so the compile cache can be consulted before any C is generated and a
/// hit costs one linear pass over the graph.
///
/// What is hashed: the gradc version, the emit options, the exported names (if given), and for
/// every function its name, parameters, outputs and nodes — op, role, operands, attributes (by
/// bit pattern: constants that differ in one bit differ here) and type — then its loop bodies,
/// recursively. Source locations are
/// left out: the C does not depend on them. Every variable-length item is length-prefixed, so
/// two different graphs never feed the same bytes.
struct ModuleDigest {
    private var sha = SHA256()
    private var buffer: [UInt8] = []

    init() { buffer.reserveCapacity(1 << 16) }

    /// The digest of `functions` emitted with `options` under `names`.
    static func of(_ functions: [Function], options: CEmitOptions, names: [String]?) -> [UInt8] {
        var d = ModuleDigest()
        d.string("gradc \(gradcVersion) C module")
        d.bool(options.threads)
        d.int(options.chunkStatements)
        d.bool(options.fma)
        d.bool(options.reroll)
        d.bool(names != nil)
        for n in names ?? [] { d.string(n) }
        d.int(functions.count)
        for f in functions { d.function(f) }
        return d.finalize()
    }

    private mutating func function(_ f: Function) {
        string(f.name)
        int(f.parameters.count)
        for p in f.parameters {
            string(p.name)
            int(p.value)
        }
        int(f.outputs.count)
        for o in f.outputs {
            string(o.name)
            int(o.value)
            // A sparse output's pattern is emitted as metadata (NAME_output_pattern).
            bool(o.pattern != nil)
            if let p = o.pattern {
                int(p.rows)
                int(p.columns)
                int(p.rowStarts.count)
                for r in p.rowStarts { int(r) }
                int(p.columnIndices.count)
                for c in p.columnIndices { int(Int(c)) }
            }
        }
        int(f.nodes.count)
        for node in f.nodes {
            int(Self.opTags[node.op] ?? -1)
            byte(node.role.rawValue)
            int(node.inputs.count)
            for i in node.inputs { int(i) }
            int(node.attrs.items.count)
            for item in node.attrs.items {
                string(item.key.rawValue)
                attribute(item.value)
            }
            type(node.type)
        }
        // Loop bodies (issue 15): a function whose bodies differ emits different C.
        int(f.bodies.count)
        for b in f.bodies { function(b) }
    }

    private mutating func attribute(_ v: AttrValue) {
        switch v {
        case .int(let x): byte(0); int(x)
        case .ints(let xs): byte(1); int(xs.count); for x in xs { int(x) }
        case .bool(let x): byte(2); bool(x)
        case .float(let x): byte(3); word(x.bitPattern)
        case .floats(let xs): byte(4); int(xs.count); for x in xs { word(x.bitPattern) }
        case .dtype(let t): byte(5); string(t.rawValue)
        }
    }

    private mutating func type(_ t: TensorType) {
        string(t.dtype.rawValue)
        int(t.shape.count)
        for d in t.shape { int(d) }
    }

    /// Each op's position in the op list: a fixed small number per op within one version
    /// (the version is hashed too).
    private static let opTags: [Op: Int] = Dictionary(uniqueKeysWithValues: Op.allCases.enumerated().map { ($1, $0) })

    private mutating func byte(_ b: UInt8) {
        buffer.append(b)
        if buffer.count >= 1 << 16 { flush() }
    }
    private mutating func bool(_ b: Bool) { byte(b ? 1 : 0) }
    private mutating func int(_ x: Int) { word(UInt64(bitPattern: Int64(x))) }
    private mutating func word(_ x: UInt64) {
        var v = x.littleEndian
        withUnsafeBytes(of: &v) { buffer.append(contentsOf: $0) }
        if buffer.count >= 1 << 16 { flush() }
    }
    private mutating func string(_ s: String) {
        int(s.utf8.count)
        buffer.append(contentsOf: s.utf8)
        if buffer.count >= 1 << 16 { flush() }
    }
    private mutating func flush() {
        sha.update(buffer)
        buffer.removeAll(keepingCapacity: true)
    }
    private mutating func finalize() -> [UInt8] {
        flush()
        return sha.finalize()
    }
}
