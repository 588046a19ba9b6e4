// Special functions (issue 17): digamma, polygamma, log_sigmoid, logaddexp, xlogy. Like every
// formula of ScalarMath, each is computed in the element type, step for step as the C emitter
// writes it (GradC/CFormulas.swift, `cHelperSource`), so all backends agree bit for bit.
// `lgamma` and `erfc` are libm calls (ScalarMath.swift).

extension ScalarMath {
    /// The largest order `polygamma` computes; any other n gives NaN.
    public static let polygammaMaxOrder = 16

    /// The positive root x₀ of digamma, as hi + lo (x₀ = 1.4616321449683623412626595423…).
    public static let digammaRootHi = 0x1.762d86356be3fp+0
    public static let digammaRootLo = 0x1.b86a722197829p-54
    /// Taylor coefficients ψ⁽ʲ⁾(x₀)/j! for j = 1…24 (mpmath, 40 digits, rounded to f64).
    public static let digammaRootTaylor: [Double] = [
        0x1.ef72bc8ee38acp-1, -0x1.c563b54aa1a35p-2, 0x1.08b4294d50381p-2, -0x1.4fc1317257da8p-3,
        0x1.b9a5b6370f3abp-4, -0x1.27baba261cc2cp-4, 0x1.8fce02b239ca7p-5, -0x1.0fa7ec36a7d8fp-5,
        0x1.723d6807edcc0p-6, -0x1.f970508e1b6a2p-7, 0x1.5955caaa962f3p-7, -0x1.d828079282eb8p-8,
        0x1.42e1acf81d8dcp-8, -0x1.b9afc7cee8a14p-9, 0x1.2e23345f79aafp-9, -0x1.9d626f71d1f7ap-10,
        0x1.1acebbd761089p-10, -0x1.82f6345c65b35p-11, 0x1.08bdae1a261d4p-11, -0x1.6a3fddea11304p-12,
        0x1.efacab6fb8985p-13, -0x1.531f5dc5eb563p-13, 0x1.d0080f810fab5p-14, -0x1.3d7972688af67p-14,
    ]
    /// The Bernoulli numbers B₂, B₄, …, B₂₀ of the asymptotic series.
    public static let bernoulli: [Double] = [
        1.0 / 6, -1.0 / 30, 1.0 / 42, -1.0 / 30, 5.0 / 66, -691.0 / 2730, 7.0 / 6, -3617.0 / 510, 43867.0 / 798, -174611.0 / 330,
    ]
    /// B₂ₖ/(2k), the coefficients of digamma's asymptotic series.
    public static let digammaAsymptotic: [Double] = bernoulli.enumerated().map { k, b in b / Double(2 * (k + 1)) }
    /// ln 2 (f64), for logaddexp at a = b.
    public static let ln2 = 0x1.62e42fefa39efp-1

    /// Digamma ψ(x) = polygamma(0, x).
    @inlinable public static func digamma<T: RealScalar>(_ x: T) -> T { polygamma(0, x) }

    /// The polygamma function ψ⁽ⁿ⁾(x) for n = 0 (digamma), 1 (trigamma), …, 16.
    /// ```
    /// x > 0:  ψ⁽ⁿ⁾(x) = ψ⁽ⁿ⁾(x + m) + (−1)ⁿ⁺¹ n! Σ_{j<m} (x + j)^−(n+1)   (x + m ≥ 10 + 2n)
    ///         ψ⁽ⁿ⁾(z) ≈ (−1)ⁿ⁺¹ z⁻ⁿ [(n−1)! + n!/(2z) + Σₖ B₂ₖ (2k+n−1)!/(2k)! z^−2k]   (k = 1…10)
    ///         ψ(z)   ≈ ln z − 1/(2z) − Σₖ B₂ₖ/(2k) z^−2k
    ///         ψ(x) = Σⱼ cⱼ (x − x₀)ʲ  where |x − x₀| < 1/4 (the root, kept relatively accurate)
    /// x < 0:  ψ⁽ⁿ⁾(x) = (−1)ⁿ ψ⁽ⁿ⁾(1 − x) − πⁿ⁺¹ Pₙ(cot πx),  P₀(c) = c, Pₖ₊₁ = −(1 + c²) Pₖ′
    /// ```
    /// Poles at 0, −1, −2, …: +inf for odd n; for even n −inf at +0, +inf at −0, NaN at the
    /// negative integers. x = +inf gives +inf for n = 0 and ±0 otherwise; x = −inf gives NaN.
    /// C: `GRADCPFX_polygamma_f64(n, x)`, a static function of the generated file.
    @inlinable public static func polygamma<T: RealScalar>(_ n: T, _ x: T) -> T {
        if n.isNaN { return n }
        if x.isNaN { return x }
        if !(n >= 0 && n <= T(polygammaMaxOrder) && n == T.floor(n)) { return T.nan }
        let k = Int(n)
        let odd = k % 2 == 1
        if x == 0 { return odd ? T.infinity : (x.sign == .minus ? T.infinity : -T.infinity) }
        if x == T.infinity { return k == 0 ? x : (odd ? 0 : -0.0) }
        if x == -T.infinity { return T.nan }
        if x < 0 {
            if x == T.floor(x) { return odd ? T.infinity : T.nan }
            return polygammaReflected(k, x)
        }
        return polygammaPositive(k, x)
    }

    /// ψ⁽ᵏ⁾(x) for x > 0 finite (the recurrence, then the asymptotic series).
    @inlinable static func polygammaPositive<T: RealScalar>(_ k: Int, _ x: T) -> T {
        if k == 0 {
            let d0 = x - T(digammaRootHi)
            if d0.magnitude < T(0.25) {
                let d = d0 - T(digammaRootLo)
                var acc: T = 0
                var j = digammaRootTaylor.count - 1
                while j >= 0 {
                    acc = acc * d + T(digammaRootTaylor[j])
                    j -= 1
                }
                return acc * d
            }
        }
        var fact: T = 1
        var i = 1
        while i <= k {
            fact = fact * T(i)
            i += 1
        }
        let threshold = T(10 + 2 * k)
        var acc: T = 0
        var m = 0
        while x + T(m) < threshold {
            let z = x + T(m)
            if k == 0 {
                acc = acc - 1 / z
            } else {
                var p = z
                var e = 0
                while e < k {
                    p = p * z
                    e += 1
                }
                acc = acc + fact / p
            }
            m += 1
        }
        let z = x + T(m)
        let t = 1 / z
        let t2 = t * t
        var p = t2
        var s: T = 0
        if k == 0 {
            for c in digammaAsymptotic {
                s = s + T(c) * p
                p = p * t2
            }
            return acc + (T.log(z) - T(0.5) * t - s)
        }
        var f = fact * T(k + 1) / 2
        var j = 1
        for b in bernoulli {
            s = s + T(b) * f * p
            p = p * t2
            f = f * T(2 * j + k) * T(2 * j + k + 1) / (T(2 * j + 1) * T(2 * j + 2))
            j += 1
        }
        var tk: T = 1
        var e = 0
        while e < k {
            tk = tk * t
            e += 1
        }
        let total = acc + (fact / T(k) + fact * T(0.5) * t + s) * tk
        return k % 2 == 1 ? total : -total
    }

    /// ψ⁽ᵏ⁾(x) for x < 0, not an integer: reflection through π cot πx.
    @inlinable static func polygammaReflected<T: RealScalar>(_ k: Int, _ x: T) -> T {
        // r ≡ x (mod 1) in [−½, ½], exactly (Sterbenz): x − ⌊x⌋, or x − (⌊x⌋ + 1) above ½.
        let whole = T.floor(x)
        var r = x - whole
        if r > T(0.5) { r = x - (whole + 1) }
        let pi = T(Double.pi)
        let a = pi * r
        let cot = T.cos(a) / T.sin(a)
        // Pₖ's coefficients (degree k + 1), built from P₀ = c.
        let size = polygammaMaxOrder + 2
        let horner: T = withUnsafeTemporaryAllocation(of: T.self, capacity: 2 * size) { buffer in
            guard let base = buffer.baseAddress else { return T.nan }
            var p = base
            var q = base + size
            for i in 0..<size { p[i] = 0 }
            p[1] = 1
            var degree = 1
            var step = 0
            while step < k {
                for i in 0..<(degree + 2) { q[i] = 0 }
                var i = 1
                while i <= degree {
                    let c = T(i) * p[i]
                    q[i - 1] = q[i - 1] - c
                    q[i + 1] = q[i + 1] - c
                    i += 1
                }
                swap(&p, &q)
                degree += 1
                step += 1
            }
            var acc: T = 0
            var j = degree
            while j >= 0 {
                acc = acc * cot + p[j]
                j -= 1
            }
            return acc
        }
        var piPower: T = pi
        var e = 0
        while e < k {
            piPower = piPower * pi
            e += 1
        }
        let mirrored = polygammaPositive(k, 1 - x)
        return (k % 2 == 0 ? mirrored : -mirrored) - piPower * horner
    }

    /// ln σ(x) = −softplus(−x), stable for large |x|.
    /// ```
    /// log_sigmoid(x) = (x < 0 ? x : 0) − log1p(exp(−|x|))
    /// ```
    /// C: `(x < 0 ? x : 0.0) - log1p(exp(-fabs(x)))`. −inf gives −inf, +inf gives −0, NaN NaN.
    @inlinable public static func logSigmoid<T: RealScalar>(_ x: T) -> T {
        (x < 0 ? x : 0) - T.log1p(T.exp(-x.magnitude))
    }

    /// ln(eᵃ + eᵇ), stable.
    /// ```
    /// logaddexp(a, b) = a + ln 2                    if a = b (±inf too)
    ///                   a + log1p(exp(−(a − b)))    if a − b > 0
    ///                   b + log1p(exp(a − b))       if a − b ≤ 0
    ///                   a − b (NaN)                 otherwise
    /// ```
    /// C: `GRADCPFX_logaddexp_f64(a, b)`.
    @inlinable public static func logaddexp<T: RealScalar>(_ a: T, _ b: T) -> T {
        if a == b { return a + T(ln2) }
        let d = a - b
        if d > 0 { return a + T.log1p(T.exp(-d)) }
        if d <= 0 { return b + T.log1p(T.exp(d)) }
        return d
    }

    /// x·ln y with SciPy's convention at x = 0.
    /// ```
    /// xlogy(x, y) = +0          if x = 0 and y is not NaN
    ///               x · log(y)  otherwise
    /// ```
    /// C: `((x == 0 && y == y) ? 0.0 : x * log(y))`.
    @inlinable public static func xlogy<T: RealScalar>(_ x: T, _ y: T) -> T {
        if x == 0 && !y.isNaN { return 0 }
        return x * T.log(y)
    }
}
