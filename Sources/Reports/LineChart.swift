import Foundation

/// How one series looks. Colour, dash pattern and marker all differ between series, so that a chart
/// printed in grey scale still tells them apart.
struct SeriesStyle: Equatable {
    enum Marker: CaseIterable { case circle, square, triangle, diamond, cross, plus }
    var colour: String
    /// SVG `stroke-dasharray`; nil = solid.
    var dash: String?
    var marker: Marker

    /// Okabe–Ito colours, ordered so that neighbours differ in lightness as well as hue.
    static let colours = ["#000000", "#D55E00", "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9"]
    static let dashes: [String?] = [nil, "7 4", "2 3", "10 3 2 3", "4 2", "1 2", "12 4"]

    static func at(_ i: Int) -> SeriesStyle {
        SeriesStyle(colour: colours[i % colours.count], dash: dashes[i % dashes.count],
                    marker: Marker.allCases[i % Marker.allCases.count])
    }
}

struct ChartSeries {
    var name: String
    var points: [(x: Double, y: Double)]
    var style: SeriesStyle
    /// Error bars: ± this much around each point's y (aligned with `points`; nil or 0 for none).
    var errors: [Double?]? = nil
    /// false: markers only, on every point (a scatter plot).
    var line = true
    var markerRadius = 3.6
    var filled = false
    var inLegend = true
}

/// A line chart drawn as inline SVG: framed plot area, round ticks with labels on both axes, axis labels
/// with units, one polyline per series with markers, and a legend below. No scripts, no external fonts.
///
/// The markup is meant to be read back: each tick is `<g class="x-tick|y-tick">` holding a `<line>` at
/// the tick's position and a `<text>` with its value; each series is `<g class="series" data-series=…>`
/// holding a `<polyline>` through every point.
struct LineChart {
    var id: String
    var title: String
    var x: ChartAxis
    var y: ChartAxis
    var series: [ChartSeries]
    var width: Double = 520
    var plotHeight: Double = 210

    // Room for the title above, tick labels and axis labels left and below.
    private let left = 62.0, right = 18.0, top = 34.0, belowPlot = 46.0
    private let legendRow = 18.0, charWidth = 6.6

    func svg() -> String {
        // The range covers the error bars as well as the points.
        let all = series.flatMap { s in
            s.points.enumerated().flatMap { i, p -> [(x: Double, y: Double)] in
                let e = s.errors.flatMap { i < $0.count ? $0[i] : nil } ?? 0
                return [(p.x, p.y - e), (p.x, p.y + e)]
            }
        }
        let xt = x.ticks(dataMin: all.map(\.x).min() ?? 0, dataMax: all.map(\.x).max() ?? 1)
        let yt = y.ticks(dataMin: all.map(\.y).min() ?? 0, dataMax: all.map(\.y).max() ?? 1)
        let plotWidth = width - left - right
        func px(_ v: Double) -> Double {
            left + (v - xt.range.lowerBound) / (xt.range.upperBound - xt.range.lowerBound) * plotWidth
        }
        func py(_ v: Double) -> Double {
            top + plotHeight - (v - yt.range.lowerBound) / (yt.range.upperBound - yt.range.lowerBound) * plotHeight
        }
        let c = Numbers.coordinate
        let legend = legendLayout(width: plotWidth)
        let height = top + plotHeight + belowPlot + Double(legend.rows) * legendRow + 6

        var out: [String] = []
        out.append(Markup.element("title", [("id", id + "-title")], Markup.escape(title)))
        out.append(Markup.element("text", [("class", "chart-title"), ("x", c(left)), ("y", "18"), ("font-weight", "bold")],
                                  Markup.escape(title)))
        // Grid and ticks.
        var grid: [String] = [], xTicks: [String] = [], yTicks: [String] = []
        for v in xt.values {
            let p = c(px(v))
            grid.append(Markup.empty("line", [("x1", p), ("y1", c(top)), ("x2", p), ("y2", c(top + plotHeight))]))
            xTicks.append(Markup.element("g", [("class", "x-tick")],
                Markup.empty("line", [("x1", p), ("y1", c(top + plotHeight)), ("x2", p), ("y2", c(top + plotHeight + 5)), ("stroke", "#777")])
                + Markup.element("text", [("x", p), ("y", c(top + plotHeight + 17)), ("text-anchor", "middle")], xt.label(v))))
        }
        for v in yt.values {
            let p = c(py(v))
            grid.append(Markup.empty("line", [("x1", c(left)), ("y1", p), ("x2", c(left + plotWidth)), ("y2", p)]))
            yTicks.append(Markup.element("g", [("class", "y-tick")],
                Markup.empty("line", [("x1", c(left - 5)), ("y1", p), ("x2", c(left)), ("y2", p), ("stroke", "#777")])
                + Markup.element("text", [("x", c(left - 8)), ("y", c(py(v) + 4)), ("text-anchor", "end")], yt.label(v))))
        }
        out.append(Markup.element("g", [("class", "grid"), ("stroke", "#e3e3e3"), ("stroke-width", "1")], grid.joined()))
        out.append(Markup.empty("rect", [("class", "frame"), ("x", c(left)), ("y", c(top)), ("width", c(plotWidth)),
                                         ("height", c(plotHeight)), ("fill", "none"), ("stroke", "#777")]))
        out.append(Markup.element("g", [("class", "x-axis")], xTicks.joined()
            + Markup.element("text", [("class", "axis-label"), ("x", c(left + plotWidth / 2)), ("y", c(top + plotHeight + 36)),
                                      ("text-anchor", "middle")], Markup.escape(x.label))))
        let yLabelX = 16.0, yLabelY = top + plotHeight / 2
        out.append(Markup.element("g", [("class", "y-axis")], yTicks.joined()
            + Markup.element("text", [("class", "axis-label"), ("x", c(yLabelX)), ("y", c(yLabelY)), ("text-anchor", "middle"),
                                      ("transform", "rotate(-90 \(c(yLabelX)) \(c(yLabelY)))")],
                             Markup.escape(y.label))))
        // Series: the line through every point, markers on at most ~16 of them (all of them when few).
        for s in series where !s.points.isEmpty {
            let points = s.points.map { "\(c(px($0.x))),\(c(py($0.y)))" }.joined(separator: " ")
            var body = !s.line ? "" : Markup.empty("polyline", [("points", points), ("fill", "none"), ("stroke", s.style.colour),
                                                                ("stroke-width", "2"), ("stroke-dasharray", s.style.dash),
                                                                ("stroke-linejoin", "round")])
            for (i, p) in s.points.enumerated() {
                guard let e = s.errors.flatMap({ i < $0.count ? $0[i] : nil }), e > 0 else { continue }
                let x = px(p.x), lo = py(p.y - e), hi = py(p.y + e)
                body += Markup.empty("path", [("class", "error-bar"), ("d", "M\(c(x)) \(c(lo))L\(c(x)) \(c(hi))M\(c(x - 4)) \(c(lo))L\(c(x + 4)) \(c(lo))M\(c(x - 4)) \(c(hi))L\(c(x + 4)) \(c(hi))"),
                                              ("stroke", s.style.colour), ("stroke-width", "1.4"), ("fill", "none")])
            }
            let every = s.line ? max(1, Int((Double(s.points.count) / 16).rounded(.up))) : 1
            for (i, p) in s.points.enumerated() where i % every == 0 || i == s.points.count - 1 {
                body += Self.marker(s.style, at: px(p.x), py(p.y), radius: s.markerRadius, filled: s.filled)
            }
            out.append(Markup.element("g", [("class", "series"), ("data-series", s.name)], body))
        }
        out.append(legendSVG(legend, y0: top + plotHeight + belowPlot))
        return Markup.element("svg", [("class", "chart"), ("id", id), ("viewBox", "0 0 \(c(width)) \(c(height))"),
                                      ("width", c(width)), ("height", c(height)), ("role", "img"),
                                      ("aria-labelledby", id + "-title"), ("font-family", "sans-serif"), ("font-size", "12")],
                              out.joined(separator: "\n"))
    }

    /// A marker of `style`'s shape centred on (x, y), outlined in the series colour (`filled`: solid).
    static func marker(_ style: SeriesStyle, at x: Double, _ y: Double, radius r: Double = 3.6, filled: Bool = false) -> String {
        let c = Numbers.coordinate
        let attrs: [(String, String?)] = [("fill", filled ? style.colour : "#fff"), ("stroke", style.colour), ("stroke-width", "1.6")]
        switch style.marker {
        case .circle: return Markup.empty("circle", [("cx", c(x)), ("cy", c(y)), ("r", c(r))] + attrs)
        case .square: return Markup.empty("rect", [("x", c(x - r)), ("y", c(y - r)), ("width", c(2 * r)), ("height", c(2 * r))] + attrs)
        case .triangle:
            return Markup.empty("path", [("d", "M\(c(x)) \(c(y - r * 1.2))L\(c(x + r * 1.1)) \(c(y + r * 0.8))L\(c(x - r * 1.1)) \(c(y + r * 0.8))Z")] + attrs)
        case .diamond:
            return Markup.empty("path", [("d", "M\(c(x)) \(c(y - r * 1.3))L\(c(x + r)) \(c(y))L\(c(x)) \(c(y + r * 1.3))L\(c(x - r)) \(c(y))Z")] + attrs)
        case .cross:
            return Markup.empty("path", [("d", "M\(c(x - r)) \(c(y - r))L\(c(x + r)) \(c(y + r))M\(c(x - r)) \(c(y + r))L\(c(x + r)) \(c(y - r))"),
                                         ("stroke", style.colour), ("stroke-width", "2")])
        case .plus:
            return Markup.empty("path", [("d", "M\(c(x - r * 1.2)) \(c(y))L\(c(x + r * 1.2)) \(c(y))M\(c(x)) \(c(y - r * 1.2))L\(c(x)) \(c(y + r * 1.2))"),
                                         ("stroke", style.colour), ("stroke-width", "2")])
        }
    }

    /// Legend entries flow left to right and wrap; each is a line sample with its marker, then the name.
    private func legendLayout(width: Double) -> (rows: Int, positions: [(x: Double, row: Int)]) {
        var positions: [(x: Double, row: Int)] = []
        var x = 0.0, row = 0
        for s in series where s.inLegend {
            let w = 34 + Double(s.name.count) * charWidth + 16
            if x > 0, x + w > width { x = 0; row += 1 }
            positions.append((x, row))
            x += w
        }
        return (positions.isEmpty ? 0 : row + 1, positions)
    }

    private func legendSVG(_ layout: (rows: Int, positions: [(x: Double, row: Int)]), y0: Double) -> String {
        let c = Numbers.coordinate
        var items: [String] = []
        for (s, p) in zip(series.filter(\.inLegend), layout.positions) {
            let x = left + p.x, y = y0 + Double(p.row) * legendRow + 4
            items.append(Markup.element("g", [("class", "legend-item")],
                (!s.line ? "" : Markup.empty("line", [("x1", c(x)), ("y1", c(y)), ("x2", c(x + 28)), ("y2", c(y)), ("stroke", s.style.colour),
                                                      ("stroke-width", "2"), ("stroke-dasharray", s.style.dash)]))
                + Self.marker(s.style, at: x + 14, y, radius: min(s.markerRadius, 6), filled: s.filled)
                + Markup.element("text", [("x", c(x + 34)), ("y", c(y + 4))], Markup.escape(s.name))))
        }
        return Markup.element("g", [("class", "legend")], items.joined())
    }
}
