/// The blocking and threading of the matrix-product kernels: one set of numbers for the VM's
/// and the C backend's BLIS-style kernels (B packed into `nr`-wide column panels, A into
/// `mr`-high row panels, a register-tiled `mr × nr` micro-kernel).
public enum MatmulBlocking {
    /// Rows of the micro-kernel's register tile of C.
    public static let mr = 6
    /// Columns of the tile: two vectors of `lanes` elements.
    public static func nr(lanes: Int) -> Int { 2 * lanes }
    /// Depth of a packed block (K).
    public static let kc = 256
    /// Rows of a packed block of A: kc·mc elements stay in L2 (f64: 144 KiB, f32: 120 KiB;
    /// 72 measured slightly faster than 120 for f64 with AVX2).
    public static func mc(_ dtype: DType) -> Int { dtype == .f32 ? 120 : 72 }
    /// Columns of a packed block of B (the C kernel; the VM packs all of B once).
    public static let nc = 2048
    /// Multiply-adds (m·n·k) from which a product may use two threads: a thread start costs
    /// ~20 µs, and below this the split does not pay on 2 cores (more so on a loaded machine).
    public static let parallelThreshold = 1 << 22
    /// Panels of rows (or of columns) each thread needs for the split to balance.
    public static let panelsPerSplit = 4

    /// Whether an `m`×`n`×`k` product with `nr`-wide panels is split over two threads.
    public static func splits(m: Int, n: Int, k: Int, nr: Int, threshold: Int = parallelThreshold) -> Bool {
        let work = m.multipliedReportingOverflow(by: n).partialValue.multipliedReportingOverflow(by: k).partialValue
        return work >= threshold && (m >= panelsPerSplit * mr || n >= panelsPerSplit * nr)
    }
}
