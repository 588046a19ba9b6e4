@testable import GradLowering
import XCTest

/// The workspace allocator's free list picks what the linear best-fit scan it replaced picked
/// (the smallest slot that fits, the earliest freed among equals), so buffer plans — and the
/// golden bytecode — did not change when lowering stopped being quadratic.
final class FreeSlotsTests: XCTestCase {
    /// The replaced algorithm, kept as the specification.
    struct LinearFreeList {
        var free: [(slot: Int, bytes: Int)] = []
        mutating func insert(_ slot: Int, bytes: Int) { free.append((slot, bytes)) }
        mutating func takeBestFit(_ bytes: Int) -> Int? {
            var best = -1
            for (j, s) in free.enumerated() where s.bytes >= bytes {
                if best < 0 || s.bytes < free[best].bytes { best = j }
            }
            return best >= 0 ? free.remove(at: best).slot : nil
        }
    }

    func testAgreesWithTheLinearScanOnRandomSequences() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var fast = FreeSlots()
            var slow = LinearFreeList()
            var next = 0
            for _ in 0..<300 {
                let bytes = [8, 16, 64, 64, 128, 800][Int.random(in: 0..<6, using: &rng)]
                if Bool.random(using: &rng) {
                    fast.insert(next, bytes: bytes)
                    slow.insert(next, bytes: bytes)
                    next += 1
                } else {
                    XCTAssertEqual(fast.takeBestFit(bytes), slow.takeBestFit(bytes))
                }
            }
        }
    }

    func testExactCases() {
        var free = FreeSlots()
        XCTAssertNil(free.takeBestFit(0), "nothing free")
        free.insert(3, bytes: 64)
        free.insert(1, bytes: 16)
        free.insert(7, bytes: 64)
        XCTAssertNil(free.takeBestFit(65), "no slot is large enough")
        XCTAssertEqual(free.takeBestFit(10), 1, "the smallest that fits")
        XCTAssertEqual(free.takeBestFit(10), 3, "then the earliest freed of the next size")
        XCTAssertEqual(free.takeBestFit(64), 7)
        XCTAssertNil(free.takeBestFit(1), "empty again")
        free.insert(9, bytes: 16)
        XCTAssertEqual(free.takeBestFit(16), 9, "a size reused after it emptied")
    }
}
