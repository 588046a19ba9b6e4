import GradRuntime
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The per-user cache of compiled shared objects.
///
/// - Directory: `$GRADC_CACHE_DIR`, else `$XDG_CACHE_HOME/gradc`, else `~/.cache/gradc`;
///   created with mode 0700 and refused if another user owns it or it is group/world-writable.
/// - Entry: `gradc-<key>.so`, `key` = SHA-256 of (gradc version, C source, compiler identity,
///   flags), so a changed model, compiler or flag never maps to an old file and `dlopen`
///   never returns stale code.
/// - Written to a temporary file in the same directory, then `rename`d into place: readers
///   see a whole entry or none, and several processes building one entry all succeed.
/// - Built once: a process that misses takes an exclusive `flock` on `.lock-<key>` and looks
///   again before compiling, so processes that miss together wait for the first one's build.
/// - Every entry ends with a trailer (`CacheTrailer`): the SHA-256 of the bytes before it,
///   their length and a magic line. An entry whose trailer is missing or does not match
///   (truncated, corrupt) is rebuilt, never loaded.
public struct CCache: Sendable {
    public var directory: String

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
        return try CCache(directory: dir)
    }

    /// Creates (mode 0700) and checks `directory`.
    public init(directory: String) throws(Diagnostic) {
        self.directory = directory
        try ensureDirectory(directory)
    }

    /// The cache key of a build.
    public static func key(source: String, compiler: CCompiler, flags: [String]) -> String {
        sha256Hex(["gradc \(gradcVersion)", compiler.identity, flags.joined(separator: "\u{1}"), source].joined(separator: "\u{0}"))
    }

    /// The entry path of `key`.
    public func path(forKey key: String) -> String {
        directory + "/gradc-" + key.prefix(40) + ".so"
    }

    /// Whether an entry exists and its trailer proves it whole.
    public func isValidEntry(_ path: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: path) else { return false }
        return CacheTrailer.validate(Array(data))
    }

    /// The path of a valid shared object for `source`, compiling it on a miss (or when the
    /// entry is broken). `hit` tells which happened.
    public func sharedObject(source: String, compiler: CCompiler, flags: [String]) throws(Diagnostic) -> (path: String, hit: Bool) {
        let key = Self.key(source: source, compiler: compiler, flags: flags)
        let final = path(forKey: key)
        if isValidEntry(final) { return (final, true) }
        // One compile per entry: processes that miss together queue on the entry's lock and
        // find the entry built when they get it. The kernel drops the lock of a process that
        // dies (kill -9), and the descriptor is close-on-exec so cc never inherits it.
        let lock = EntryLock(path: directory + "/.lock-" + key.prefix(40))
        defer { lock.release() }
        if isValidEntry(final) { return (final, true) }
        let unique = "\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let tmpSource = directory + "/.tmp-\(unique).c"
        let tmpObject = directory + "/.tmp-\(unique).so"
        defer {
            unlink(tmpSource)
            unlink(tmpObject)
        }
        guard FileManager.default.createFile(atPath: tmpSource, contents: Data(source.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw Diagnostic(.other("cannot write '\(tmpSource)'"))
        }
        try compiler.compileSharedObject(source: tmpSource, output: tmpObject, flags: flags)
        guard let built = FileManager.default.contents(atPath: tmpObject) else {
            throw Diagnostic(.other("the C compiler produced no '\(tmpObject)'"))
        }
        var bytes = Array(built)
        bytes += CacheTrailer.make(for: bytes)
        guard FileManager.default.createFile(atPath: tmpObject, contents: Data(bytes), attributes: [.posixPermissions: 0o700]) else {
            throw Diagnostic(.other("cannot write '\(tmpObject)'"))
        }
        guard rename(tmpObject, final) == 0 else {
            throw Diagnostic(.other("cannot rename '\(tmpObject)' to '\(final)': \(String(cString: strerror(errno)))"))
        }
        return (final, false)
    }

    /// Entries and their total size.
    public func info() -> (entries: Int, bytes: Int) {
        var n = 0
        var total = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix("gradc-") && name.hasSuffix(".so") {
            n += 1
            var st = stat()
            if stat(directory + "/" + name, &st) == 0 { total += Int(st.st_size) }
        }
        return (n, total)
    }

    /// Removes every entry (and stray temporary files); returns how many files went.
    @discardableResult
    public func clear() -> Int {
        var n = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where (name.hasPrefix("gradc-") && name.hasSuffix(".so")) || name.hasPrefix(".tmp-") || name.hasPrefix(".lock-") {
            if unlink(directory + "/" + name) == 0 { n += 1 }
        }
        return n
    }
}

/// An exclusive `flock` on a lock file of the cache, held until `release()`. When the file
/// cannot be opened or locked the build goes ahead unlocked (still correct: entries are
/// written to a temporary file and renamed, so concurrent builds only cost time).
struct EntryLock {
    let fd: Int32

    init(path: String) {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        if fd >= 0 {
            while flock(fd, LOCK_EX) != 0 && errno == EINTR {}
        }
        self.fd = fd
    }

    func release() {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
    }
}

/// Creates `dir` (and missing parents) with mode 0700 and checks that the current user owns
/// it and that nobody else can write to it.
func ensureDirectory(_ dir: String) throws(Diagnostic) {
    var st = stat()
    if lstat(dir, &st) != 0 {
        let parent = (dir as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != dir, lstat(parent, &st) != 0 {
            try ensureDirectory(parent)
        }
        if mkdir(dir, 0o700) != 0 && errno != EEXIST {
            throw Diagnostic(.other("cannot create the cache directory '\(dir)': \(String(cString: strerror(errno)))"))
        }
        guard lstat(dir, &st) == 0 else {
            throw Diagnostic(.other("cannot read the cache directory '\(dir)': \(String(cString: strerror(errno)))"))
        }
    }
    guard (st.st_mode & S_IFMT) == S_IFDIR else {
        throw Diagnostic(.other("the cache path '\(dir)' is not a directory (symbolic links are refused); set GRADC_CACHE_DIR to a directory of your own"))
    }
    guard st.st_uid == getuid() else {
        throw Diagnostic(.other("refusing the cache directory '\(dir)': it is owned by uid \(st.st_uid), not by you (uid \(getuid())); set GRADC_CACHE_DIR to a directory of your own"))
    }
    guard st.st_mode & 0o022 == 0 else {
        throw Diagnostic(.other("refusing the cache directory '\(dir)': it is writable by group or others (mode \(String(st.st_mode & 0o777, radix: 8))); chmod 700 it or set GRADC_CACHE_DIR"))
    }
}

/// The 48-byte trailer appended to every cache entry: SHA-256 of the object (32 bytes), its
/// length (8 bytes, little endian) and the magic `GRADC-OK` (8 bytes). ELF loaders ignore
/// bytes after the sections, so the file still loads with `dlopen`.
enum CacheTrailer {
    static let magic = Array("GRADC-OK".utf8)
    static let size = 48

    static func make(for object: [UInt8]) -> [UInt8] {
        var t = sha256(object)
        let n = UInt64(object.count)
        for i in 0..<8 { t.append(UInt8(truncatingIfNeeded: n >> (UInt64(i) * 8))) }
        return t + magic
    }

    static func validate(_ file: [UInt8]) -> Bool {
        guard file.count > size else { return false }
        let body = file.count - size
        guard Array(file[(file.count - 8)...]) == magic else { return false }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(file[body + 32 + i]) << (UInt64(i) * 8) }
        guard n == UInt64(body) else { return false }
        return sha256(file[0..<body]) == Array(file[body..<(body + 32)])
    }
}
