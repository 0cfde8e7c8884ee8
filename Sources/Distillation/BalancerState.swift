/// The state of MTARD's and B-MTARD's balancers (`EntropyBalance`, `LossBalance`): what metrics.jsonl logs
/// each epoch and what a checkpoint holds so that `--resume` continues the same trajectory.
/// Its checkpoint keys (`tau_nat`, `tau_adv`, `w_nat`, `w_adv`, `eta`, `weight_rate`, `loss_adv_0`,
/// `loss_nat_0`) are those of every checkpoint written so far; w_nat is written for readers but derived.
public struct BalancerState: MethodState {
    /// Teacher temperatures τ_nat, τ_adv (fixed at 1 in MTARD).
    public var tauNat: Float
    public var tauAdv: Float
    /// Weight of the adversarial loss; w_nat = 1 − w_adv.
    public var wAdv: Float
    public var wNat: Float { 1 - wAdv }
    /// Temperature step η and weight rate r_w, as decayed with the learning rate so far.
    public var eta: Float
    public var weightRate: Float
    /// L_adv(0), L_nat(0): the losses of the first batch of training (nil before it).
    public var initialLossAdv: Float?
    public var initialLossNat: Float?

    public var balancer: BalancerState? { self }

    enum CodingKeys: String, CodingKey {
        case tauNat = "tau_nat", tauAdv = "tau_adv", wNat = "w_nat", wAdv = "w_adv", eta, weightRate = "weight_rate"
        case initialLossAdv = "loss_adv_0", initialLossNat = "loss_nat_0"
    }

    public init(tauNat: Float, tauAdv: Float, wAdv: Float, eta: Float, weightRate: Float,
                initialLossAdv: Float?, initialLossNat: Float?) {
        self.tauNat = tauNat; self.tauAdv = tauAdv; self.wAdv = wAdv; self.eta = eta; self.weightRate = weightRate
        self.initialLossAdv = initialLossAdv; self.initialLossNat = initialLossNat
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        tauNat = try c.decode(Float.self, forKey: .tauNat)
        tauAdv = try c.decode(Float.self, forKey: .tauAdv)
        wAdv = try c.decode(Float.self, forKey: .wAdv)
        eta = try c.decode(Float.self, forKey: .eta)
        weightRate = try c.decode(Float.self, forKey: .weightRate)
        initialLossAdv = try c.decodeIfPresent(Float.self, forKey: .initialLossAdv)
        initialLossNat = try c.decodeIfPresent(Float.self, forKey: .initialLossNat)
    }

    /// Written as Doubles, as checkpoints always have been (the exact value of each Float).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        for (key, value) in [(CodingKeys.tauNat, tauNat), (.tauAdv, tauAdv), (.wNat, wNat), (.wAdv, wAdv), (.eta, eta), (.weightRate, weightRate)] {
            try c.encode(Double(value), forKey: key)
        }
        if let a = initialLossAdv, let n = initialLossNat {
            try c.encode(Double(a), forKey: .initialLossAdv)
            try c.encode(Double(n), forKey: .initialLossNat)
        }
    }
}
