import Engine

/// Entropy-Based Balance (B-MTARD): the more confident teacher is softened, the less confident sharpened,
/// so that both teachers' tempered distributions move toward equal entropy.
/// τ_adv ← clip(τ_adv − η·sign(H_adv/H_nat − 1), 1, 10),  τ_nat ← clip(τ_nat − η·sign(H_nat/H_adv − 1), 1, 10).
/// Updated every batch after the losses are computed; the new temperatures apply from the next batch.
public struct EntropyBalance: Sendable, Equatable {
    public var tauNat: Float = 1
    public var tauAdv: Float = 1
    /// Step η; decays ×0.1 with the learning rate.
    public var eta: Float
    public static let range: ClosedRange<Float> = 1...10
    /// The paper's η.
    public static let paperEta: Float = 0.001

    public init(eta: Float = paperEta) { self.eta = eta }

    /// hNat, hAdv: mean Shannon entropies of the two tempered teacher distributions of this batch.
    public mutating func update(entropyNat hNat: Float, entropyAdv hAdv: Float) {
        guard hNat > 0, hAdv > 0, hNat.isFinite, hAdv.isFinite else { return }
        tauAdv = clip(tauAdv - eta * sign(hAdv / hNat - 1))
        tauNat = clip(tauNat - eta * sign(hNat / hAdv - 1))
    }

    private func sign(_ v: Float) -> Float { v > 0 ? 1 : (v < 0 ? -1 : 0) }
    private func clip(_ t: Float) -> Float { min(max(t, Self.range.lowerBound), Self.range.upperBound) }
}

/// Normalization Loss Balance (MTARD/B-MTARD): each loss is divided by its value on the first batch,
/// L̃_i = L_i / L_i(0); r_adv = L̃_adv^β / (L̃_adv^β + L̃_nat^β); w_adv ← r_w·r_adv + (1 − r_w)·w_adv;
/// w_nat = 1 − w_adv. The teacher whose relative loss is higher (the student has learned less from it)
/// gets more weight. Applied every batch before backward, to the same batch.
public struct LossBalance: Sendable, Equatable {
    public var wAdv: Float = 0.5
    public var wNat: Float { 1 - wAdv }
    public var beta: Float
    /// Rate r_w; decays ×0.1 with the learning rate.
    public var rate: Float
    /// L_adv(0), L_nat(0): the losses of the first batch of training (nil until then).
    public var initialAdv: Float?
    public var initialNat: Float?

    public init(beta: Float = 1, rate: Float = 0.025) { self.beta = beta; self.rate = rate }

    public mutating func update(lossAdv: Float, lossNat: Float) {
        if initialAdv == nil { initialAdv = lossAdv; initialNat = lossNat }
        guard let a0 = initialAdv, let n0 = initialNat, a0 > 0, n0 > 0, lossAdv.isFinite, lossNat.isFinite else { return }
        let ra = powf(lossAdv / a0, beta), rn = powf(lossNat / n0, beta)
        guard ra + rn > 0 else { return }
        let rAdv = ra / (ra + rn)
        wAdv = rate * rAdv + (1 - rate) * wAdv
    }
}

import Foundation
