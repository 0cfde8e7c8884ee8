import Engine
import Foundation

/// Mean, spread and range of one metric over the seeds of a study cell.
public struct Summary: Codable, Sendable, Equatable {
    public var n: Int
    public var mean: Double
    /// Sample standard deviation (divides by n − 1); nil for a single value, whose spread is unknown.
    public var sd: Double?
    public var min: Double
    public var max: Double

    /// Nil for no values.
    public init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        n = values.count
        mean = values.reduce(0, +) / Double(n)
        let m = mean
        sd = n < 2 ? nil : (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(n - 1)).squareRoot()
        min = values.min()!
        max = values.max()!
    }
}

/// Welch's unequal-variance t-test of the difference of two means:
///   t = (m₁ − m₂) / √(s₁²/n₁ + s₂²/n₂)
///   ν = (s₁²/n₁ + s₂²/n₂)² / ((s₁²/n₁)²/(n₁ − 1) + (s₂²/n₂)²/(n₂ − 1))   (Welch–Satterthwaite)
///   p = P(|T_ν| ≥ |t|) = I_{ν/(ν+t²)}(ν/2, 1/2)   (two-sided)
public struct WelchTest: Codable, Sendable, Equatable {
    public var t: Double
    public var degreesOfFreedom: Double
    /// Two-sided p-value.
    public var p: Double

    enum CodingKeys: String, CodingKey { case t, degreesOfFreedom = "degrees_of_freedom", p }

    /// Nil when either sample has fewer than two values or both have no spread: the test is undefined.
    public init?(_ a: [Double], _ b: [Double]) {
        guard let x = Summary(a), let y = Summary(b), let sx = x.sd, let sy = y.sd else { return nil }
        let vx = sx * sx / Double(x.n), vy = sy * sy / Double(y.n)
        guard vx + vy > 0 else { return nil }
        t = (x.mean - y.mean) / (vx + vy).squareRoot()
        degreesOfFreedom = (vx + vy) * (vx + vy) / (vx * vx / Double(x.n - 1) + vy * vy / Double(y.n - 1))
        p = Self.twoSidedP(t: t, degreesOfFreedom: degreesOfFreedom)
    }

    /// P(|T_ν| ≥ |t|) for Student's t with ν degrees of freedom.
    public static func twoSidedP(t: Double, degreesOfFreedom nu: Double) -> Double {
        regularizedIncompleteBeta(nu / 2, 0.5, nu / (nu + t * t))
    }

    /// The CDF of Student's t with ν degrees of freedom: P(T_ν ≤ t).
    public static func studentTCDF(_ t: Double, degreesOfFreedom nu: Double) -> Double {
        let tail = twoSidedP(t: t, degreesOfFreedom: nu) / 2
        return t >= 0 ? 1 - tail : tail
    }
}

/// The regularised incomplete beta function I_x(a, b) = B(x; a, b) / B(a, b), for a, b > 0 and x in [0, 1].
///
/// Evaluated by its continued fraction (modified Lentz), which converges fast for x < (a + 1)/(a + b + 2);
/// above that the symmetry I_x(a, b) = 1 − I_{1−x}(b, a) brings x below it (Numerical Recipes §6.4).
public func regularizedIncompleteBeta(_ a: Double, _ b: Double, _ x: Double) -> Double {
    require(a > 0 && b > 0, "I_x(a, b) needs a, b > 0")
    if x <= 0 { return 0 }
    if x >= 1 { return 1 }
    // x^a (1−x)^b / (a B(a, b)), in logarithms to stay finite for large a, b.
    let front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x))
    if x < (a + 1) / (a + b + 2) { return front * betaContinuedFraction(a, b, x) / a }
    return 1 - front * betaContinuedFraction(b, a, 1 - x) / b
}

/// The continued fraction 1/(1+ d₁/(1+ d₂/(1+ …))) of I_x(a, b), with
/// d₂ₘ₊₁ = −(a+m)(a+b+m)x / ((a+2m)(a+2m+1)) and d₂ₘ = m(b−m)x / ((a+2m−1)(a+2m)).
private func betaContinuedFraction(_ a: Double, _ b: Double, _ x: Double) -> Double {
    let tiny = 1e-300, epsilon = 1e-15
    var c = 1.0
    var d = 1 - (a + b) * x / (a + 1)
    if abs(d) < tiny { d = tiny }
    d = 1 / d
    var h = d
    for m in 1...10_000 {
        let m = Double(m), m2 = 2 * m
        // Even step.
        var aa = m * (b - m) * x / ((a + m2 - 1) * (a + m2))
        d = 1 + aa * d; if abs(d) < tiny { d = tiny }
        c = 1 + aa / c; if abs(c) < tiny { c = tiny }
        d = 1 / d
        h *= d * c
        // Odd step.
        aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1))
        d = 1 + aa * d; if abs(d) < tiny { d = tiny }
        c = 1 + aa / c; if abs(c) < tiny { c = tiny }
        d = 1 / d
        let delta = d * c
        h *= delta
        if abs(delta - 1) < epsilon { break }
    }
    return h
}
