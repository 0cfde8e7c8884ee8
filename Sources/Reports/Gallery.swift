import Attacks
import Datasets
import Foundation

/// Test images beside their adversarial versions and the perturbation between them, as PNG data URIs.
struct GalleryItem: Codable, Sendable, Equatable {
    var index: Int
    var attack: String
    var label: Int
    var cleanPrediction: Int
    var adversarialPrediction: Int
    /// max |x′ − x| over the image, on the [0, 1] scale.
    var linf: Double
    var clean: String
    var perturbation: String
    var adversarial: String
}

enum Gallery {
    /// The perturbation δ = x′ − x is drawn about mid-grey and stretched so that ±ε fills the range:
    /// pixel = ½ + δ/(2ε), i.e. amplified 1/(2ε) times (×5 at ε = 0.1). An ε of 0 draws δ at ×1.
    static func amplification(eps: Double) -> Double { eps > 0 ? 1 / (2 * eps) : 1 }

    /// Every example of an evaluation (shapes checked when the run was loaded).
    static func items(_ r: EvaluationResult) throws -> [GalleryItem] {
        let gain = amplification(eps: r.eps)
        return try r.examples.map { e in
            let (c, h, w) = (e.shape[0], e.shape[1], e.shape[2])
            let delta = zip(e.adversarial, e.clean).map { a, b -> UInt8 in
                let v = 0.5 + gain * (Double(a) - Double(b)) / 255
                return UInt8((min(max(v, 0), 1) * 255).rounded())
            }
            func uri(_ chw: [UInt8]) throws -> String {
                let png = try encodePNG(pixels: interleave(chw, channels: c, height: h, width: w), width: w, height: h, channels: c)
                return "data:image/png;base64," + Data(png).base64EncodedString()
            }
            return GalleryItem(index: e.index, attack: e.attack, label: e.label, cleanPrediction: e.cleanPrediction,
                               adversarialPrediction: e.adversarialPrediction, linf: e.linf,
                               clean: try uri(e.clean), perturbation: try uri(delta), adversarial: try uri(e.adversarial))
        }
    }

    /// [C, H, W] planes → [H, W, C] interleaved samples, the layout PNG rows use.
    static func interleave(_ chw: [UInt8], channels c: Int, height h: Int, width w: Int) -> [UInt8] {
        if c == 1 { return chw }
        var out = [UInt8](repeating: 0, count: chw.count)
        for ch in 0..<c {
            for p in 0..<(h * w) { out[p * c + ch] = chw[ch * h * w + p] }
        }
        return out
    }
}
