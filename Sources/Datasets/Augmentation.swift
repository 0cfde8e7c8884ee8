import Engine

/// Training-time augmentation, applied per example by `BatchLoader` (nil there means none, as for
/// evaluation). JSON: `{ "random_crop_padding": 4, "horizontal_flip": true }`, both optional.
public struct Augmentation: Codable, Sendable, Equatable {
    /// Pad each side with `p` zero pixels, then crop back to the original size at a uniformly drawn
    /// offset (dy, dx) ∈ {0…2p}²: the image shifts by up to p pixels. 0 turns it off.
    public var randomCropPadding: Int
    /// Mirror left–right with probability 1/2 (after the crop). Leave off for digits and text.
    public var horizontalFlip: Bool

    public init(randomCropPadding: Int = 0, horizontalFlip: Bool = false) {
        require(randomCropPadding >= 0, "randomCropPadding must be ≥ 0, got \(randomCropPadding)")
        self.randomCropPadding = randomCropPadding
        self.horizontalFlip = horizontalFlip
    }

    /// The CIFAR recipe of the papers: crop 32 with padding 4, horizontal flip.
    public static let cifar = Augmentation(randomCropPadding: 4, horizontalFlip: true)

    enum CodingKeys: String, CodingKey, CaseIterable {
        case randomCropPadding = "random_crop_padding", horizontalFlip = "horizontal_flip"
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(allowed: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let padding = try c.decodeIfPresent(Int.self, forKey: .randomCropPadding) ?? 0
        guard padding >= 0 else {
            throw DatasetError.invalidValue(key: "random_crop_padding", value: String(padding), expected: "0 (off) or a positive number of pixels")
        }
        self.init(randomCropPadding: padding, horizontalFlip: try c.decodeIfPresent(Bool.self, forKey: .horizontalFlip) ?? false)
    }

    /// One example's draws: crop offsets in 0...2p and the flip, from a generator keyed by
    /// (seed, epoch, example index) so they do not depend on batch size or order.
    func draw(_ rng: inout SeededGenerator) -> AugmentationDraw {
        let span = 2 * randomCropPadding + 1
        let dy = randomCropPadding > 0 ? rng.next(below: span) : randomCropPadding
        let dx = randomCropPadding > 0 ? rng.next(below: span) : randomCropPadding
        let flip = horizontalFlip ? rng.next() >> 63 == 1 : false
        return AugmentationDraw(padding: randomCropPadding, dy: dy, dx: dx, flip: flip)
    }
}

/// One example's crop window (at (dy, dx) of the image padded by `padding`) and mirror; see `writeAugmented`.
struct AugmentationDraw {
    var padding = 0, dy = 0, dx = 0
    var flip = false

    /// The image as stored.
    static let identity = AugmentationDraw()
}

/// Byte → [0, 1] float, exact: `table[v] == Float(v) / 255`.
let unitScale: [Float] = (0..<256).map { Float($0) / 255 }

/// Writes one image as Float in [0, 1], cropped and flipped.
///
/// src: [C, H, W] bytes → dst: [C, H, W] floats, with
/// `dst[c, y, x] = src[c, y + dy − p, x' + dx − p]/255` where `x' = W−1−x` if `flip` else `x`,
/// and 0 where that source pixel falls in the padding. `p = 0, dy = dx = 0, flip = false` is a plain
/// conversion.
@inline(__always)
func writeAugmented(_ src: UnsafePointer<UInt8>, _ dst: UnsafeMutablePointer<Float>,
                    channels: Int, height: Int, width: Int,
                    padding p: Int, dy: Int, dx: Int, flip: Bool, scale: UnsafePointer<Float>) {
    let shiftY = dy - p, shiftX = dx - p
    // Destination columns whose source column x + shiftX (before the flip) lies inside the image.
    let lo = max(0, -shiftX), hi = min(width, width - shiftX)
    for c in 0..<channels {
        for y in 0..<height {
            let row = dst + (c * height + y) * width
            let sy = y + shiftY
            guard sy >= 0, sy < height, lo < hi else {
                row.update(repeating: 0, count: width)
                continue
            }
            let srcRow = src + (c * height + sy) * width + shiftX
            if !flip {
                if lo > 0 { row.update(repeating: 0, count: lo) }
                for x in lo..<hi { row[x] = scale[Int(srcRow[x])] }
                if hi < width { (row + hi).update(repeating: 0, count: width - hi) }
            } else {
                // Column x reads unflipped column W−1−x: valid when W−1−x ∈ lo..<hi.
                let flo = width - hi, fhi = width - lo
                if flo > 0 { row.update(repeating: 0, count: flo) }
                for x in flo..<fhi { row[x] = scale[Int(srcRow[width - 1 - x])] }
                if fhi < width { (row + fhi).update(repeating: 0, count: width - fhi) }
            }
        }
    }
}
