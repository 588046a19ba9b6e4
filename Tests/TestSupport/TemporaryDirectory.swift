import Foundation
import XCTest

/// The one way tests make temporary files: a fresh directory under the system's temporary
/// directory (`$TMPDIR`, else /tmp), removed with everything in it when the test ends — also
/// when the test made parts of it read-only, world-writable or owned by another user.
public enum TemporaryDirectory {
    /// The system's temporary directory itself (`$TMPDIR`, else /tmp): only for cleaning up
    /// what other tools leave there (SwiftPM's lock files), never for making files.
    public static var systemRoot: URL { URL(fileURLWithPath: NSTemporaryDirectory()) }

    /// A new empty directory `gradc-LABEL-XXXXXX` (mode 0700, from `mkdtemp`). The caller
    /// removes it with `remove`; in a test case, use `XCTestCase.temporaryDirectory` instead.
    public static func make(_ label: String) throws -> URL {
        let safe = String(label.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "-" }.prefix(40))
        let path = systemRoot.appendingPathComponent("gradc-\(safe)-XXXXXX").path
        var template = Array(path.utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let base = buffer.baseAddress, let p = mkdtemp(base) else { return nil }
            return String(cString: p)
        }
        guard let made else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
        return URL(fileURLWithPath: made).standardizedFileURL
    }

    /// One directory per label for the whole test process (a compile cache shared by test
    /// classes), made on first use and removed when the process exits.
    public static func forProcess(_ label: String) throws -> URL {
        processLock.lock()
        defer { processLock.unlock() }
        if let url = processDirectories[label] { return url }
        if processDirectories.isEmpty {
            atexit { for url in TemporaryDirectory.processDirectories.values { TemporaryDirectory.remove(url) } }
        }
        let url = try make(label)
        processDirectories[label] = url
        return url
    }

    private static let processLock = NSLock()
    nonisolated(unsafe) private static var processDirectories: [String: URL] = [:]

    /// Removes `url` and everything under it. Directories are made accessible to their owner
    /// first (a test may have taken the permissions away to provoke an error), and nothing
    /// is followed through a symbolic link.
    public static func remove(_ url: URL) {
        restorePermissions(url.path)
        try? FileManager.default.removeItem(at: url)
    }

    private static func restorePermissions(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else { return }
        chmod(path, 0o700)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return }
        for name in names { restorePermissions(path + "/" + name) }
    }
}

extension XCTestCase {
    /// A fresh temporary directory (see `TemporaryDirectory`), removed when this test ends.
    public func temporaryDirectory(_ label: String = "test") throws -> URL {
        let url = try TemporaryDirectory.make(label)
        addTeardownBlock { TemporaryDirectory.remove(url) }
        return url
    }
}
