import Foundation
import GradRuntime
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The C signature of every emitted function.
typealias CEntry = @convention(c) (UnsafePointer<UnsafeRawPointer?>?, UnsafePointer<UnsafeMutableRawPointer?>?, UnsafeMutableRawPointer?) -> Int32

/// A shared object opened with `dlopen(RTLD_NOW | RTLD_LOCAL)`; closed when released.
public final class CLibrary: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    /// The file the library stands for (in messages).
    public let path: String

    /// Opens `file` (by default `path`); the cache opens a checked private copy of its entry.
    public init(path: String, loadingFrom file: String? = nil) throws(Diagnostic) {
        guard let h = dlopen(file ?? path, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown error"
            throw Diagnostic(.other("cannot load '\(path)': \(reason)"))
        }
        handle = h
        self.path = path
    }

    func symbol(_ name: String) throws(Diagnostic) -> CEntry {
        unsafeBitCast(try address(name), to: CEntry.self)
    }

    func address(_ name: String) throws(Diagnostic) -> UnsafeMutableRawPointer {
        guard let p = dlsym(handle, name) else {
            throw Diagnostic(.other("'\(path)' has no symbol \(name)"))
        }
        return p
    }

    /// The ABI of exported function `name`, read from the library's own metadata
    /// (`name_num_inputs`, `name_input(i)`, …: docs/c-abi.md). The library is code gradc
    /// generated, but its answers are still checked (counts, dtypes, ranks, shapes and sizes
    /// within bounds) before they become types.
    public func functionABI(named name: String) throws(Diagnostic) -> CFunctionABI {
        guard Identifier.isValid(name), name.utf8.count <= maxCNameLength else {
            throw Diagnostic(.other("\(Identifier.quoted(name)) cannot name a gradc C function: not an identifier of at most \(maxCNameLength) characters"))
        }
        typealias Count = @convention(c) () -> Int32
        typealias Size = @convention(c) () -> Int64
        typealias Info = @convention(c) (Int32) -> UnsafeRawPointer?
        let version = unsafeBitCast(try address(name + "_abi_version"), to: Count.self)()
        guard version == Int32(cABIVersion) else {
            throw Diagnostic(.other("'\(path)': \(name) has C ABI version \(version); this gradc reads version \(cABIVersion)"))
        }
        let workspace = unsafeBitCast(try address(name + "_workspace_bytes"), to: Size.self)()
        guard workspace >= 0, workspace <= Int64(Int32.max) * 64 else {
            throw Diagnostic(.other("'\(path)': \(name) reports a workspace of \(workspace) bytes"))
        }
        func tensors(_ word: String) throws(Diagnostic) -> (types: [TensorType], names: [String?]) {
            let count = unsafeBitCast(try address(name + "_num_\(word)s"), to: Count.self)()
            let info = unsafeBitCast(try address(name + "_\(word)"), to: Info.self)
            guard (0...4096).contains(count) else {
                throw Diagnostic(.other("'\(path)': \(name) reports \(count) \(word)s"))
            }
            var types: [TensorType] = []
            var names: [String?] = []
            for i in 0..<count {
                guard let p = info(i), let t = CTensorInfo(p) else {
                    throw Diagnostic(.other("'\(path)': \(name)_\(word)(\(i)) is missing or malformed"))
                }
                types.append(t.type)
                names.append(t.name)
            }
            return (types, names)
        }
        let inputs = try tensors("input")
        let outputs = try tensors("output")
        // The sparse outputs' patterns, checked like the rest: the row count bounded by the
        // output's non-zero count's scale, the CSR arrays consistent.
        typealias Pattern = @convention(c) (Int32, UnsafeMutablePointer<Int64>?, UnsafeMutablePointer<Int64>?,
                                            UnsafeMutablePointer<Int64>?, UnsafeMutablePointer<Int64>?) -> Int32
        var patterns: [SparsityPattern?] = []
        if let symbol = try? address(name + "_output_pattern") {
            let pattern = unsafeBitCast(symbol, to: Pattern.self)
            for (i, t) in outputs.types.enumerated() {
                var rows: Int64 = -1, columns: Int64 = -1
                guard pattern(Int32(i), &rows, &columns, nil, nil) == 0 else {
                    patterns.append(nil)
                    continue
                }
                // gradc makes no pattern with more rows than Sparsity.defaultLimit.
                guard t.rank == 1, rows >= 0, columns >= 0, rows <= Int64(Sparsity.defaultLimit), columns <= Int64(Int32.max) else {
                    throw Diagnostic(.other("'\(path)': \(name)_output_pattern(\(i)) reports a \(rows)×\(columns) pattern for a \(t) output"))
                }
                // The row starts first: the column indices are asked for only once the
                // non-zero count is known to be the output's (the buffer's size).
                var starts = [Int64](repeating: 0, count: Int(rows) + 1)
                guard pattern(Int32(i), nil, nil, &starts, nil) == 0, starts.first == 0, starts.last == Int64(t.count) else {
                    throw Diagnostic(.other("'\(path)': \(name)_output_pattern(\(i)) is malformed"))
                }
                var indices = [Int64](repeating: 0, count: t.count)
                guard pattern(Int32(i), nil, nil, nil, &indices) == 0 else {
                    throw Diagnostic(.other("'\(path)': \(name)_output_pattern(\(i)) is malformed"))
                }
                guard let p = SparsityPattern(rows: Int(rows), columns: Int(columns), rowStarts: starts.map { Int($0) },
                                              columnIndices: indices.map { Int32(truncatingIfNeeded: $0) }),
                      p.nonZeroCount == t.count, indices.allSatisfy({ $0 >= 0 && $0 < columns }) else {
                    throw Diagnostic(.other("'\(path)': \(name)_output_pattern(\(i)) is malformed"))
                }
                patterns.append(p)
            }
        }
        if patterns.allSatisfy({ $0 == nil }) { patterns = [] }
        return CFunctionABI(symbol: name, workspaceBytes: Int(workspace), inputs: inputs.types, outputs: outputs.types,
                            inputNames: inputs.names, outputNames: outputs.names, outputPatterns: patterns)
    }

    deinit {
        dlclose(handle)
    }
}

/// One compiled function: checks the inputs' dtypes and shapes, then calls the C code.
///
/// Calls on one kernel are serialized (they share its workspace); separate kernels run
/// concurrently.
public final class CKernel: @unchecked Sendable {
    public let abi: CFunctionABI
    let library: CLibrary
    let entry: CEntry
    let workspace: UnsafeMutableRawPointer?
    let lock = NSLock()

    /// Loads exported function `abi.symbol`, after checking that the library's metadata
    /// describes the same function (a stale or foreign `.so` is refused, not called).
    init(library: CLibrary, abi: CFunctionABI) throws(Diagnostic) {
        let described = try library.functionABI(named: abi.symbol)
        guard described == abi else {
            throw Diagnostic(.other("'\(library.path)': \(abi.symbol) is not the function that was emitted (its metadata differs)"))
        }
        self.library = library
        self.abi = abi
        entry = try library.symbol(abi.symbol)
        workspace = abi.workspaceBytes > 0 ? UnsafeMutableRawPointer.allocate(byteCount: abi.workspaceBytes, alignment: 64) : nil
    }

    /// Loads exported function `name` of a library that gradc compiled, as its metadata
    /// describes it.
    public convenience init(library: CLibrary, name: String) throws(Diagnostic) {
        try self.init(library: library, abi: library.functionABI(named: name))
    }

    deinit {
        workspace?.deallocate()
    }

    /// Runs the function on `inputs` (in parameter order).
    public func run(_ inputs: [Tensor]) throws(Diagnostic) -> [Tensor] {
        guard inputs.count == abi.inputs.count else {
            throw Diagnostic(.other("the function takes \(abi.inputs.count) inputs, got \(inputs.count)"))
        }
        for (i, (t, expected)) in zip(inputs, abi.inputs).enumerated() where t.type != expected {
            throw Diagnostic(.inputTypeMismatch(name: "input \(i)", expected: expected, got: t.type))
        }
        var outputs = abi.outputs.map { Self.zeros($0) }
        let status: Int32 = withRawPointers(inputs.map(\.storage)) { inPointers in
            withMutableRawPointers(&outputs) { outPointers in
                lock.lock()
                defer { lock.unlock() }
                return inPointers.withUnsafeBufferPointer { ip in
                    outPointers.withUnsafeBufferPointer { op in
                        entry(ip.baseAddress, op.baseAddress, workspace)
                    }
                }
            }
        }
        guard status == 0 else {
            let why = status == cIndexOutOfRangeStatus ? ": an index was out of range (the reference and bytecode backends name the op, its location and the value)" : ""
            throw Diagnostic(.other("the compiled C function failed (status \(status))\(why)"))
        }
        var result: [Tensor] = []
        for (storage, t) in zip(outputs, abi.outputs) {
            guard let tensor = Tensor(storage, shape: t.shape) else {
                throw Diagnostic(.other("the compiled C function returned a malformed \(t)"))
            }
            result.append(tensor)
        }
        return result
    }

    /// Calls the C function on raw buffers with no checks (the ABI of model.h, with this
    /// kernel's workspace): for benchmarks and callers that manage their own memory.
    public func callUnchecked(_ inputs: UnsafePointer<UnsafeRawPointer?>, _ outputs: UnsafePointer<UnsafeMutableRawPointer?>) -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        return entry(inputs, outputs, workspace)
    }

    static func zeros(_ t: TensorType) -> Tensor.Storage {
        let n = t.count
        switch t.dtype {
        case .f32: return .f32([Float](repeating: 0, count: n))
        case .f64: return .f64([Double](repeating: 0, count: n))
        case .i64: return .i64([Int64](repeating: 0, count: n))
        case .bool: return .bool([Bool](repeating: false, count: n))
        }
    }
}

/// One `gradc_tensor_info` (name, dtype, rank, shape, count: the C struct's fields in order,
/// at their natural C offsets), checked.
struct CTensorInfo {
    var name: String?
    var type: TensorType

    /// Largest rank and element count accepted from a library's metadata.
    static let maxRank = 64
    static let maxCount = Int64(1) << 40

    init?(_ p: UnsafeRawPointer) {
        let word = MemoryLayout<UnsafeRawPointer>.stride
        func aligned(_ offset: Int, _ alignment: Int) -> Int { (offset + alignment - 1) / alignment * alignment }
        let rankOffset = 2 * word
        let shapeOffset = aligned(rankOffset + 4, word)
        let countOffset = aligned(shapeOffset + word, 8)
        let namePointer = p.loadUnaligned(as: UnsafePointer<CChar>?.self)
        guard let dtypePointer = p.loadUnaligned(fromByteOffset: word, as: UnsafePointer<CChar>?.self),
              let dtype = DType(rawValue: String(cString: dtypePointer)) else { return nil }
        let rank = Int(p.loadUnaligned(fromByteOffset: rankOffset, as: Int32.self))
        let shapePointer = p.loadUnaligned(fromByteOffset: shapeOffset, as: UnsafePointer<Int64>?.self)
        let count = p.loadUnaligned(fromByteOffset: countOffset, as: Int64.self)
        guard (0...Self.maxRank).contains(rank), (0...Self.maxCount).contains(count) else { return nil }
        var shape: [Int] = []
        var product: Int64 = 1
        if rank > 0 {
            guard let shapePointer else { return nil }
            for i in 0..<rank {
                let extent = shapePointer[i]
                guard (0...Self.maxCount).contains(extent) else { return nil }
                let (next, overflow) = product.multipliedReportingOverflow(by: extent)
                guard !overflow, next <= Self.maxCount else { return nil }
                product = next
                shape.append(Int(extent))
            }
        }
        guard product == count else { return nil }
        name = namePointer.map { String(cString: $0) }.flatMap { Identifier.isValid($0) ? $0 : nil }
        type = TensorType(dtype, shape)
    }
}

/// Calls `body` with the base addresses of every storage (kept alive and pinned meanwhile).
public func withRawPointers<R>(_ storages: [Tensor.Storage], _ body: ([UnsafeRawPointer?]) -> R) -> R {
    var pointers: [UnsafeRawPointer?] = []
    pointers.reserveCapacity(storages.count)
    func step(_ i: Int) -> R {
        if i == storages.count { return body(pointers) }
        switch storages[i] {
        case .f32(let v): return v.withUnsafeBytes { pointers.append($0.baseAddress); return step(i + 1) }
        case .f64(let v): return v.withUnsafeBytes { pointers.append($0.baseAddress); return step(i + 1) }
        case .i64(let v): return v.withUnsafeBytes { pointers.append($0.baseAddress); return step(i + 1) }
        case .bool(let v): return v.withUnsafeBytes { pointers.append($0.baseAddress); return step(i + 1) }
        }
    }
    return step(0)
}

/// Calls `body` with writable base addresses of every storage.
func withMutableRawPointers<R>(_ storages: inout [Tensor.Storage], _ body: ([UnsafeMutableRawPointer?]) -> R) -> R {
    var pointers: [UnsafeMutableRawPointer?] = []
    var arrays: [ContiguousArrayBox] = storages.map { ContiguousArrayBox($0) }
    for a in arrays { pointers.append(a.pointer) }
    let r = body(pointers)
    for i in arrays.indices { storages[i] = arrays[i].storage() }
    arrays.removeAll()
    return r
}

/// Owned, pinned memory for one output, turned into storage afterwards.
final class ContiguousArrayBox {
    let dtype: DType
    let count: Int
    let pointer: UnsafeMutableRawPointer

    init(_ s: Tensor.Storage) {
        switch s {
        case .f32(let v): (dtype, count) = (.f32, v.count)
        case .f64(let v): (dtype, count) = (.f64, v.count)
        case .i64(let v): (dtype, count) = (.i64, v.count)
        case .bool(let v): (dtype, count) = (.bool, v.count)
        }
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count * dtype.byteSize, 1), alignment: 64)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(count * dtype.byteSize, 1))
    }

    func storage() -> Tensor.Storage {
        switch dtype {
        case .f32: return .f32(Array(UnsafeBufferPointer(start: pointer.assumingMemoryBound(to: Float.self), count: count)))
        case .f64: return .f64(Array(UnsafeBufferPointer(start: pointer.assumingMemoryBound(to: Double.self), count: count)))
        case .i64: return .i64(Array(UnsafeBufferPointer(start: pointer.assumingMemoryBound(to: Int64.self), count: count)))
        case .bool: return .bool(UnsafeBufferPointer(start: pointer.assumingMemoryBound(to: UInt8.self), count: count).map { $0 != 0 })
        }
    }

    deinit {
        pointer.deallocate()
    }
}
