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
    public var sourceBytes: Int
}

/// Compiled C for a module: every function loaded and callable.
public final class CModule: @unchecked Sendable {
    public let source: CModuleSource
    public let library: CLibrary
    public let kernels: [CKernel]
    public let report: CBuildReport

    /// Emits, compiles (through the cache) and loads `functions` (already expanded).
    public init(_ functions: [Function], options: CBackendOptions = CBackendOptions(),
                environment: [String: String] = ProcessInfo.processInfo.environment) throws(Diagnostic) {
        var emit = options.emit
        if options.portable { emit.fma = false }
        let src = try emitC(functions, options: emit)
        let compiler = try CCompiler.find(environment: environment)
        let cache = try CCache.open(environment: environment)
        let flags = options.flags(threads: src.usesThreads, straightLine: src.straightLine,
                                  gcc: !compiler.identity.lowercased().contains("clang"))
        let built = try cache.load(source: src.source, compiler: compiler, flags: flags)
        let lib = built.library
        var kernels: [CKernel] = []
        for abi in src.functions { kernels.append(try CKernel(library: lib, abi: abi)) }
        source = src
        library = lib
        self.kernels = kernels
        report = CBuildReport(cacheHit: built.hit, objectPath: built.path, sourceBytes: src.source.utf8.count)
    }
}
