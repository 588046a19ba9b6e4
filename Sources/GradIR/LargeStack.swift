#if canImport(Glibc)
import Glibc
#endif

/// Stack for the parser's recursive descent: `ParseLimits.maxDepth` (256) levels of nesting
/// take about 8 MiB in a debug build (the whole main-thread stack: `exp(exp(…))` 255 deep
/// crashed), so parsing runs on a thread of its own with this much room — 8× that.
let parserStackBytes = 64 << 20

/// A closure handed to a new thread.
private final class StackWork {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

/// Runs `body` on a new thread with a stack of `stackBytes` and waits for it; runs it on the
/// calling thread when no thread can be made (or off Linux).
func onLargeStack<T>(stackBytes: Int, _ body: () throws(Diagnostic) -> T) throws(Diagnostic) -> T {
    #if os(Linux)
    var result: Result<T, Diagnostic>?
    withoutActuallyEscaping(body) { body in
        let work = Unmanaged.passRetained(StackWork { result = Result(catching: body) })
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, stackBytes)
        var thread = pthread_t()
        let started = pthread_create(&thread, &attributes, { context in
            guard let context else { return nil }
            Unmanaged<StackWork>.fromOpaque(context).takeRetainedValue().run()
            return nil
        }, work.toOpaque())
        if started == 0 {
            pthread_join(thread, nil)
        } else {
            work.takeRetainedValue().run()
        }
    }
    guard let result else { return try body() }  // not reached: the work ran
    return try result.get()
    #else
    return try body()
    #endif
}
