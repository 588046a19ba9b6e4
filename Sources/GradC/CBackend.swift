import Foundation
import GradRuntime

/// Options of the C backend.
public struct CBackendOptions: Sendable, Hashable {
    /// `-O2` (the default: with GCC it also gets `-fvect-cost-model=dynamic`, which keeps the
    /// loop vectorization of `-O3` at about half its compile time) or `-O3`.
    public var optimization: String
    /// Drop `-march=native` (code that runs on any CPU of the architecture) and fused
    /// multiply-add in the matmul kernel (every result bit for bit the reference's).
    public var portable: Bool
    public var emit: CEmitOptions

    public init(optimization: String = "-O2", portable: Bool = false, emit: CEmitOptions = CEmitOptions()) {
        self.optimization = optimization
        self.portable = portable
        self.emit = emit
    }

    /// The compiler flags (without output and input files).
    ///
    /// `straightLine`: the module is mostly long straight-line scalar code (cut into chunks).
    /// It is compiled at `-O1`: `-O2`/`-O3` cost 1.5–2× the compile time there for the same
    /// instructions (measured on the 200-link arm and Rosenbrock N=1000 graphs).
    ///
    /// `gcc`: the compiler is GCC (not Clang), which understands `-fvect-cost-model`.
    public func flags(threads: Bool, straightLine: Bool = false, gcc: Bool = true) -> [String] {
        var f = [straightLine && (optimization == "-O2" || optimization == "-O3") ? "-O1" : optimization]
        if gcc && f[0] == "-O2" { f.append("-fvect-cost-model=dynamic") }
        if !portable { f.append("-march=native") }
        f += ["-std=gnu11", "-ffp-contract=off", "-fno-math-errno", "-w"] + noBuiltinFlags
        if threads { f.append("-pthread") }
        return f
    }
}

/// Keeps the inexact libm functions real calls to libm, the same calls the reference makes
/// (`inexactLibmFunctions` says why).
public let noBuiltinFlags: [String] = inexactLibmFunctions.flatMap { ["-fno-builtin-\($0)", "-fno-builtin-\($0)f"] }

/// What a C build did (for `--verbose` output and the benchmarks).
public struct CBuildReport: Sendable {
    public var cacheHit: Bool
    public var objectPath: String
    /// Bytes of C generated: 0 on a cache hit, which generates none.
    public var sourceBytes: Int
}

/// Compiled C for a module: every function loaded and callable.
public final class CModule: @unchecked Sendable {
    /// The generated C; nil when the module came from the compile cache, which is consulted
    /// before any C is generated (call `emitC` for the source then).
    public let source: CModuleSource?
    public let library: CLibrary
    public let kernels: [CKernel]
    public let report: CBuildReport

    /// Emits, compiles (through the cache) and loads `functions` (already expanded).
    ///
    /// The cache key is a digest of the functions and the options (`cacheKey`), so a hit
    /// costs one pass over the graph: no lowering, no C, no compiler run.
    public init(_ functions: [Function], options: CBackendOptions = CBackendOptions(),
                environment: [String: String] = ProcessInfo.processInfo.environment) throws(Diagnostic) {
        var emit = options.emit
        if options.portable { emit.fma = false }
        let compiler = try CCompiler.find(environment: environment)
        let cache = try CCache.open(environment: environment)
        let digest = ModuleDigest.of(functions, options: emit, names: nil)
        let gcc = !compiler.identity.lowercased().contains("clang")
        var emitted: CModuleSource?
        let built = try cache.load(key: Self.cacheKey(digest: digest, options: options, compiler: compiler), compiler: compiler) { () throws(Diagnostic) in
            let src = try emitC(functions, options: emit)
            emitted = src
            return (src.source, options.flags(threads: src.usesThreads, straightLine: src.straightLine, gcc: gcc))
        }
        let lib = built.library
        var kernels: [CKernel] = []
        if let emitted {
            for abi in emitted.functions { kernels.append(try CKernel(library: lib, abi: abi)) }
        } else {
            // A hit: the object's own metadata gives each function's ABI, checked against the
            // functions' signatures (the key makes a mismatch all but impossible; a stale or
            // foreign entry would not pass the cache's trailer check in the first place).
            let symbols = try exportedCNames(functions, names: nil, prefix: "gradc_" + hexString(digest).prefix(8))
            for (f, symbol) in zip(functions, symbols) {
                let abi = try lib.functionABI(named: symbol)
                guard abi.inputs == f.parameters.map({ f.type(of: $0.value) }),
                      abi.outputs == f.outputs.map({ f.type(of: $0.value) }) else {
                    throw Diagnostic(.other("the cache entry '\(built.path)' does not describe function \(Identifier.quoted(f.name)) (its metadata differs); run `gradc cache --clear`"))
                }
                kernels.append(try CKernel(library: lib, abi: abi))
            }
        }
        source = emitted
        library = lib
        self.kernels = kernels
        report = CBuildReport(cacheHit: built.hit, objectPath: built.path, sourceBytes: emitted?.source.utf8.count ?? 0)
    }

    /// The cache key of a module: the functions' digest (`ModuleDigest`), the backend options
    /// (which with the digest determine the C and the flags), the compiler's identity and the
    /// running executable's (the C emitter is part of it: two builds of one gradc version —
    /// commits on main — emit different C for the same graph, and must not share entries).
    static func cacheKey(digest: [UInt8], options: CBackendOptions, compiler: CCompiler) -> String {
        sha256Hex(["gradc \(gradcVersion) graph key", hexString(digest), options.optimization,
                   options.portable ? "portable" : "native", compiler.identity, executableIdentity].joined(separator: "\u{0}"))
    }

    /// Path, size and modification time of the running executable (which holds this code).
    static let executableIdentity: String = {
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments.first ?? ""
        guard let info = try? FileManager.default.attributesOfItem(atPath: path) else { return path }
        return "\(path) \(info[.size] ?? 0) \((info[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)"
    }()
}
