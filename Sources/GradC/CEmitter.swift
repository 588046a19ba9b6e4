import GradRuntime
import GradLowering

/// Options of the C emitter.
public struct CEmitOptions: Sendable, Hashable {
    /// Split large matrix products over two threads (pthreads).
    public var threads: Bool
    /// Statements per generated C function before straight-line code (large scalar graphs)
    /// is cut into another function, so that `cc` stays fast.
    public var chunkStatements: Int
    /// Let the matmul kernel use fused multiply-add (`fp-contract=fast` scoped to the kernel):
    /// faster on CPUs with FMA, but matmul results then differ from the reference by a few
    /// ulp. Off: every result is bit for bit the reference's.
    public var fma: Bool
    /// Emit long repetitions of the same straight-line scalar steps as one loop over an
    /// address table (CEmitter+Reroll.swift) instead of statement by statement.
    public var reroll: Bool

    public init(threads: Bool = true, chunkStatements: Int = 400, fma: Bool = true, reroll: Bool = true) {
        self.threads = threads
        self.chunkStatements = chunkStatements
        self.fma = fma
        self.reroll = reroll
    }
}

/// The status an emitted function returns when workspace was NULL and could not be allocated.
public let cAllocationFailureStatus: Int32 = 1
/// The status an emitted function returns when an index of an indexing op (`take`,
/// `scatter_add`, …) is out of range: every index is checked before it is used, so no read
/// or write leaves a buffer; the outputs are then unspecified.
public let cIndexOutOfRangeStatus: Int32 = 2

/// The ABI of one emitted function.
public struct CFunctionABI: Sendable, Hashable {
    /// The exported symbol: `int SYMBOL(const void *const *inputs, void *const *outputs, void *workspace)`,
    /// with its metadata functions `SYMBOL_num_inputs`, `SYMBOL_input`, … (docs/c-abi.md).
    public var symbol: String
    /// Bytes of workspace the function needs (`workspace` may be NULL: it then allocates).
    public var workspaceBytes: Int
    public var inputs: [TensorType]
    public var outputs: [TensorType]
    /// The names the metadata gives the inputs and outputs: the function's parameter and
    /// output names where they are identifiers, nil for any other text (which never reaches C).
    public var inputNames: [String?]
    public var outputNames: [String?]
    /// The pattern of each sparse output (`NAME_output_pattern`), nil for a dense one.
    public var outputPatterns: [SparsityPattern?]

    public init(symbol: String, workspaceBytes: Int, inputs: [TensorType], outputs: [TensorType],
                inputNames: [String?], outputNames: [String?], outputPatterns: [SparsityPattern?] = []) {
        self.symbol = symbol
        self.workspaceBytes = workspaceBytes
        self.inputs = inputs
        self.outputs = outputs
        self.inputNames = inputNames
        self.outputNames = outputNames
        self.outputPatterns = outputPatterns
    }
}

/// The version of the C ABI's metadata (`NAME_abi_version()`, `GRADC_ABI_VERSION`): changes
/// whenever the calling convention or `gradc_tensor_info` changes.
public let cABIVersion = 1

/// A module's C translation unit and header.
public struct CModuleSource: Sendable {
    /// `model.c`: self-contained (needs only libc and libm).
    public var source: String
    /// `model.h`: the documented ABI.
    public var header: String
    /// The prefix of the module's internal (`static`) names, `gradc_<8 hex digits of the
    /// code's hash>`.
    public var prefix: String
    public var functions: [CFunctionABI]
    /// Whether the code calls pthreads (compile with `-pthread`).
    public var usesThreads: Bool
    /// Whether some function is long straight-line scalar code, cut into several C functions.
    public var straightLine: Bool
}

/// Emits C for already expanded (and optimized) functions, one exported C function each.
///
/// `names` are the exported C names, one per function; each must pass `cNameProblem` and
/// not collide with another function's names (else this throws). Without them, each function is exported under its own name where that is such a
/// name, else as `gradc_<hash>_<k>`.
///
/// No other user-written text reaches the C source or the header: parameter and output names
/// appear (in comments and the metadata) only when they are identifiers, and every other
/// identifier is generated from the code's hash and indices.
public func emitC(_ functions: [Function], options: CEmitOptions = CEmitOptions(), headerName: String = "model.h",
                  names: [String]? = nil) throws(Diagnostic) -> CModuleSource {
    if let names, names.count != functions.count {
        throw Diagnostic(.other("C backend: \(names.count) C names for \(functions.count) functions"))
    }
    var bodies = ""
    var needs: Set<DType> = []
    var threads = false
    var straightLine = false
    var abis: [CFunctionABI] = []
    for (k, f) in functions.enumerated() {
        let plan = try ExecutionPlan(f)
        let e = FunctionEmitter(plan: plan, index: k, options: options)
        try e.emit()
        bodies += e.w.text
        needs.formUnion(e.matmulTypes)
        threads = threads || e.usesThreads
        straightLine = straightLine || e.terseScalars
        abis.append(CFunctionABI(symbol: "", workspaceBytes: e.workspaceBytes,
                                 inputs: f.parameters.map { f.type(of: $0.value) },
                                 outputs: f.outputs.map { f.type(of: $0.value) },
                                 inputNames: f.parameters.map { Identifier.isValid($0.name) ? $0.name : nil },
                                 outputNames: f.outputs.map { Identifier.isValid($0.name) ? $0.name : nil },
                                 outputPatterns: f.outputs.contains { $0.pattern != nil } ? f.outputs.map(\.pattern) : []))
    }
    var kernels = ""
    for d in [DType.f64, .f32] where needs.contains(d) {
        kernels += matmulKernelSource(d, threads: threads, fma: options.fma)
    }
    var includes = ["stdint.h", "stdlib.h", "string.h", "math.h"]
    if threads { includes.append("pthread.h") }
    let templ = includes.map { "#include <\($0)>" }.joined(separator: "\n") + "\n\n" + ivdepMacro + "\n" + kernels + cHelperSource(usedIn: bodies) + bodies
    let prefix = modulePrefix(functions, options: options, names: names)
    let code = replacingToken("GRADCPFX", with: prefix, in: templ)
    let exported = try exportedCNames(functions, names: names, prefix: prefix)
    var interface = tensorInfoDefinition + "\n"
    for k in abis.indices {
        abis[k].symbol = exported[k]
        interface += exportedDefinitions(abis[k], body: "\(prefix)_f\(k)", prefix: "\(prefix)_f\(k)")
    }
    let c = "/* Generated by gradc \(gradcVersion). ABI: see \(cCommentSafe(headerName)). Compile with -ffp-contract=off"
        + (threads ? " -pthread" : "") + " and link with -lm. */\n" + code + interface
    let guardName = "GRADC_MODULE_\(sha256Hex(c).prefix(12).uppercased())_H"
    let header = makeHeader(guardName: guardName, abis: abis, threads: threads, fma: options.fma && !needs.isEmpty)
    return CModuleSource(source: c, header: header, prefix: prefix, functions: abis, usesThreads: threads, straightLine: straightLine)
}

/// `#pragma GCC ivdep` for GCC only (Clang does not know it and would warn at every loop).
let ivdepMacro = """
    #if defined(__GNUC__) && !defined(__clang__)
    #define GRADC_IVDEP _Pragma("GCC ivdep")
    #else
    #define GRADC_IVDEP
    #endif

    """

// MARK: - Exported names

/// The given names, checked: usable (`cNameProblem`), and no two functions' names (with
/// their metadata names) overlapping.
private func checkedCNames(_ names: [String], _ functions: [Function]) throws(Diagnostic) -> [String] {
    var taken: [String: Int] = [:]
    for (k, name) in names.enumerated() {
        let what = "cannot export function \(Identifier.quoted(functions[k].name)) as C name \(Identifier.quoted(name))"
        let hint = "; choose another name (gradc compile --prefix NAME)"
        if let problem = cNameProblem(name) { throw Diagnostic(.other("\(what): \(problem)\(hint)")) }
        for n in cExportedNames(name) {
            if let other = taken[n] {
                throw Diagnostic(.other("\(what): '\(n)' is also a name of the C interface of function \(Identifier.quoted(functions[other].name))\(hint)"))
            }
            taken[n] = k
        }
    }
    return names
}

/// The prefix of a module's internal names, `gradc_<8 hex digits>` of the functions' digest
/// (not of the C: the compile cache computes it, and the exported names, without emitting).
func modulePrefix(_ functions: [Function], options: CEmitOptions, names: [String]?) -> String {
    "gradc_" + hexString(ModuleDigest.of(functions, options: options, names: names)).prefix(8)
}

/// The exported C names of `functions`: `names` checked, or (without them) the defaults.
func exportedCNames(_ functions: [Function], names: [String]?, prefix: String) throws(Diagnostic) -> [String] {
    if let names { return try checkedCNames(names, functions) }
    return defaultCNames(functions, prefix: prefix)
}

/// Each function's own name where `checkedCNames` would accept it, else `gradc_<hash>_<k>`.
private func defaultCNames(_ functions: [Function], prefix: String) -> [String] {
    var taken: Set<String> = []
    var names: [String] = []
    for (k, f) in functions.enumerated() {
        let own = cExportedNames(f.name)
        let usable = cNameProblem(f.name) == nil && own.allSatisfy { !taken.contains($0) }
        let name = usable ? f.name : "\(prefix)_\(k)"
        taken.formUnion(cExportedNames(name))
        names.append(name)
    }
    return names
}

// MARK: - Metadata

/// The type of the metadata (in the source and the header; guarded, so both and several
/// modules' headers can meet in one translation unit).
let tensorInfoDefinition = """
    #ifndef GRADC_TENSOR_INFO_DEFINED
    #define GRADC_TENSOR_INFO_DEFINED
    #define GRADC_ABI_VERSION \(cABIVersion)
    /* One input or output of an exported function, as NAME_input(i) and NAME_output(i) give it. */
    typedef struct gradc_tensor_info {
        const char *name;      /* the parameter or output name (an identifier), or NULL */
        const char *dtype;     /* "f64" (double), "f32" (float), "i64" (int64_t) or "bool" (uint8_t 0 or 1) */
        int32_t rank;          /* number of axes, 0 for a scalar */
        const int64_t *shape;  /* rank extents, outermost first (row-major); NULL when rank is 0 */
        int64_t count;         /* elements: the product of the extents (1 for a scalar) */
    } gradc_tensor_info;
    #endif

    """

/// The exported function (a call of its static body) and its metadata functions.
private func exportedDefinitions(_ abi: CFunctionABI, body: String, prefix p: String) -> String {
    var w = CWriter()
    let s = abi.symbol
    w.line("/* ---- \(s): the exported function and its metadata (documented in the header) ---- */")
    for (kind, tensors, names) in [("in", abi.inputs, abi.inputNames), ("out", abi.outputs, abi.outputNames)] where !tensors.isEmpty {
        for (i, t) in tensors.enumerated() where t.rank > 0 {
            w.line("static const int64_t \(p)_\(kind)\(i)_shape[\(t.rank)] = {\(t.shape.map(String.init).joined(separator: ", "))};")
        }
        w.line("static const gradc_tensor_info \(p)_\(kind)[\(tensors.count)] = {")
        for (i, t) in tensors.enumerated() {
            let name = names[i].map { "\"\($0)\"" } ?? "NULL"
            let shape = t.rank > 0 ? "\(p)_\(kind)\(i)_shape" : "NULL"
            w.line("    {\(name), \"\(t.dtype.rawValue)\", \(t.rank), \(shape), \(t.count)},")
        }
        w.line("};")
    }
    w.line("int \(s)(const void *const *inputs, void *const *outputs, void *workspace)")
    w.open("")
    w.line("return \(body)(inputs, outputs, workspace);")
    w.close()
    w.text += patternDefinitions(abi, prefix: p)
    w.line("int32_t \(s)_abi_version(void) { return GRADC_ABI_VERSION; }")
    w.line("int32_t \(s)_num_inputs(void) { return \(abi.inputs.count); }")
    w.line("int32_t \(s)_num_outputs(void) { return \(abi.outputs.count); }")
    w.line("int64_t \(s)_workspace_bytes(void) { return \(abi.workspaceBytes); }")
    for (kind, word, n) in [("in", "input", abi.inputs.count), ("out", "output", abi.outputs.count)] {
        if n == 0 {
            w.line("const gradc_tensor_info *\(s)_\(word)(int32_t i) { (void)i; return NULL; }")
        } else {
            w.line("const gradc_tensor_info *\(s)_\(word)(int32_t i) { return i >= 0 && i < \(n) ? &\(p)_\(kind)[i] : NULL; }")
        }
    }
    w.line("")
    return w.text
}

/// `NAME_output_pattern`: the CSR pattern of each sparse output, as static arrays (numbers
/// gradc computed; nothing of the user's) copied out on request.
private func patternDefinitions(_ abi: CFunctionABI, prefix p: String) -> String {
    var w = CWriter()
    var cases: [(Int, SparsityPattern)] = []
    for (i, pattern) in abi.outputPatterns.enumerated() {
        guard let pattern else { continue }
        cases.append((i, pattern))
        w.line("static const int64_t \(p)_pat\(i)_rows[\(pattern.rowStarts.count)] = {\(pattern.rowStarts.map(String.init).joined(separator: ","))};")
        // (A zero-length array is not C: an empty pattern gets one unused element.)
        let columns = pattern.columnIndices.isEmpty ? "0" : pattern.columnIndices.map(String.init).joined(separator: ",")
        w.line("static const int32_t \(p)_pat\(i)_cols[\(max(1, pattern.nonZeroCount))] = {\(columns)};")
    }
    w.line("int32_t \(abi.symbol)_output_pattern(int32_t i, int64_t *rows, int64_t *columns, int64_t *row_starts, int64_t *column_indices)")
    w.open("")
    w.line("const int64_t *rs; const int32_t *cs; int64_t m, n, nnz;")
    w.line("switch (i)")
    w.open("")
    for (i, pattern) in cases {
        w.line("case \(i): rs = \(p)_pat\(i)_rows; cs = \(p)_pat\(i)_cols; m = \(pattern.rows); n = \(pattern.columns); nnz = \(pattern.nonZeroCount); break;")
    }
    w.line("default: return -1;")
    w.close()
    w.line("if (rows) *rows = m;")
    w.line("if (columns) *columns = n;")
    w.line("if (row_starts) memcpy(row_starts, rs, (size_t)(m + 1) * sizeof(int64_t));")
    w.line("if (column_indices) for (int64_t k = 0; k < nnz; k++) column_indices[k] = cs[k];")
    w.line("return 0;")
    w.close()
    return w.text
}

// MARK: - Header

private func makeHeader(guardName: String, abis: [CFunctionABI], threads: Bool, fma: Bool) -> String {
    var w = CWriter()
    w.line("/* Generated by gradc \(gradcVersion): the ABI of the functions in the matching .c file (docs/c-abi.md).")
    w.line(" *")
    w.line(" * Build: cc -O2 -ffp-contract=off -c model.c" + (threads ? " -pthread" : "") + "   (the .c needs only libc and libm: link with -lm)")
    w.line(" * For bit-identical results with gradc also pass -fno-builtin-<f> for each libm function")
    w.line(" * f in \(inexactLibmFunctions.joined(separator: " ")) (and their float forms), so that")
    w.line(" * the compiler calls libm instead of folding or rewriting them.")
    w.line(" *")
    w.line(" * Every function NAME below has the signature")
    w.line(" *")
    w.line(" *     int NAME(const void *const *inputs, void *const *outputs, void *workspace);")
    w.line(" *")
    w.line(" * inputs[i]  points to input i, outputs[j] to output j: dense, row-major (C order) arrays of")
    w.line(" *            the element type listed below (f64 = double, f32 = float, i64 = int64_t,")
    w.line(" *            bool = uint8_t holding 0 or 1). A scalar is a pointer to one element.")
    w.line(" *            Outputs must not overlap inputs or each other.")
    w.line(" * workspace  NAME_WORKSPACE_BYTES bytes of scratch memory (64-byte aligned is fastest),")
    w.line(" *            reusable across calls but not shared by concurrent calls; NULL makes the")
    w.line(" *            function allocate and free its own.")
    w.line(" * returns    0 on success, \(cAllocationFailureStatus) if workspace was NULL and could not be allocated,")
    w.line(" *            \(cIndexOutOfRangeStatus) if an index input of take/scatter_add/... was out of range (nothing was")
    w.line(" *            read or written out of bounds; the outputs are then unspecified).")
    w.line(" *")
    w.line(" * The same facts at run time, for a caller that loads the code (dlopen/dlsym, ctypes):")
    w.line(" * NAME_num_inputs(), NAME_num_outputs(), NAME_workspace_bytes(), and NAME_input(i),")
    w.line(" * NAME_output(i): name, dtype, rank, shape and element count of input/output i (NULL when")
    w.line(" * i is out of range). NAME_abi_version() is GRADC_ABI_VERSION (\(cABIVersion)).")
    w.line(" *")
    w.line(" * Results agree with gradc's reference evaluator (same formulas, same libm calls, sums in")
    if fma {
        w.line(" * increasing index order). Exception: matrix products use fused multiply-add when the")
        w.line(" * target has it (e.g. -march=native on x86-64 with FMA), so they differ from the reference")
        w.line(" * within the bound of docs/numerics.md; everything else (elementwise ops, reductions, dot)")
        w.line(" * is bit for bit the reference's.")
    } else {
        w.line(" * increasing index order, no fused multiply-add): bit for bit the same.")
    }
    w.line(" */")
    w.line("#ifndef \(guardName)")
    w.line("#define \(guardName)")
    w.line("#include <stdint.h>")
    w.line("#ifdef __cplusplus")
    w.line("extern \"C\" {")
    w.line("#endif")
    w.line("")
    w.text += tensorInfoDefinition
    for (k, abi) in abis.enumerated() {
        let s = abi.symbol
        let ins = abi.inputNames.map { $0 ?? "_" }.joined(separator: ", ")
        let outs = abi.outputNames.map { $0 ?? "_" }.joined(separator: ", ")
        w.line("")
        w.line("/* \(s)(\(ins)) -> (\(outs)): function \(k) of the module.")
        let width = (abi.inputNames + abi.outputNames).map { ($0 ?? "-").count }.max() ?? 1
        func row(_ slot: String, _ name: String?, _ t: TensorType) -> String {
            let n = name ?? "-"
            return " *   \(slot.padding(toLength: 12, withPad: " ", startingAt: 0))\(n.padding(toLength: width + 2, withPad: " ", startingAt: 0))\(describe(t))"
        }
        for (i, t) in abi.inputs.enumerated() { w.line(row("inputs[\(i)]", abi.inputNames[i], t)) }
        for (i, t) in abi.outputs.enumerated() { w.line(row("outputs[\(i)]", abi.outputNames[i], t)) }
        w.line(" *   workspace   \(abi.workspaceBytes) bytes")
        w.line(" */")
        w.line("#define \(s)_NUM_INPUTS \(abi.inputs.count)")
        w.line("#define \(s)_NUM_OUTPUTS \(abi.outputs.count)")
        w.line("#define \(s)_WORKSPACE_BYTES \(abi.workspaceBytes)")
        w.line("int \(s)(const void *const *inputs, void *const *outputs, void *workspace);")
        w.line("int32_t \(s)_abi_version(void);")
        w.line("int32_t \(s)_num_inputs(void);")
        w.line("int32_t \(s)_num_outputs(void);")
        w.line("int64_t \(s)_workspace_bytes(void);")
        w.line("const gradc_tensor_info *\(s)_input(int32_t i);")
        w.line("const gradc_tensor_info *\(s)_output(int32_t i);")
        w.line("/* Output i of a sparse jacobian/hessian holds the non-zeros of a rows x columns pattern in CSR order:")
        w.line(" * this writes rows, columns, the rows+1 row starts and the non-zeros' column indices (each pointer")
        w.line(" * may be NULL) and returns 0, or returns -1 for a dense output. */")
        w.line("int32_t \(s)_output_pattern(int32_t i, int64_t *rows, int64_t *columns, int64_t *row_starts, int64_t *column_indices);")
        for (i, pattern) in abi.outputPatterns.enumerated() {
            guard let pattern else { continue }
            w.line("/*   outputs[\(i)] is sparse: \(pattern.rows) x \(pattern.columns), \(pattern.nonZeroCount) non-zeros */")
        }
    }
    w.line("")
    w.line("#ifdef __cplusplus")
    w.line("}")
    w.line("#endif")
    w.line("#endif")
    return w.text
}

private func describe(_ t: TensorType) -> String {
    let shape = t.shape.isEmpty ? "scalar" : "shape [\(t.shape.map(String.init).joined(separator: ", "))], \(t.count) elements, row-major"
    return "\(t.dtype.rawValue) (\(cType(t.dtype))), \(shape)"
}
