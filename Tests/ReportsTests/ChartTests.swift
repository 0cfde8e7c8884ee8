import Foundation
import Testing
@testable import Reports

@Test(arguments: [(0.37, 2.9), (0.0, 100.0), (1.0, 1.16), (0.0013, 0.0021), (-3.2, 7.7), (1.0, 300.0)])
func ticksAreRoundStepsThatCoverTheData(_ lo: Double, _ hi: Double) {
    let t = ChartAxis(label: "").ticks(dataMin: lo, dataMax: hi)
    #expect(t.range.lowerBound <= lo && t.range.upperBound >= hi)
    #expect((3...11).contains(t.values.count), "\(t.values)")
    // The step is 1, 2 or 5 times a power of ten.
    let mantissa = t.step / pow(10, floor(log10(t.step)))
    #expect([1.0, 2.0, 5.0].contains { abs(mantissa - $0) < 1e-9 })
    for (a, b) in zip(t.values, t.values.dropFirst()) { #expect(abs(b - a - t.step) < 1e-9 * t.step) }
    // Labels print each tick exactly at the step's precision.
    for v in t.values { #expect(abs(Double(t.label(v))! - v) < 1e-9 * max(1, abs(v))) }
}

@Test func epochTicksAreWholeNumbersEvenForOneEpoch() {
    let one = ChartAxis(label: "epoch", integerTicks: true).ticks(dataMin: 1, dataMax: 1)
    #expect(one.values == [0, 1, 2])
    let few = ChartAxis(label: "epoch", integerTicks: true).ticks(dataMin: 1, dataMax: 3)
    #expect(few.values.allSatisfy { $0 == $0.rounded() } && few.values.first! <= 1 && few.values.last! >= 3)
}

@Test func fixedDomainsAreKeptAsGiven() {
    let t = ChartAxis(label: "%", domain: 0...100).ticks(dataMin: 30, dataMax: 41)
    #expect(t.range == 0...100 && t.values == [0, 20, 40, 60, 80, 100])
}

@Test func seriesStylesDifferInColourDashAndMarker() {
    let styles = (0..<6).map(SeriesStyle.at)
    for i in styles.indices {
        for j in styles.indices where j > i {
            #expect(styles[i].colour != styles[j].colour && styles[i].dash != styles[j].dash && styles[i].marker != styles[j].marker)
        }
    }
}

@Test func markupEscapesTheFiveXMLCharactersAndControlCharacters() {
    #expect(Markup.escape(#"a<b & "c" 'd'>"#) == "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;")
    #expect(Markup.escape("x\u{01}y\tz") == "x\u{FFFD}y\tz")
    #expect(Markup.element("td", [("class", "a\"b"), ("title", nil)], "1") == #"<td class="a&quot;b">1</td>"#)
}

@Test func epsIsShownAsAFractionOf255WhenItIsOne() {
    #expect(Numbers.eps(8.0 / 255) == "8/255 (0.03137)")
    #expect(Numbers.eps(0.1) == "0.1")
    #expect(Numbers.eps(0) == "0")
}
