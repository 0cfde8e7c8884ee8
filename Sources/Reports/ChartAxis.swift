import Foundation

/// One axis of a chart: its label (with the unit), and how its range is chosen.
struct ChartAxis {
    /// Shown beside the axis, e.g. "accuracy (%)" or "epoch".
    var label: String
    /// A fixed range (accuracy 0–100 %, loss weights 0–1); nil takes the data's range, widened to round ticks.
    var domain: ClosedRange<Double>? = nil
    /// Widen a data-derived range to include these values (0 for losses, 1 for temperatures, every epoch of a run).
    var include: [Double] = []
    /// Epoch axes: ticks only at whole numbers.
    var integerTicks = false

    /// The range drawn and its tick values, for data spanning `lo...hi`.
    func ticks(dataMin lo: Double, dataMax hi: Double) -> Ticks {
        if let domain { return Ticks(range: domain, integer: integerTicks, widen: false) }
        var a = lo, b = hi
        for v in include { a = min(a, v); b = max(b, v) }
        if !(a.isFinite && b.isFinite) { a = 0; b = 1 }
        if b - a < 1e-12 {
            // One value (a single epoch, a constant τ): centre it in a range of one step either side.
            let pad = integerTicks ? 1 : max(abs(a) * 0.1, 0.1)
            a -= pad; b += pad
        }
        return Ticks(range: a...b, integer: integerTicks, widen: true)
    }
}

/// Round tick values (1, 2 or 5 × 10^k apart) covering a range.
struct Ticks {
    let range: ClosedRange<Double>
    let step: Double
    let values: [Double]

    /// `widen`: extend the range outward to whole steps (data ranges); a fixed range is kept as given.
    init(range r: ClosedRange<Double>, integer: Bool, widen: Bool, target: Int = 5) {
        let raw = (r.upperBound - r.lowerBound) / Double(target)
        let magnitude = pow(10, floor(log10(raw)))
        let n = raw / magnitude
        var step = (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * magnitude
        if integer { step = max(1, step.rounded()) }
        // The slack keeps a value a rounding error past a tick (0.2 stored as Float) from adding a whole step.
        let lo = widen ? floor(r.lowerBound / step + 1e-6) * step : r.lowerBound
        let hi = widen ? ceil(r.upperBound / step - 1e-6) * step : r.upperBound
        var values: [Double] = []
        var k = ceil(lo / step - 1e-9)
        while k * step <= hi + step * 1e-9 {
            values.append(abs(k * step) < step * 1e-9 ? 0 : k * step)
            k += 1
        }
        self.range = lo...hi
        self.step = step
        self.values = values
    }

    /// A tick's label with as many decimals as the step needs: step 0.05 → "0.15", step 20 → "40".
    func label(_ v: Double) -> String {
        let decimals = max(0, Int(-floor(log10(step) + 1e-9)))
        return String(format: "%.\(decimals)f", v)
    }
}
