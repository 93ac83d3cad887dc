/// xoshiro256** (Blackman and Vigna), seeded through SplitMix64: the one source of randomness of a core or
/// a simulation. Never `SystemRandomNumberGenerator`: a failing seed must replay exactly (STYLE #3).
public struct Xoshiro256: RandomNumberGenerator, Sendable, Hashable {
    private var s0: UInt64
    private var s1: UInt64
    private var s2: UInt64
    private var s3: UInt64

    public init(seed: UInt64) {
        var sm = seed
        func splitMix(_ x: inout UInt64) -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix(&sm)
        s1 = splitMix(&sm)
        s2 = splitMix(&sm)
        s3 = splitMix(&sm)
    }

    public mutating func next() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 {
        (x << k) | (x >> (64 - k))
    }
}

extension Xoshiro256 {
    /// A uniform draw from `range`. The one way the pure modules draw numbers: every draw names this
    /// generator, so no draw can fall back to the system's random source by omission.
    public mutating func uniform<T: FixedWidthInteger>(_ range: ClosedRange<T>) -> T {
        let span = UInt64(truncatingIfNeeded: range.upperBound &- range.lowerBound)
        let offset = span == .max ? next() : next(upperBound: span + 1)
        return range.lowerBound &+ T(truncatingIfNeeded: offset)
    }

    /// A uniform draw from a half-open, non-empty `range`.
    public mutating func uniform<T: FixedWidthInteger>(_ range: Range<T>) -> T {
        precondition(!range.isEmpty, "empty range")
        return uniform(range.lowerBound...(range.upperBound - 1))
    }

    /// True with probability `percent`/100.
    public mutating func chance(percent: Int) -> Bool {
        percent > 0 && Int(next(upperBound: UInt64(100))) < percent
    }
}
