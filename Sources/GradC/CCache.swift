import GradRuntime
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The per-user cache of compiled shared objects (docs/cache.md has the threat model).
///
/// - Directory: `$GRADC_CACHE_DIR`, else `$XDG_CACHE_HOME/gradc`, else `~/.cache/gradc`;
///   created with mode 0700 and refused unless it is a real directory of the user's, writable
///   by nobody else, under parents nobody else can rename (`checkedCacheDirectory`).
/// - Entry: `gradc-<key>.so`, `key` = SHA-256 of (gradc version, C source, compiler identity,
///   flags), so a changed model, compiler or flag never maps to an old file and `dlopen`
///   never returns stale code.
/// - Written to a temporary file in the same directory, then `rename`d into place: readers
///   see a whole entry or none, and several processes building one entry all succeed.
/// - Built once: a process that misses takes an exclusive `flock` on `.lock-<key>` and looks
///   again before compiling, so processes that miss together wait for the first one's build
///   (at most `lockTimeout` seconds; then they compile themselves).
/// - Every entry ends with a trailer (`CacheTrailer`): an HMAC-SHA-256 of the bytes before it
///   under this directory's secret `.key`, their length and a magic string. An entry is used
///   only if it is a regular file (never through a symbolic link), owned by the user, not
///   writable by group or others, at most `entryLimit` bytes, and its trailer matches;
///   anything else at an entry's path is a miss and is replaced by a fresh build.
/// - Loading: the entry is hashed and copied in one pass into a private temporary file, which
///   is what `dlopen` opens; so the code loaded is exactly the code that was checked.
public struct CCache: Sendable {
    /// The checked, absolute cache directory.
    public let directory: String
    /// Seconds to wait for another process's build of the same entry before compiling without
    /// it (`GRADC_CACHE_LOCK_TIMEOUT`); `nil`: the compiler's own timeout.
    public var lockTimeout: Double?
    /// Entries larger than this are refused before a byte is read.
    public var entryLimit: Int
    /// The secret key of the entry trailers (`.key` in the directory).
    let secret: [UInt8]

    /// 1 GiB: gradc's largest objects are a few MiB.
    public static let defaultEntryLimit = 1 << 30

    /// The cache directory from the environment, created and checked.
    public static func open(environment: [String: String] = ProcessInfo.processInfo.environment) throws(Diagnostic) -> CCache {
        let dir: String
        if let d = environment["GRADC_CACHE_DIR"], !d.isEmpty {
            dir = d
        } else if let x = environment["XDG_CACHE_HOME"], x.hasPrefix("/") {
            dir = x + "/gradc"
        } else if let home = environment["HOME"], !home.isEmpty {
            dir = home + "/.cache/gradc"
        } else {
            throw Diagnostic(.other("no cache directory: set GRADC_CACHE_DIR (or HOME)"))
        }
        var lockTimeout: Double?
        if environment["GRADC_CACHE_LOCK_TIMEOUT"].map({ !$0.isEmpty }) == true {
            lockTimeout = try seconds("GRADC_CACHE_LOCK_TIMEOUT", in: environment, default: CCompiler.defaultTimeout)
        }
        return try CCache(directory: dir, lockTimeout: lockTimeout)
    }

    /// Creates (mode 0700) and checks `directory`, and reads (or makes) its key.
    public init(directory: String, lockTimeout: Double? = nil, entryLimit: Int = CCache.defaultEntryLimit) throws(Diagnostic) {
        self.directory = try checkedCacheDirectory(directory)
        self.lockTimeout = lockTimeout
        self.entryLimit = entryLimit
        secret = try cacheSecret(in: self.directory)
    }

    /// The cache key of a build.
    public static func key(source: String, compiler: CCompiler, flags: [String]) -> String {
        sha256Hex(["gradc \(gradcVersion)", compiler.identity, flags.joined(separator: "\u{1}"), source].joined(separator: "\u{0}"))
    }

    /// The entry path of `key`.
    public func path(forKey key: String) -> String {
        directory + "/gradc-" + key.prefix(40) + ".so"
    }

    /// Whether `path` holds an entry this cache would load (see the type's comment).
    public func isValidEntry(_ path: String) -> Bool {
        guard let fd = openEntry(path) else { return false }
        defer { close(fd) }
        return (try? verify(fd, copyingTo: nil)) == true
    }

    /// The path of a valid entry for `source`, compiling it on a miss (or when what is at the
    /// entry's path is refused). `hit` tells which happened.
    public func sharedObject(source: String, compiler: CCompiler, flags: [String]) throws(Diagnostic) -> (path: String, hit: Bool) {
        let found = try entry(source: source, compiler: compiler, flags: flags) { path throws(Diagnostic) in
            isValidEntry(path) ? () : nil
        }
        return (found.path, found.hit)
    }

    /// The loaded shared object for `source` (from a private copy of the checked entry),
    /// compiling it on a miss.
    public func load(source: String, compiler: CCompiler, flags: [String]) throws(Diagnostic) -> (library: CLibrary, path: String, hit: Bool) {
        try entry(source: source, compiler: compiler, flags: flags) { path throws(Diagnostic) in
            try loadEntry(path)
        }
    }

    /// The loaded shared object of the entry `key`, building it on a miss with the source and
    /// flags `make` returns — so a caller whose key does not need the C (the C backend hashes
    /// the graph, `CModule`) generates no C on a hit. `key` must determine what `make` returns.
    public func load(key: String, compiler: CCompiler,
                     make: () throws(Diagnostic) -> (source: String, flags: [String])) throws(Diagnostic) -> (library: CLibrary, path: String, hit: Bool) {
        try entry(key: key, compiler: compiler, make: make) { path throws(Diagnostic) in
            try loadEntry(path)
        }
    }

    /// Entries and their total size.
    public func info() -> (entries: Int, bytes: Int) {
        var n = 0
        var total = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix("gradc-") && name.hasSuffix(".so") {
            n += 1
            var st = stat()
            if lstat(directory + "/" + name, &st) == 0 { total += Int(st.st_size) }
        }
        return (n, total)
    }

    /// Removes every entry, stray temporary file, lock file and the key — whatever their type
    /// (a directory at an entry's path goes too); returns how many went.
    @discardableResult
    public func clear() -> Int {
        var n = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where Self.isCacheFile(name) {
            if removeAnything(directory + "/" + name) { n += 1 }
        }
        return n
    }

    /// Names the cache makes in its directory.
    static func isCacheFile(_ name: String) -> Bool {
        (name.hasPrefix("gradc-") && name.hasSuffix(".so")) || name.hasPrefix(".tmp-") || name.hasPrefix(".lock-") || name == keyFileName
    }

    // MARK: - Building

    /// Finds the entry for `source` with `use` (nil: absent or refused), building it under the
    /// entry's lock on a miss.
    private func entry<T>(source: String, compiler: CCompiler, flags: [String],
                          use: (String) throws(Diagnostic) -> T?) throws(Diagnostic) -> (library: T, path: String, hit: Bool) {
        try entry(key: Self.key(source: source, compiler: compiler, flags: flags), compiler: compiler,
                  make: { () throws(Diagnostic) in (source, flags) }, use: use)
    }

    /// Finds the entry `key` with `use`, building it from what `make` returns on a miss.
    private func entry<T>(key: String, compiler: CCompiler, make: () throws(Diagnostic) -> (source: String, flags: [String]),
                          use: (String) throws(Diagnostic) -> T?) throws(Diagnostic) -> (library: T, path: String, hit: Bool) {
        let final = path(forKey: key)
        if let found = try use(final) { return (found, final, true) }
        // One compile per entry: processes that miss together queue on the entry's lock and
        // find the entry built when they get it. The kernel drops the lock of a process that
        // dies (kill -9), and the descriptor is close-on-exec so cc never inherits it. A lock
        // not granted in time (its holder hung) is given up: building without it is still
        // correct, only not shared.
        let lock = EntryLock(path: directory + "/.lock-" + key.prefix(40), timeout: lockTimeout ?? compiler.timeout)
        defer { lock.release() }
        if let found = try use(final) { return (found, final, true) }
        let made = try make()
        try build(source: made.source, compiler: compiler, flags: made.flags, into: final)
        guard let built = try use(final) else {
            throw Diagnostic(.other("the cache entry '\(final)' built just now is not valid any more (replaced or removed meanwhile?); run again"))
        }
        return (built, final, false)
    }

    /// Compiles `source` into a temporary file, seals it with the trailer and renames it to
    /// `final` (replacing whatever was refused there, a directory included).
    private func build(source: String, compiler: CCompiler, flags: [String], into final: String) throws(Diagnostic) {
        let tmpSource = temporaryPath(".c")
        let tmpObject = temporaryPath(".so")
        defer {
            unlink(tmpSource)
            unlink(tmpObject)
        }
        try writeNewFile(tmpSource, Array(source.utf8))
        try compiler.compileSharedObject(source: tmpSource, output: tmpObject, flags: flags)
        try seal(tmpObject)
        var st = stat()
        if lstat(final, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
            removeAnything(final)
        }
        guard rename(tmpObject, final) == 0 else {
            throw Diagnostic(.other("cannot rename '\(tmpObject)' to '\(final)': \(String(cString: strerror(errno)))"))
        }
    }

    /// Appends the trailer to the compiled object at `path` (streamed, never read whole).
    private func seal(_ path: String) throws(Diagnostic) {
        let fd = openFile(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            throw Diagnostic(.other("the C compiler produced no '\(path)': \(String(cString: strerror(errno)))"))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw Diagnostic(.other("the C compiler's output '\(path)' is not a regular file"))
        }
        let size = Int(st.st_size)
        guard size + CacheTrailer.size <= entryLimit else {
            throw Diagnostic(.other("the compiled object '\(path)' is \(size) bytes, more than the cache's limit of \(entryLimit) bytes"))
        }
        var mac = HMACSHA256(key: secret)
        guard try streamBody(fd, count: size, { chunk throws(Diagnostic) in mac.update(chunk) }) else {
            throw Diagnostic(.other("cannot read the compiled object '\(path)': \(String(cString: strerror(errno)))"))
        }
        try writeAll(fd, CacheTrailer.make(tag: mac.finalize(), length: size), at: size, path: path)
        fchmod(fd, 0o700)
    }

    // MARK: - Reading

    /// A read-only descriptor of the entry at `path` if it may be used: opened without following
    /// a symbolic link (or blocking on a FIFO), then checked on the descriptor itself — a regular
    /// file, owned by the user, not writable by group or others, within `entryLimit`.
    func openEntry(_ path: String) -> Int32? {
        let fd = openFile(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == geteuid(),
              st.st_mode & 0o022 == 0, st.st_size > CacheTrailer.size, st.st_size <= entryLimit else {
            close(fd)
            return nil
        }
        return fd
    }

    /// Whether the open entry `fd` ends with a matching trailer; the bytes before the trailer
    /// are hashed in fixed-size chunks and, with `copy`, written there as they are hashed.
    func verify(_ fd: Int32, copyingTo copy: (fd: Int32, path: String)?) throws(Diagnostic) -> Bool {
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size > CacheTrailer.size, st.st_size <= entryLimit else { return false }
        let body = Int(st.st_size) - CacheTrailer.size
        var trailer = [UInt8](repeating: 0, count: CacheTrailer.size)
        guard pread(fd, &trailer, trailer.count, off_t(body)) == trailer.count,
              let tag = CacheTrailer.tag(trailer, length: body) else { return false }
        var mac = HMACSHA256(key: secret)
        var offset = 0
        let complete = try streamBody(fd, count: body) { chunk throws(Diagnostic) in
            mac.update(chunk)
            if let copy {
                try writeAll(copy.fd, Array(chunk), at: offset, path: copy.path)
                offset += chunk.count
            }
        }
        return complete && constantTimeEqual(mac.finalize(), tag)
    }

    /// Loads the entry at `path` through a private, checked copy; nil if the entry is refused.
    private func loadEntry(_ path: String) throws(Diagnostic) -> CLibrary? {
        guard let fd = openEntry(path) else { return nil }
        defer { close(fd) }
        // The copy lives in the checked directory, created here (O_EXCL), readable and writable
        // by nobody else: between the check and dlopen only the user (or root) can change it.
        let copyPath = temporaryPath(".so")
        let out = openFile(copyPath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard out >= 0 else {
            throw Diagnostic(.other("cannot create '\(copyPath)': \(String(cString: strerror(errno)))"))
        }
        defer { unlink(copyPath) }
        let valid: Bool
        do {
            valid = try verify(fd, copyingTo: (out, copyPath))
        } catch {
            close(out)
            throw error
        }
        close(out)
        guard valid else { return nil }
        return try CLibrary(path: path, loadingFrom: copyPath)
    }

    /// `.tmp-<pid>-<64-bit random><suffix>` in the directory.
    private func temporaryPath(_ suffix: String) -> String {
        directory + "/.tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max))" + suffix
    }
}

/// Calls `body` with consecutive chunks (64 KiB at most) of the first `count` bytes of `fd`;
/// false if the file ends early or a read fails.
private func streamBody(_ fd: Int32, count: Int, _ body: (ArraySlice<UInt8>) throws(Diagnostic) -> Void) throws(Diagnostic) -> Bool {
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    var offset = 0
    while offset < count {
        let want = min(buffer.count, count - offset)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(offset)) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return false }
        try body(buffer[0..<n])
        offset += n
    }
    return true
}

/// `open(2)` (a plain call inside `CCache` would find its `open(environment:)`).
private func openFile(_ path: String, _ flags: Int32, _ mode: mode_t = 0) -> Int32 {
    open(path, flags, mode)
}

/// Writes all of `bytes` to `fd` at `offset`.
private func writeAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int, path: String) throws(Diagnostic) {
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress.map { $0 + done }, bytes.count - done, off_t(offset + done)) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else {
            throw Diagnostic(.other("cannot write '\(path)': \(String(cString: strerror(errno)))"))
        }
        done += n
    }
}

/// Creates `path` (it must not exist: `O_EXCL`, no link followed) with mode 0600 and `bytes`.
private func writeNewFile(_ path: String, _ bytes: [UInt8]) throws(Diagnostic) {
    let fd = openFile(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
    guard fd >= 0 else {
        throw Diagnostic(.other("cannot create '\(path)': \(String(cString: strerror(errno)))"))
    }
    defer { close(fd) }
    try writeAll(fd, bytes, at: 0, path: path)
}

/// Removes `path`: a file or link with `unlink`, a directory with everything in it (links
/// inside are removed, not followed). Whether it went.
@discardableResult
private func removeAnything(_ path: String) -> Bool {
    var st = stat()
    guard lstat(path, &st) == 0 else { return false }
    if (st.st_mode & S_IFMT) == S_IFDIR {
        return (try? FileManager.default.removeItem(atPath: path)) != nil
    }
    return unlink(path) == 0
}

/// Whether `a == b`, in time independent of where they differ.
private func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for (x, y) in zip(a, b) { diff |= x ^ y }
    return diff == 0
}

// MARK: - Lock

/// An exclusive `flock` on a lock file of the cache, held until `release()`. When the file
/// cannot be opened, or the lock is not granted within `timeout` seconds, the build goes ahead
/// unlocked (still correct: entries are written to a temporary file and renamed, so concurrent
/// builds only cost time).
struct EntryLock {
    let fd: Int32

    init(path: String, timeout: Double) {
        var fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        if fd >= 0, !Self.acquire(fd, timeout: timeout) {
            close(fd)
            fd = -1
        }
        self.fd = fd
    }

    /// Polls for the lock (10 ms, growing to 100 ms between tries) until `timeout`.
    private static func acquire(_ fd: Int32, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(min(timeout, 1e9))
        var pause: useconds_t = 10_000
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR, Date() < deadline else { return false }
            usleep(pause)
            pause = min(pause * 2, 100_000)
        }
        return true
    }

    func release() {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
    }
}

// MARK: - Directory and key

/// The absolute path of the cache directory `dir`, created (mode 0700, parents too) if
/// missing, after checking that nobody but the user (and root) can change what it holds:
///
/// - `dir` itself is a directory — not a symbolic link, however it is spelled (`link/`,
///   `link/.` and `link//` name the link itself here, not its target) — owned by the user and
///   not writable by group or others;
/// - every directory above it (symbolic links among them resolved) is owned by the user or
///   root, and one writable by group or others is sticky (like `/tmp`), where nobody can
///   rename another's entries.
func checkedCacheDirectory(_ dir: String) throws(Diagnostic) -> String {
    let absolute = dir.hasPrefix("/") ? dir : FileManager.default.currentDirectoryPath + "/" + dir
    var parts = absolute.split(separator: "/").map(String.init).filter { $0 != "." }
    guard let leaf = parts.popLast(), leaf != ".." else {
        throw Diagnostic(.other("the cache directory '\(dir)' must end in a directory name (not '/', '.' or '..'); set GRADC_CACHE_DIR"))
    }
    var prefix = ""
    for part in parts {
        prefix += "/" + part
        var st = stat()
        if lstat(prefix, &st) != 0, mkdir(prefix, 0o700) != 0, errno != EEXIST {
            throw Diagnostic(.other("cannot create '\(prefix)' for the cache directory: \(String(cString: strerror(errno)))"))
        }
    }
    guard let resolved = realpath(prefix.isEmpty ? "/" : prefix, nil) else {
        throw Diagnostic(.other("cannot resolve '\(prefix)' for the cache directory: \(String(cString: strerror(errno)))"))
    }
    let parent = String(cString: resolved)
    free(resolved)
    try checkParents(of: dir, parent)
    let path = (parent == "/" ? "" : parent) + "/" + leaf
    var st = stat()
    if lstat(path, &st) != 0 {
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw Diagnostic(.other("cannot create the cache directory '\(dir)': \(String(cString: strerror(errno)))"))
        }
        guard lstat(path, &st) == 0 else {
            throw Diagnostic(.other("cannot read the cache directory '\(dir)': \(String(cString: strerror(errno)))"))
        }
    }
    guard (st.st_mode & S_IFMT) == S_IFDIR else {
        throw Diagnostic(.other("the cache path '\(dir)' is not a directory (symbolic links are refused); set GRADC_CACHE_DIR to a directory of your own"))
    }
    guard st.st_uid == geteuid() else {
        throw Diagnostic(.other("refusing the cache directory '\(dir)': it is owned by uid \(st.st_uid), not by you (uid \(geteuid())); set GRADC_CACHE_DIR to a directory of your own"))
    }
    guard st.st_mode & 0o022 == 0 else {
        throw Diagnostic(.other("refusing the cache directory '\(dir)': it is writable by group or others (mode \(String(st.st_mode & 0o777, radix: 8))); chmod 700 it or set GRADC_CACHE_DIR"))
    }
    return path
}

/// Checks every directory from `/` down to `parent` (a resolved path): owned by the user or
/// root, and sticky where group or others may write.
private func checkParents(of dir: String, _ parent: String) throws(Diagnostic) {
    var prefix = ""
    for part in [""] + parent.split(separator: "/").map(String.init) {
        prefix += part.isEmpty ? "" : "/" + part
        let shown = prefix.isEmpty ? "/" : prefix
        var st = stat()
        guard lstat(shown, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw Diagnostic(.other("refusing the cache directory '\(dir)': its parent '\(shown)' is not a directory (changed while checked?)"))
        }
        guard st.st_uid == 0 || st.st_uid == geteuid() else {
            throw Diagnostic(.other("refusing the cache directory '\(dir)': its parent '\(shown)' is owned by uid \(st.st_uid), who could replace the cache; set GRADC_CACHE_DIR to a directory of your own"))
        }
        guard st.st_mode & 0o022 == 0 || st.st_mode & S_ISVTX != 0 else {
            throw Diagnostic(.other("refusing the cache directory '\(dir)': its parent '\(shown)' is writable by group or others and not sticky (mode \(String(st.st_mode & 0o7777, radix: 8))), so they could replace the cache; set GRADC_CACHE_DIR to a directory of your own"))
        }
    }
}

let keyFileName = ".key"

/// The cache's 32-byte secret in `dir/.key` (mode 0600), made from the system's random source
/// when missing, or when what is there is not a private regular file of the user's.
func cacheSecret(in dir: String) throws(Diagnostic) -> [UInt8] {
    let path = dir + "/" + keyFileName
    if let key = readSecret(path) { return key }
    var rng = SystemRandomNumberGenerator()
    let key = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
    let tmp = dir + "/.tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).key"
    try writeNewFile(tmp, key)
    defer { unlink(tmp) }
    // link never replaces: of processes making the key at once, one wins and all use its key.
    if link(tmp, path) == 0 { return key }
    if let other = readSecret(path) { return other }
    guard rename(tmp, path) == 0 else {
        throw Diagnostic(.other("cannot write the cache key '\(path)': \(String(cString: strerror(errno)))"))
    }
    return key
}

private func readSecret(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == geteuid(),
          st.st_mode & 0o077 == 0, st.st_size == 32 else { return nil }
    var key = [UInt8](repeating: 0, count: 32)
    guard pread(fd, &key, 32, 0) == 32 else { return nil }
    return key
}

// MARK: - Trailer

/// The 48-byte trailer appended to every cache entry: the HMAC-SHA-256 of the object under
/// the cache's key (32 bytes), the object's length (8 bytes, little endian) and the magic
/// `GRADC-K1` (8 bytes). ELF loaders ignore bytes after the sections, and the private copy
/// that is loaded holds the object only.
enum CacheTrailer {
    static let magic = Array("GRADC-K1".utf8)
    static let size = 48

    static func make(tag: [UInt8], length: Int) -> [UInt8] {
        var t = tag
        let n = UInt64(length)
        for i in 0..<8 { t.append(UInt8(truncatingIfNeeded: n >> (UInt64(i) * 8))) }
        return t + magic
    }

    /// The tag of `trailer` if its magic is right and it records `length`.
    static func tag(_ trailer: [UInt8], length: Int) -> [UInt8]? {
        guard trailer.count == size, Array(trailer[40...]) == magic else { return nil }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(trailer[32 + i]) << (UInt64(i) * 8) }
        guard n == UInt64(length) else { return nil }
        return Array(trailer[0..<32])
    }
}
