import GradRuntime
import GradLowering

// Re-rolling: a large scalar graph (an unrolled integrator, a function written element by
// element) schedules as the same few straight-line steps repeated thousands of times. Emitted
// statement by statement that is megabytes of C that `cc` needs minutes for; emitted as one
// loop whose repetitions read and write memory at addresses taken from a table (or computed,
// where they are affine in the repetition number), it is a few lines and a table `cc` reads
// as one string literal.
//
// A repetition does exactly what the straight-line code does, in the same order, except that
// a value crossing from one repetition to another goes through its planned buffer instead of
// a local: the plan keeps every value's buffer valid from its step to its last reader, so the
// extra stores and loads are always safe.

/// `count` consecutive repetitions of the `period` straight-line scalar steps that start at
/// step `start`, emitted as one loop.
struct RerolledRun {
    var start: Int
    var period: Int
    var count: Int
    var end: Int { start + period * count }
}

/// What the emitter writes for a stretch of the plan: one step, or a re-rolled run.
enum EmissionUnit {
    case step(Int)
    case run(RerolledRun)

    var stepRange: Range<Int> {
        switch self {
        case .step(let i): return i..<(i + 1)
        case .run(let r): return r.start..<r.end
        }
    }
}

/// Where one repetition reads or writes a value: a kind fixed by the run's template and the
/// numbers that vary between repetitions.
private struct Address {
    enum Kind: Hashable {
        case workspace(DType)
        case input(DType)
        case output(DType)
        case constant(ValueID, DType)
    }
    var kind: Kind
    /// The input's or output's index (0 for the workspace and constants).
    var buffer: Int
    /// Bytes into the workspace; elements into an input, output or constant.
    var offset: Int
}

/// One repetition of a template, as the emitter sees it: its exact shape (`tokens`: two
/// repetitions with equal tokens emit the same statements), the values it reads from outside
/// itself in order of first use, and its steps' roots.
private struct Repetition {
    var tokens: [Int] = []
    var reads: [ValueID] = []
    var roots: [ValueID] = []
}

/// Dictionaries `repetition` reuses: member → position, outside value → read number.
private struct RepetitionScratch {
    var local: [ValueID: Int] = [:]
    var readSlot: [ValueID: Int] = [:]
}

/// The numbers of a template's shape: member ops, splat literals and address kinds, each
/// numbered at first sight so a repetition's shape is an array of integers.
private struct ShapeNumbers {
    struct Member: Hashable {
        var op: Op
        var attrs: Attributes
        var dtype: DType
        var firstOperand: DType?
        var operands: Int
    }
    var members: [Member: Int] = [:]
    var literals: [String: Int] = [:]
    var kinds: [Address.Kind: Int] = [:]

    mutating func number(_ key: Member) -> Int { Self.number(key, &members) }
    mutating func number(_ key: String) -> Int { Self.number(key, &literals) }
    mutating func number(_ key: Address.Kind) -> Int { Self.number(key, &kinds) }

    private static func number<K: Hashable>(_ key: K, _ table: inout [K: Int]) -> Int {
        if let n = table[key] { return n }
        let n = table.count
        table[key] = n
        return n
    }
}

/// A run must repeat at least this often, and cover this many statements, to be re-rolled
/// (shorter repetitions read better as straight-line code).
private let minimumRepetitions = 4
private let minimumRerolledStatements = 48
/// The longest template considered, in steps.
private let maximumPeriod = 96

extension FunctionEmitter {
    // MARK: Finding runs

    /// Groups the plan's steps into emission units: maximal re-rollable runs of straight-line
    /// scalar steps, every other step alone. Linear in the number of steps for a given
    /// `maximumPeriod` (each start tries the periods at which its step's class recurs).
    func emissionUnits(_ scalarMembers: [[ValueID]?]) -> [EmissionUnit] {
        let n = plan.steps.count
        guard options.reroll else { return (0..<n).map { .step($0) } }
        var numbers = ShapeNumbers()
        // A class per scalar step (its own shape, reads from other steps counted as outside):
        // equal classes are necessary for equal repetitions, and cheap to compare.
        var classOf = [Int](repeating: -1, count: n)
        var classes: [[Int]: Int] = [:]
        var scratch = RepetitionScratch()
        var totalScalar = 0
        for i in 0..<n {
            guard scalarMembers[i] != nil else { continue }
            totalScalar += 1
            let r = repetition(i..<(i + 1), scalarMembers, &numbers, &scratch)
            if let c = classes[r.tokens] {
                classOf[i] = c
            } else {
                classOf[i] = classes.count
                classes[r.tokens] = classes.count
            }
        }
        guard totalScalar >= minimumRepetitions * 2 else { return (0..<n).map { .step($0) } }
        // The next step of the same class, for the candidate periods of each start.
        var nextSame = [Int](repeating: n, count: n)
        var lastSeen = [Int](repeating: n, count: classes.count)
        for i in stride(from: n - 1, through: 0, by: -1) where classOf[i] >= 0 {
            nextSame[i] = lastSeen[classOf[i]]
            lastSeen[classOf[i]] = i
        }
        var units: [EmissionUnit] = []
        var s = 0
        while s < n {
            if classOf[s] >= 0, let run = longestRun(at: s, classOf, nextSame, scalarMembers, &numbers, &scratch) {
                units.append(.run(run))
                s = run.end
            } else {
                units.append(.step(s))
                s += 1
            }
        }
        return units
    }

    /// The run starting at step `s` with the smallest period that repeats often enough.
    private func longestRun(at s: Int, _ classOf: [Int], _ nextSame: [Int], _ scalarMembers: [[ValueID]?],
                            _ numbers: inout ShapeNumbers, _ scratch: inout RepetitionScratch) -> RerolledRun? {
        let n = classOf.count
        var q = nextSame[s]
        while q < n && q - s <= maximumPeriod {
            let p = q - s
            q = nextSame[q]
            // Cheap filter: the classes repeat with period p for `minimumRepetitions` periods.
            guard s + p * minimumRepetitions <= n else { break }
            var ok = true
            for j in 0..<(p * (minimumRepetitions - 1)) where classOf[s + j] != classOf[s + j + p] || classOf[s + j] < 0 {
                ok = false
                break
            }
            guard ok else { continue }
            // Exact check, repetition by repetition.
            let first = repetition(s..<(s + p), scalarMembers, &numbers, &scratch)
            let statements = (s..<(s + p)).reduce(0) { $0 + (scalarMembers[$1]?.count ?? 0) }
            var count = 1
            while s + p * (count + 1) <= n {
                let a = s + p * count
                let r = repetition(a..<(a + p), scalarMembers, &numbers, &scratch)
                guard r.tokens == first.tokens else { break }
                count += 1
            }
            if count >= minimumRepetitions && count * statements >= minimumRerolledStatements {
                return RerolledRun(start: s, period: p, count: count)
            }
        }
        return nil
    }

    /// The shape, outside reads and roots of steps `range` taken as one repetition.
    private func repetition(_ range: Range<Int>, _ scalarMembers: [[ValueID]?],
                            _ numbers: inout ShapeNumbers, _ scratch: inout RepetitionScratch) -> Repetition {
        var r = Repetition()
        scratch.local.removeAll(keepingCapacity: true)
        scratch.readSlot.removeAll(keepingCapacity: true)
        var memberCount = 0
        for i in range {
            guard let members = scalarMembers[i], let root = members.last else {
                r.tokens.append(-1)
                continue
            }
            r.tokens.append(members.count)
            for m in members {
                let node = f.nodes[m]
                let key = ShapeNumbers.Member(op: node.op, attrs: node.attrs, dtype: node.type.dtype,
                                              firstOperand: node.inputs.first.map { type($0).dtype }, operands: node.inputs.count)
                r.tokens.append(numbers.number(key))
                for o in node.inputs {
                    if let j = scratch.local[o] {
                        r.tokens.append(4 * j)
                    } else if let lit = splat[plan.storageRoot[o]] {
                        r.tokens.append(4 * numbers.number(lit) + 1)
                    } else if let slot = scratch.readSlot[o] {
                        r.tokens.append(4 * slot + 2)
                    } else {
                        scratch.readSlot[o] = r.reads.count
                        r.tokens.append(4 * r.reads.count + 3)
                        r.tokens.append(address(o).map { numbers.number($0.kind) } ?? -2)
                        r.reads.append(o)
                    }
                }
                scratch.local[m] = memberCount
                memberCount += 1
            }
            r.tokens.append(address(root).map { numbers.number($0.kind) } ?? -2)
            r.roots.append(root)
        }
        return r
    }

    /// Where value `id` lives (its storage root's buffer, plus its view offset).
    private func address(_ id: ValueID) -> Address? {
        let d = type(id).dtype
        let view = plan.viewOffsets[id]
        guard let loc = plan.locations[id] ?? plan.locations[plan.storageRoot[id]] else { return nil }
        switch loc {
        case .workspace(_, let offset): return Address(kind: .workspace(d), buffer: 0, offset: offset + view * d.byteSize)
        case .input(let k): return Address(kind: .input(d), buffer: k, offset: view)
        case .output(let k): return Address(kind: .output(d), buffer: k, offset: view)
        case .constant(let c): return Address(kind: .constant(c, d), buffer: 0, offset: view)
        }
    }

    // MARK: Emitting a run

    /// Emits `run` as one loop over its repetitions.
    func emitRun(_ run: RerolledRun, _ scalarMembers: [[ValueID]?]) throws(Diagnostic) {
        var numbers = ShapeNumbers()
        var scratch = RepetitionScratch()
        var reps: [Repetition] = []
        reps.reserveCapacity(run.count)
        for k in 0..<run.count {
            let a = run.start + run.period * k
            reps.append(repetition(a..<(a + run.period), scalarMembers, &numbers, &scratch))
        }
        guard let first = reps.first else { return }
        // A root is stored when any repetition's copy is needed outside its repetition.
        var storeRoot = [Bool](repeating: false, count: first.roots.count)
        for rep in reps {
            for (j, root) in rep.roots.enumerated() where !storeRoot[j] {
                if case .output? = plan.locations[root] { storeRoot[j] = true }
                if stored.contains(root) { storeRoot[j] = true }
            }
        }
        // Columns: the numbers of each read and stored root's address per repetition.
        var columns = AddressColumns(count: run.count)
        var readColumns: [(kind: Address.Kind, buffer: Int, offset: Int)] = []
        for j in first.reads.indices {
            let addresses = try reps.map { (rep) throws(Diagnostic) -> Address in try checkedAddress(rep.reads[j]) }
            readColumns.append(columns.add(addresses))
        }
        var rootColumns: [(kind: Address.Kind, buffer: Int, offset: Int)?] = []
        for j in first.roots.indices {
            guard storeRoot[j] else { rootColumns.append(nil); continue }
            let addresses = try reps.map { (rep) throws(Diagnostic) -> Address in try checkedAddress(rep.roots[j]) }
            rootColumns.append(columns.add(addresses))
        }
        let statements = (run.start..<(run.start + run.period)).reduce(0) { $0 + (scalarMembers[$1]?.count ?? 0) }
        w.line("/* steps \(run.start)..\(run.end - 1): \(run.count) repetitions of \(run.period) steps (\(statements) statements), re-rolled */")
        let table = "\(fn)_r\(run.start)"
        if columns.tableWidth > 0 {
            tables += cIntegerTable(name: table, values: columns.table(), wide: columns.wide)
        }
        // Workspace cells every repetition reads and writes at the same address (an
        // accumulator, a carried state) live in a local across the loop.
        let carried = columns.carriedCells(reads: readColumns, stores: rootColumns.compactMap { $0 })
        w.open("")
        for cell in carried {
            w.line("\(cLocalType(cell.dtype)) \(cell.name) = *((const \(cType(cell.dtype)) *)(ws + \(cell.offset)));")
        }
        w.open("for (int64_t r = 0; r < \(run.count); ++r)")
        if columns.tableWidth > 0 {
            w.line("const \(columns.wide ? "int64_t" : "int32_t") *t = \(table).v + \(columns.tableWidth) * r;")
        }
        // The template: instance 0's members, operands renamed by position.
        var local: [ValueID: String] = [:]
        var loaded: [ValueID: String] = [:]
        var memberNumber = 0
        var rootIndex = 0
        for i in run.start..<(run.start + run.period) {
            guard let members = scalarMembers[i], let root = members.last else { continue }
            for m in members {
                var operands: [String] = []
                for o in f.nodes[m].inputs {
                    if let name = local[o] ?? loaded[o] {
                        operands.append(name)
                    } else if let lit = splat[plan.storageRoot[o]] {
                        operands.append(lit)
                    } else if let j = first.reads.firstIndex(of: o) {
                        let name = "e\(j)"
                        let dtype = type(o).dtype
                        w.line("const \(cLocalType(dtype)) \(name) = \(columns.access(readColumns[j], dtype, fn: fn, readOnly: true));")
                        loaded[o] = name
                        operands.append(name)
                    } else {
                        throw Diagnostic(.other("C backend: re-rolled step \(i) reads %\(o) from nowhere"))
                    }
                }
                let name = "v\(memberNumber)"
                memberNumber += 1
                w.line("const \(cLocalType(type(m).dtype)) \(name) = \(try formula(m, operands));")
                local[m] = name
            }
            if let c = rootColumns[rootIndex], let name = local[root] {
                let dtype = type(root).dtype
                w.line("\(columns.access(c, dtype, fn: fn, readOnly: false)) = (\(cType(dtype)))\(name);")
            }
            rootIndex += 1
        }
        w.close()
        for cell in carried where cell.written {
            w.line("*((\(cType(cell.dtype)) *)(ws + \(cell.offset))) = (\(cType(cell.dtype)))\(cell.name);")
        }
        w.close()
    }

    private func checkedAddress(_ id: ValueID) throws(Diagnostic) -> Address {
        guard let a = address(id) else { throw Diagnostic(.other("C backend: value %\(id) has no buffer in the plan")) }
        if case .constant(let c, _) = a.kind { readConstants.insert(c) }
        return a
    }
}

/// The varying numbers of a run's addresses: each column is constant, affine in the
/// repetition number `r`, or read from the run's table (`t[j]`, row `r`).
private struct AddressColumns {
    enum Column {
        case constant(Int)
        case affine(Int, Int)
        case table(Int)
    }
    let count: Int
    /// Row-major, `tableWidth` numbers per repetition.
    var tableWidth = 0
    var wide = false
    private var tableColumns: [[Int]] = []

    init(count: Int) { self.count = count }

    /// Adds the columns of one address per repetition (all of one kind); returns its kind and
    /// the indices of its buffer and offset columns in `columns`.
    mutating func add(_ addresses: [Address]) -> (kind: Address.Kind, buffer: Int, offset: Int) {
        let kind = addresses[0].kind
        let b = column(addresses.map(\.buffer))
        let o = column(addresses.map(\.offset))
        return (kind, b, o)
    }

    private(set) var columns: [Column] = []
    /// Offset columns whose cell lives in a local during the loop (`carriedCells`).
    private(set) var carriedName: [Int: String] = [:]

    struct CarriedCell {
        var name: String
        var offset: Int
        var dtype: DType
        var written: Bool
    }

    /// The workspace cells at a constant address that no other access of any repetition
    /// overlaps, every access to them with one dtype: they can live in a local for the whole
    /// loop (loaded before, stored after when written), which keeps a carried value such as
    /// an accumulator out of memory.
    mutating func carriedCells(reads: [(kind: Address.Kind, buffer: Int, offset: Int)],
                               stores: [(kind: Address.Kind, buffer: Int, offset: Int)]) -> [CarriedCell] {
        // Every workspace access: its offset column and byte size.
        var spans: [(column: Int, size: Int, dtype: DType, isStore: Bool)] = []
        for (a, isStore) in reads.map({ ($0, false) }) + stores.map({ ($0, true) }) {
            guard case .workspace(let d) = a.kind else { continue }
            spans.append((a.offset, d.byteSize, d, isStore))
        }
        var cells: [CarriedCell] = []
        var byOffset: [Int: Int] = [:]
        for span in spans {
            guard case .constant(let c) = columns[span.column] else { continue }
            if let k = byOffset[c] {
                if k >= 0 && cells[k].dtype == span.dtype { continue }
                byOffset[c] = -1
                continue
            }
            byOffset[c] = cells.count
            cells.append(CarriedCell(name: "c\(cells.count)", offset: c, dtype: span.dtype, written: false))
        }
        var keep = cells.indices.map { byOffset[cells[$0].offset] == $0 }
        // No other access may overlap a kept cell in any repetition.
        for (k, cell) in cells.enumerated() where keep[k] {
            let lo = cell.offset, hi = cell.offset + cell.dtype.byteSize
            for span in spans {
                if case .constant(let c) = columns[span.column], c == cell.offset { continue }
                for r in 0..<count {
                    let v = value(span.column, r)
                    if v < hi && v + span.size > lo { keep[k] = false; break }
                }
                if !keep[k] { break }
            }
        }
        var result: [CarriedCell] = []
        for (k, var cell) in cells.enumerated() where keep[k] {
            cell.name = "c\(result.count)"
            for span in spans {
                guard case .constant(let c) = columns[span.column], c == cell.offset else { continue }
                carriedName[span.column] = cell.name
                if span.isStore { cell.written = true }
            }
            result.append(cell)
        }
        return result
    }

    /// Column `c`'s number in repetition `r`.
    func value(_ c: Int, _ r: Int) -> Int {
        switch columns[c] {
        case .constant(let v): return v
        case .affine(let a, let d): return a + d * r
        case .table(let j): return tableColumns[j][r]
        }
    }

    private mutating func column(_ values: [Int]) -> Int {
        let v0 = values[0]
        let d = values.count > 1 ? values[1] - v0 : 0
        var affine = true
        for (k, v) in values.enumerated() where v != v0 + d * k {
            affine = false
            break
        }
        if affine {
            columns.append(d == 0 ? .constant(v0) : .affine(v0, d))
        } else {
            columns.append(.table(tableWidth))
            tableColumns.append(values)
            tableWidth += 1
            if values.contains(where: { $0 > Int(Int32.max) || $0 < Int(Int32.min) }) { wide = true }
        }
        return columns.count - 1
    }

    /// The table, row-major: `tableWidth` numbers per repetition.
    func table() -> [Int] {
        var t = [Int](repeating: 0, count: count * tableWidth)
        for (j, col) in tableColumns.enumerated() {
            for k in 0..<count { t[k * tableWidth + j] = col[k] }
        }
        return t
    }

    func expression(_ c: Int) -> String {
        switch columns[c] {
        case .constant(let v): return "\(v)"
        case .affine(let a, let d): return d >= 0 ? "(\(a) + \(d) * r)" : "(\(a) - \(-d) * r)"
        case .table(let j): return "t[\(j)]"
        }
    }

    /// The C lvalue or rvalue of one address of the run.
    func access(_ a: (kind: Address.Kind, buffer: Int, offset: Int), _ dtype: DType, fn: String, readOnly: Bool) -> String {
        if let name = carriedName[a.offset] { return name }
        let t = cType(dtype)
        let q = readOnly ? "const " : ""
        let offset = expression(a.offset)
        switch a.kind {
        case .workspace: return "*((\(q)\(t) *)(ws + \(offset)))"
        case .input: return "((const \(t) *)in[\(expression(a.buffer))])[\(offset)]"
        case .output: return "((\(t) *)out[\(expression(a.buffer))])[\(offset)]"
        case .constant(let c, _): return "\(fn)_c\(c)[\(offset)]"
        }
    }
}
