import Foundation

/// report.html: one self-contained page (inline CSS and SVG, images as data URIs; no scripts, fonts or
/// links to fetch), written as XHTML-compatible markup so it parses as XML too, and laid out to print.
struct HTMLReport {
    let document: ReportDocument
    /// Per run (aligned with `document.runs`): the gallery's PNG data URIs.
    let galleries: [[GalleryItem]]

    func render() -> String {
        let d = document
        var body: [String] = []
        body.append(Markup.element("h1", [], Markup.escape(d.title)))
        body.append(Markup.element("p", [("class", "meta")],
            "Generated \(Markup.escape(d.created)) · code at git commit \(Markup.element("code", [], Markup.escape(d.gitCommit))) · "
            + "\(d.runs.count) run\(d.runs.count == 1 ? "" : "s"): " + d.runs.map { Markup.escape($0.run) }.joined(separator: ", ")))
        body.append(notesSection())
        body.append(comparisonSection())
        body.append(sweepSection())
        body.append(trainingSection())
        body.append(balancerSection())
        body.append(perClassSection())
        body.append(gallerySection())
        body.append(provenanceSection())
        body.append(Markup.element("p", [("class", "meta")],
            "Written by " + Markup.element("code", [], "advdistill report") + ". The same numbers are in report.json; the tables in report.md."))
        return Self.page(title: d.title, body: body)
    }

    /// A self-contained page: the shared style (plus `extraCSS`) and the non-empty `body` sections in order.
    static func page(title: String, extraCSS: String = "", body: [String]) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title>\(Markup.escape(title))</title>
        <style>
        \(css)\(extraCSS.isEmpty ? "" : "\n" + extraCSS)
        </style>
        </head>
        <body>
        \(body.filter { !$0.isEmpty }.joined(separator: "\n"))
        </body>
        </html>

        """
    }

    static let css = """
    body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #111;
           max-width: 1120px; margin: 24px auto; padding: 0 20px; line-height: 1.45; }
    h1 { font-size: 1.6em; margin-bottom: 0.2em; }
    h2 { font-size: 1.25em; border-bottom: 1px solid #bbb; padding-bottom: 0.15em; margin-top: 1.8em; }
    h3 { font-size: 1.05em; margin: 1.2em 0 0.4em; }
    .meta { color: #444; font-size: 0.9em; }
    table { border-collapse: collapse; margin: 0.6em 0; font-variant-numeric: tabular-nums; }
    th, td { border: 1px solid #bbb; padding: 3px 8px; }
    th { background: #f0f0f0; text-align: left; }
    td.num { text-align: right; }
    td.best { font-weight: bold; text-decoration: underline; }
    td.missing { color: #777; text-align: center; }
    .threat { font-size: 0.95em; }
    .columns { font-size: 0.85em; color: #333; }
    .columns dt { font-weight: bold; float: left; clear: left; width: 7.5em; }
    .columns dd { margin-left: 8em; }
    .charts { display: flex; flex-wrap: wrap; gap: 12px 24px; }
    svg.chart { max-width: 100%; height: auto; }
    svg.chart text { fill: #111; }
    .note { border-left: 4px solid #555; background: #f4f4f4; padding: 6px 10px; margin: 0.6em 0; }
    .warning { border-left: 4px solid #000; background: #fff4e0; padding: 6px 10px; margin: 0.4em 0; }
    table.heat td.num { min-width: 3.6em; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
    .gallery { display: flex; flex-wrap: wrap; gap: 14px; }
    figure { margin: 0; border: 1px solid #ccc; padding: 6px; break-inside: avoid; }
    figure .triple { display: flex; gap: 4px; }
    figure img { width: 80px; height: 80px; image-rendering: pixelated; image-rendering: crisp-edges; border: 1px solid #999; }
    figcaption { font-size: 0.8em; max-width: 252px; }
    .triple span { display: block; font-size: 0.75em; text-align: center; color: #333; }
    dl.prov { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; font-size: 0.9em; }
    dl.prov dt { font-weight: bold; }
    dl.prov dd { margin: 0; word-break: break-word; }
    code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.92em; }
    @media print {
      body { max-width: none; margin: 0; font-size: 10pt; }
      h2 { break-after: avoid; }
      table { font-size: 8.5pt; }
      th, td { padding: 2px 4px; }
      section.run, table, svg.chart, figure, .charts { break-inside: avoid; }
    }
    @page { margin: 14mm; }
    """

    // MARK: Sections

    func notesSection() -> String {
        let d = document
        guard !d.notes.isEmpty || !d.failures.isEmpty else { return "" }
        var items = d.notes.map { Markup.element("p", [("class", "note")], Markup.escape($0)) }
        items += d.failures.map {
            Markup.element("p", [("class", "warning")],
                           "Run " + Markup.element("code", [], Markup.escape($0.directory)) + " is not in this report: " + Markup.escape($0.message))
        }
        return section("notes", "Notes", items.joined(separator: "\n"))
    }

    func comparisonSection() -> String {
        let t = document.comparison
        let showEps = t.epsValues.count > 1
        var head = Markup.element("th", [], "Model") + Markup.element("th", [], "Method")
        if showEps { head += Markup.element("th", [], "ε") }
        head += t.columns.map { Markup.element("th", [("title", $0.detail)], Markup.escape($0.title)) }.joined()
        let rows = t.rows.map { row in
            var cells = Markup.element("td", [], Markup.escape(row.run)) + Markup.element("td", [], Markup.escape(row.method))
            if showEps { cells += Markup.element("td", [("class", "num")], Markup.escape(Numbers.eps(row.eps))) }
            cells += zip(row.values, row.best).map { v, best in
                guard let v else { return Markup.element("td", [("class", "missing")], "—") }
                return Markup.element("td", [("class", best ? "num best" : "num")], Numbers.percent(v))
            }.joined()
            return Markup.element("tr", [], cells)
        }
        let table = Markup.element("table", [("class", "comparison"), ("id", "comparison-table")],
            Markup.element("thead", [], Markup.element("tr", [], head)) + Markup.element("tbody", [], rows.joined(separator: "\n")))
        let columns = Markup.element("dl", [("class", "columns")],
            t.columns.map { Markup.element("dt", [], Markup.escape($0.title)) + Markup.element("dd", [], Markup.escape($0.detail)) }.joined())
        return section("comparison", "Comparison",
            Markup.element("p", [("class", "threat")], Markup.escape(document.threatModel.statement))
            + "\n" + table + "\n"
            + Markup.element("p", [("class", "meta")], "Accuracy in %. Bold and underlined: best in its column (with at least two runs); — : not evaluated. "
                             + "Step sizes are those of ε = 8/255, scaled linearly with ε.")
            + "\n" + columns + maskingSummary())
    }

    /// Gradient-masking warnings belong next to the numbers they put in doubt; the details are under Provenance.
    func maskingSummary() -> String {
        let flagged = document.runs.filter { !$0.warnings.isEmpty }
        guard !flagged.isEmpty else { return "" }
        return "\n" + Markup.element("p", [("class", "warning")],
            "Gradient-masking checks raised warnings for " + flagged.map { "\(Markup.escape($0.run)) (\($0.warnings.count))" }.joined(separator: ", ")
            + ": their robust accuracy may be overestimated (details under Provenance).")
    }

    func section(_ id: String, _ title: String, _ content: String) -> String {
        Markup.element("section", [("id", id)], Markup.element("h2", [], Markup.escape(title)) + "\n" + content)
    }
}
