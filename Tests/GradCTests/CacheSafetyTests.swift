import Foundation
import Grad
import TestSupport
import XCTest

/// What the compile cache refuses to load and how it recovers (issue 13 §3): entries that are
/// symbolic links, another user's or writable by others; cache directories named through a
/// link or under a parent others can rename; trailers forged without the cache's key or made
/// by another cache; entries over the size limit; a directory at an entry's path.
///
/// Tests that change an owner run only as root (they chown to uid 12345).
final class CacheSafetyTests: XCTestCase {
    /// A fresh directory under the system temporary directory, removed after the test
    /// (TestSupport's helper, which also undoes the chmods and chowns done here).
    func scratchDirectory(_ name: String) throws -> String {
        try temporaryDirectory("safety-\(name)").path
    }

    func model(_ factor: Double) throws -> Function {
        let fb = FunctionBuilder("safety")
        let x = try fb.input("x", .f64, [3])
        let y = try sum(x * factor)
        try fb.output(y, "y")
        return try Differentiator.expand(fb.function)
    }

    /// Builds the model into a fresh cache; returns the cache directory, its environment and
    /// the entry's path.
    func builtEntry(_ name: String, factor: Double = 2) throws -> (dir: String, env: [String: String], entry: String) {
        try XCTSkipUnless((try? CCompiler.find()) != nil, "no C compiler")
        let dir = try scratchDirectory(name) + "/cache"
        var env = ProcessInfo.processInfo.environment
        env["GRADC_CACHE_DIR"] = dir
        let first = try CModule([model(factor)], environment: env)
        XCTAssertFalse(first.report.cacheHit)
        return (dir, env, first.report.objectPath)
    }

    /// Loads the model again: whether it was a hit, and that it computes the right value.
    func reload(_ env: [String: String], factor: Double = 2, file: StaticString = #filePath, line: UInt = #line) throws -> Bool {
        let m = try CModule([model(factor)], environment: env)
        let x = try XCTUnwrap(Tensor([1, 2, 3] as [Double], shape: [3]))
        XCTAssertEqual(try m.kernels[0].run([x])[0].scalar, 6 * factor, file: file, line: line)
        return m.report.cacheHit
    }

    func assertFreshEntry(_ path: String, file: StaticString = #filePath, line: UInt = #line) {
        var st = stat()
        XCTAssertEqual(lstat(path, &st), 0, file: file, line: line)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFREG, "a regular file again", file: file, line: line)
        XCTAssertEqual(st.st_uid, geteuid(), file: file, line: line)
        XCTAssertEqual(st.st_mode & 0o077, 0, file: file, line: line)
    }

    // MARK: Entries

    /// A symbolic link at the entry's path, to a valid entry (here another user's, as root) is
    /// never followed: a miss, and a real entry replaces the link; the link's target is untouched.
    func testSymlinkedEntryIsRefusedAndReplaced() throws {
        let (dir, env, entry) = try builtEntry("symlink")
        let elsewhere = try scratchDirectory("elsewhere") + "/theirs.so"
        XCTAssertEqual(rename(entry, elsewhere), 0)
        if getuid() == 0 { XCTAssertEqual(chown(elsewhere, 12345, 12345), 0) }
        XCTAssertEqual(symlink(elsewhere, entry), 0)
        XCTAssertFalse(try CCache(directory: dir).isValidEntry(entry))
        XCTAssertFalse(try reload(env), "a symlinked entry must not be loaded")
        assertFreshEntry(entry)
        XCTAssertTrue(FileManager.default.fileExists(atPath: elsewhere), "the link's target is left alone")
        XCTAssertTrue(try reload(env))
    }

    /// An entry writable by group or others (0777), or (as root) owned by another user, is a
    /// miss and is replaced.
    func testEntryWritableByOthersOrOwnedByAnotherUserIsRefused() throws {
        let (_, env, entry) = try builtEntry("mode")
        XCTAssertEqual(chmod(entry, 0o777), 0)
        XCTAssertFalse(try reload(env), "a 0777 entry must not be loaded")
        assertFreshEntry(entry)
        XCTAssertEqual(chmod(entry, 0o720), 0)
        XCTAssertFalse(try reload(env), "a group-writable entry must not be loaded")
        assertFreshEntry(entry)
        guard getuid() == 0 else { return }
        XCTAssertEqual(chown(entry, 12345, 12345), 0)
        XCTAssertFalse(try reload(env), "another user's entry must not be loaded")
        assertFreshEntry(entry)
        XCTAssertTrue(try reload(env))
    }

    /// What `dlopen` maps is the private copy that was hashed, not the entry's path (which
    /// anything able to write it could change between the check and the load).
    func testLoadedCodeIsTheCheckedCopyNotTheEntry() throws {
        let (_, env, entry) = try builtEntry("copy")
        let m = try CModule([model(2)], environment: env)
        XCTAssertTrue(m.report.cacheHit)
        // /proc files report size 0: read to the end, not by size.
        let handle = try XCTUnwrap(FileHandle(forReadingAtPath: "/proc/self/maps"))
        let maps = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        try handle.close()
        XCTAssertFalse(maps.contains(entry), "the entry itself is mapped")
        let cacheDir = (entry as NSString).deletingLastPathComponent
        XCTAssertTrue(maps.split(separator: "\n").contains { $0.contains(cacheDir + "/.tmp-") && $0.contains("(deleted)") },
                      "the private copy is mapped (and already unlinked)")
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: cacheDir).contains { $0.hasPrefix(".tmp-") },
                       "no copy is left behind")
        withExtendedLifetime(m) {}
    }

    // MARK: Directory

    /// A cache directory named through a symbolic link is refused however it is spelled
    /// (`link/` made lstat follow the link).
    func testSymlinkCacheDirectoryIsRefusedInEverySpelling() throws {
        let base = try scratchDirectory("linkdir")
        let real = base + "/real"
        XCTAssertEqual(mkdir(real, 0o700), 0)
        XCTAssertEqual(symlink(real, base + "/link"), 0)
        for spelling in ["link", "link/", "link//", "link/.", "./link/", "link/./"] {
            XCTAssertThrowsError(try CCache(directory: base + "/" + spelling), spelling) { error in
                XCTAssertTrue("\(error)".contains("symbolic links are refused"), "\(spelling): \(error)")
            }
        }
        XCTAssertEqual(try CCache(directory: base + "/real/").directory, base + "/real", "a trailing slash on a real directory is fine")
    }

    /// A parent that others can write without the sticky bit, or (as root) one owned by another
    /// user, could have the cache renamed away and replaced: refused. A sticky one like /tmp is fine.
    func testParentsOthersCouldRenameAreRefused() throws {
        let base = try scratchDirectory("parents")
        let open = base + "/open"
        XCTAssertEqual(mkdir(open, 0o700), 0)
        XCTAssertEqual(chmod(open, 0o777), 0)
        XCTAssertThrowsError(try CCache(directory: open + "/a/cache")) { error in
            XCTAssertTrue("\(error)".contains("its parent '\(open)' is writable by group or others and not sticky"), "\(error)")
        }
        let sticky = base + "/sticky"
        XCTAssertEqual(mkdir(sticky, 0o700), 0)
        XCTAssertEqual(chmod(sticky, 0o1777), 0)
        XCTAssertNoThrow(try CCache(directory: sticky + "/cache"))
        guard getuid() == 0 else { return }
        let theirs = base + "/theirs"
        XCTAssertEqual(mkdir(theirs, 0o755), 0)
        XCTAssertEqual(chown(theirs, 12345, 12345), 0)
        XCTAssertThrowsError(try CCache(directory: theirs + "/cache")) { error in
            XCTAssertTrue("\(error)".contains("its parent '\(theirs)' is owned by uid 12345"), "\(error)")
        }
        // Through a symbolic link to the foreign parent: the resolved parent is what is checked.
        XCTAssertEqual(symlink(theirs, base + "/via"), 0)
        XCTAssertThrowsError(try CCache(directory: base + "/via/cache")) { error in
            XCTAssertTrue("\(error)".contains("owned by uid 12345"), "\(error)")
        }
    }

    // MARK: Trailer

    /// A tampered entry whose trailer was recomputed the way the old, unkeyed trailer was made
    /// (SHA-256 of the object) is refused: the tag needs the cache's key.
    func testTamperedEntryWithRecomputedUnkeyedTrailerIsRefused() throws {
        let (dir, env, entry) = try builtEntry("forge")
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: entry)))
        let body = bytes.count - 48
        // Change a character of the compiler's .comment string (never executed).
        let gcc = Array("GCC:".utf8)
        let at = try XCTUnwrap((0..<(body - 4)).first { Array(bytes[$0..<($0 + 4)]) == gcc }, "no .comment string")
        bytes[at] = UInt8(ascii: "X")
        let forged = Array(bytes[0..<body]) + sha256(bytes[0..<body]) + Array(bytes[(body + 32)...])
        try Data(forged).write(to: URL(fileURLWithPath: entry))
        chmod(entry, 0o700)
        XCTAssertFalse(try CCache(directory: dir).isValidEntry(entry))
        XCTAssertFalse(try reload(env), "a forged trailer must not be accepted")
        XCTAssertTrue(try CCache(directory: dir).isValidEntry(entry))
    }

    /// An entry copied from another cache (another key) is refused; a key file that others can
    /// read is replaced by a new private one (and the old entries then rebuild).
    func testEntriesOfAnotherCacheAndExposedKeysAreRefused() throws {
        let (_, _, theirs) = try builtEntry("theirs")
        let (dir, env, entry) = try builtEntry("mine")
        XCTAssertEqual(unlink(entry), 0)
        try FileManager.default.copyItem(atPath: theirs, toPath: entry)
        XCTAssertFalse(try CCache(directory: dir).isValidEntry(entry), "another cache's entry")
        XCTAssertFalse(try reload(env))
        XCTAssertTrue(try reload(env))

        let key = dir + "/.key"
        var st = stat()
        XCTAssertEqual(lstat(key, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        let old = try Data(contentsOf: URL(fileURLWithPath: key))
        XCTAssertEqual(old.count, 32)
        XCTAssertEqual(chmod(key, 0o644), 0)
        XCTAssertFalse(try reload(env), "an exposed key is replaced, so its entries rebuild")
        XCTAssertNotEqual(try Data(contentsOf: URL(fileURLWithPath: key)), old)
        XCTAssertEqual(lstat(key, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        XCTAssertTrue(try reload(env))
    }

    // MARK: Size and streaming

    /// An entry over the limit is refused without being read; a 3 GiB sparse file at an entry's
    /// path is refused at once and replaced.
    func testOversizedEntriesAreRefusedBeforeReading() throws {
        let (dir, _, entry) = try builtEntry("size")
        var st = stat()
        XCTAssertEqual(stat(entry, &st), 0)
        let size = Int(st.st_size)
        XCTAssertTrue(try CCache(directory: dir, entryLimit: size).isValidEntry(entry))
        XCTAssertFalse(try CCache(directory: dir, entryLimit: size - 1).isValidEntry(entry))

        let cache = try CCache(directory: dir)
        let cc = try CCompiler.find()
        let source = "int gradc_sparse(void) { return 7; }\n"
        let path = cache.path(forKey: CCache.key(source: source, compiler: cc, flags: ["-O0"]))
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        XCTAssertEqual(ftruncate(fd, 3 << 30), 0)
        close(fd)
        XCTAssertFalse(cache.isValidEntry(path))
        let built = try cache.sharedObject(source: source, compiler: cc, flags: ["-O0"])
        XCTAssertFalse(built.hit)
        XCTAssertEqual(stat(path, &st), 0)
        XCTAssertLessThan(st.st_size, 1 << 20, "the sparse file was replaced by the real entry")
    }

    /// An entry of several hash chunks validates; one changed byte in its last chunk does not.
    func testLargeEntryIsHashedAcrossChunks() throws {
        try XCTSkipUnless((try? CCompiler.find()) != nil, "no C compiler")
        let cache = try CCache(directory: try scratchDirectory("chunks") + "/cache")
        let table = (0..<40_000).map { "\($0)" }.joined(separator: ",")
        let source = "const double gradc_table[] = {\(table)};\ndouble gradc_at(int i) { return gradc_table[i]; }\n"
        let built = try cache.sharedObject(source: source, compiler: CCompiler.find(), flags: ["-O0"])
        var st = stat()
        XCTAssertEqual(stat(built.path, &st), 0)
        XCTAssertGreaterThan(st.st_size, 4 << 16, "several 64 KiB chunks")
        XCTAssertTrue(cache.isValidEntry(built.path))
        let fd = open(built.path, O_RDWR)
        defer { close(fd) }
        let at = off_t(st.st_size) - 48 - 100
        var byte: UInt8 = 0
        XCTAssertEqual(pread(fd, &byte, 1, at), 1)
        var flipped = byte ^ 1
        XCTAssertEqual(pwrite(fd, &flipped, 1, at), 1)
        XCTAssertFalse(cache.isValidEntry(built.path))
        XCTAssertEqual(pwrite(fd, &byte, 1, at), 1)
        XCTAssertTrue(cache.isValidEntry(built.path))
    }

    // MARK: Directory at an entry

    /// A directory at an entry's path (with a file, and a link out of the cache, inside) is
    /// removed and replaced by the entry; the link's target survives.
    func testDirectoryAtEntryPathIsReplaced() throws {
        let (dir, env, entry) = try builtEntry("dirent")
        let outside = try scratchDirectory("outside") + "/keep"
        try Data("keep".utf8).write(to: URL(fileURLWithPath: outside))
        XCTAssertEqual(unlink(entry), 0)
        XCTAssertEqual(mkdir(entry, 0o700), 0)
        try Data("x".utf8).write(to: URL(fileURLWithPath: entry + "/file"))
        XCTAssertEqual(symlink((outside as NSString).deletingLastPathComponent, entry + "/out"), 0)
        XCTAssertFalse(try CCache(directory: dir).isValidEntry(entry))
        XCTAssertFalse(try reload(env))
        assertFreshEntry(entry)
        XCTAssertTrue(FileManager.default.fileExists(atPath: outside), "links inside are not followed")
        XCTAssertTrue(try reload(env))
    }

    /// `clear` removes a directory at an entry's path too, and the key.
    func testClearRemovesDirectoriesAtEntryPaths() throws {
        let (dir, _, entry) = try builtEntry("cleardir")
        XCTAssertEqual(unlink(entry), 0)
        XCTAssertEqual(mkdir(entry, 0o700), 0)
        try Data("x".utf8).write(to: URL(fileURLWithPath: entry + "/file"))
        XCTAssertEqual(try CCache(directory: dir).clear(), 3, "the directory, the lock file and the key")
        XCTAssertFalse(FileManager.default.fileExists(atPath: entry))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
    }

    // MARK: Timeouts

    func testTimeoutVariablesAreChecked() throws {
        let cc = try CCompiler.find(environment: ["GRADC_CC_TIMEOUT": "2.5", "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin"])
        XCTAssertEqual(cc.timeout, 2.5)
        XCTAssertEqual(try CCompiler.find().timeout, CCompiler.defaultTimeout)
        for bad in ["abc", "0", "-1", "nan", "5s"] {
            XCTAssertThrowsError(try CCompiler.find(environment: ["GRADC_CC_TIMEOUT": bad])) { error in
                XCTAssertTrue("\(error)".contains("GRADC_CC_TIMEOUT must be a positive number of seconds"), "\(error)")
            }
        }
        let dir = try scratchDirectory("locktimeout") + "/cache"
        XCTAssertEqual(try CCache.open(environment: ["GRADC_CACHE_DIR": dir, "GRADC_CACHE_LOCK_TIMEOUT": "0.25"]).lockTimeout, 0.25)
        XCTAssertNil(try CCache.open(environment: ["GRADC_CACHE_DIR": dir]).lockTimeout)
        XCTAssertThrowsError(try CCache.open(environment: ["GRADC_CACHE_DIR": dir, "GRADC_CACHE_LOCK_TIMEOUT": "soon"]))
    }
}

/// The streaming SHA-256 and HMAC-SHA-256 against published vectors (FIPS 180-2, RFC 4231),
/// fed whole and in pieces of awkward sizes.
final class SHA256Tests: XCTestCase {
    func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    func pieces(_ message: [UInt8], _ size: Int) -> SHA256 {
        var h = SHA256()
        for start in stride(from: 0, to: message.count, by: size) { h.update(message[start..<min(start + size, message.count)]) }
        return h
    }

    func testSHA256Vectors() {
        let vectors: [(String, String)] = [
            ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ]
        for (text, digest) in vectors {
            XCTAssertEqual(hex(sha256(Array(text.utf8))), digest, text)
            for size in [1, 3, 63, 64, 65] { XCTAssertEqual(hex(pieces(Array(text.utf8), size).finalize()), digest, "\(text) in \(size)s") }
        }
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        XCTAssertEqual(hex(pieces(million, 4099).finalize()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testHMACVectors() {
        func mac(_ key: [UInt8], _ data: [UInt8]) -> String {
            var m = HMACSHA256(key: key)
            m.update(data.prefix(7))
            m.update(data.dropFirst(7))
            return hex(m.finalize())
        }
        XCTAssertEqual(mac([UInt8](repeating: 0x0b, count: 20), Array("Hi There".utf8)),
                       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        XCTAssertEqual(mac(Array("Jefe".utf8), Array("what do ya want for nothing?".utf8)),
                       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        XCTAssertEqual(mac([UInt8](repeating: 0xaa, count: 131), Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)),
                       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }
}
