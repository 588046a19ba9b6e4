import Foundation
import GradRuntime

/// Options of the C backend.
public struct CBackendOptions: Sendable, Hashable {
    /// `-O2` or `-O3` (the default).
    public var optimization: String
    /// Drop `-march=native` (code that runs on any CPU of the architecture).
    public var portable: Bool
    public var emit: CEmitOptions

    public init(optimization: String = "-O3", portable: Bool = false, emit: CEmitOptions = CEmitOptions()) {
        self.optimization = optimization
        self.portable = portable
        self.emit = emit
    }

    /// The compiler flags (without output and input files).
    public func flags(threads: Bool) -> [String] {
        var f = [optimization]
        if !portable { f.append("-march=native") }
        f += ["-std=gnu11", "-ffp-contract=off", "-fno-math-errno", "-w"] + noBuiltinFlags
        if threads { f.append("-pthread") }
        return f
    }
}

/// GCC folds calls of these libm functions with constant arguments (through MPFR, correctly
/// rounded) and rewrites some (`pow(x, 2.0)` → `x*x`); glibc's results can differ in the last
/// bit, so the C backend keeps them real calls to libm, the same calls the reference makes.
/// (`sqrt`, `fabs`, `floor`, `ceil` are exact and stay builtins.)
public let noBuiltinFlags: [String] = ["exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "erf", "pow", "atan2"]
    .flatMap { ["-fno-builtin-\($0)", "-fno-builtin-\($0)f"] }

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
        let src = try emitC(functions, options: options.emit)
        let compiler = try CCompiler.find(environment: environment)
        let cache = try CCache.open(environment: environment)
        let flags = options.flags(threads: src.usesThreads)
        let built = try cache.sharedObject(source: src.source, compiler: compiler, flags: flags)
        let lib = try CLibrary(path: built.path)
        var kernels: [CKernel] = []
        for abi in src.functions { kernels.append(try CKernel(library: lib, abi: abi)) }
        source = src
        library = lib
        self.kernels = kernels
        report = CBuildReport(cacheHit: built.hit, objectPath: built.path, sourceBytes: src.source.utf8.count)
    }
}
