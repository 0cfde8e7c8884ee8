#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How the learning rate moves over training, as a pure function of where training is.
///
/// The clock: `epoch` is 0-based, `step` is the 0-based batch index within the epoch, and
/// `t = epoch·stepsPerEpoch + step` counts batches from 0 to `T = totalEpochs·stepsPerEpoch` (exclusive).
/// The trainer asks for the rate before every batch. Rules:
/// - `constant`: `base`.
/// - `multistep`: per epoch, as PyTorch's `MultiStepLR` stepped once per epoch:
///   `base·γ^k` with `k` the number of milestones `m ≤ epoch`, i.e. epochs ≥ m use the decayed rate.
/// - `cosine`: per batch, as PyTorch's `CosineAnnealingLR(T_max: T, eta_min: minLR)` stepped once per
///   batch (closed form): `minLR + (base − minLR)·(1 + cos(π·t/T))/2`; `t` is clamped to `T`.
/// - `warmup`: per batch, as PyTorch's `ChainedScheduler([LinearLR(startFactor, total_iters: W), inner])`:
///   `inner(t)·(startFactor + (1 − startFactor)·t/W)` for `t < W = warmupEpochs·stepsPerEpoch`, then
///   `inner(t)`; the inner schedule keeps the global clock, so milestones stay absolute epochs.
///   With `startFactor` 0 the very first batch has rate 0.
/// - `holdCosineExp`: per epoch, CIARD's (CIARD2025/CIARD `CIARD.py`, its 1-based epoch E = epoch + 1):
///   `base` for the first `holdEpochs` epochs, then `base·(1 + cos(π·p))/2·exp(−decay·p²)` with
///   `p = (epoch + 1 − holdEpochs)/(totalEpochs − holdEpochs)`, which reaches 1 (rate 0) in the last epoch, as the
///   script's `(E − 150)/(300 − 150)` does.
public enum LRSchedule: Codable, Sendable, Equatable {
    case constant
    case multistep(milestones: [Int], gamma: Float)
    case cosine(minLR: Float)
    indirect case warmup(warmupEpochs: Int, startFactor: Float, schedule: LRSchedule)
    case holdCosineExp(holdEpochs: Int, decay: Float)

    /// The rate for batch `step` of epoch `epoch` (both 0-based). Total for any input: degenerate
    /// `totalEpochs` or `stepsPerEpoch` (≤ 0) count as 1; call `validate` to reject bad schedules.
    public func learningRate(base: Float, epoch: Int, totalEpochs: Int, step: Int, stepsPerEpoch: Int) -> Float {
        let perEpoch = max(stepsPerEpoch, 1)
        let (t, tOverflow) = max(epoch, 0).multipliedReportingOverflow(by: perEpoch)
        let (totalSteps, totalOverflow) = max(totalEpochs, 1).multipliedReportingOverflow(by: perEpoch)
        let clock = Clock(epoch: epoch,
                          t: tOverflow ? Int.max : t.addingReportingOverflow(max(step, 0)).partialValue,
                          totalSteps: totalOverflow ? Int.max : totalSteps, stepsPerEpoch: perEpoch)
        return rate(base: base, clock)
    }

    private struct Clock {
        let epoch: Int, t: Int, totalSteps: Int, stepsPerEpoch: Int
    }

    private func rate(base: Float, _ clock: Clock) -> Float {
        switch self {
        case .constant:
            return base
        case let .multistep(milestones, gamma):
            let k = milestones.filter { $0 <= clock.epoch }.count
            return Float(Double(base) * pow(Double(gamma), Double(k)))
        case let .cosine(minLR):
            let progress = Double(min(max(clock.t, 0), clock.totalSteps)) / Double(clock.totalSteps)
            return Float(Double(minLR) + (Double(base) - Double(minLR)) * (1 + cos(Double.pi * progress)) / 2)
        case let .holdCosineExp(holdEpochs, decay):
            guard clock.epoch >= holdEpochs else { return base }
            let totalEpochs = clock.totalSteps / clock.stepsPerEpoch
            let p = min(Double(clock.epoch + 1 - holdEpochs) / Double(max(totalEpochs - holdEpochs, 1)), 1)
            return Float(Double(base) * (1 + cos(Double.pi * p)) / 2 * exp(-Double(decay) * p * p))
        case let .warmup(warmupEpochs, startFactor, schedule):
            let inner = schedule.rate(base: base, clock)
            let (warmupSteps, overflow) = max(warmupEpochs, 0).multipliedReportingOverflow(by: clock.stepsPerEpoch)
            let w = overflow ? Int.max : warmupSteps
            guard clock.t < w else { return inner }
            let factor = Double(startFactor) + (1 - Double(startFactor)) * Double(clock.t) / Double(w)
            return Float(Double(inner) * factor)
        }
    }

    /// Throws for a schedule that cannot be what the user meant over `totalEpochs` epochs: an empty,
    /// unsorted (not strictly increasing), negative or unreachable (≥ totalEpochs) milestone list,
    /// γ ≤ 0 or not finite, a negative or non-finite minLR, a warm-up of negative length or as long
    /// as the training, a start factor outside [0, 1], or totalEpochs < 1.
    public func validate(totalEpochs: Int) throws(LRScheduleError) {
        guard totalEpochs >= 1 else { throw .invalidTotalEpochs(totalEpochs) }
        switch self {
        case .constant:
            break
        case let .multistep(milestones, gamma):
            guard !milestones.isEmpty else { throw .emptyMilestones }
            if let bad = milestones.first(where: { $0 < 0 }) { throw .negativeMilestone(milestones: milestones, milestone: bad) }
            for (a, b) in zip(milestones, milestones.dropFirst()) where a >= b {
                throw .unsortedMilestones(milestones: milestones, first: a, second: b)
            }
            if let late = milestones.first(where: { $0 >= totalEpochs }) {
                throw .milestoneAfterTraining(milestones: milestones, milestone: late, totalEpochs: totalEpochs)
            }
            guard gamma > 0, gamma.isFinite else { throw .invalidGamma(gamma) }
        case let .cosine(minLR):
            guard minLR >= 0, minLR.isFinite else { throw .invalidMinLR(minLR) }
        case let .holdCosineExp(holdEpochs, decay):
            guard holdEpochs >= 0, holdEpochs < totalEpochs else {
                throw .invalidHold(holdEpochs: holdEpochs, totalEpochs: totalEpochs)
            }
            guard decay >= 0, decay.isFinite else { throw .invalidExpDecay(decay) }
        case let .warmup(warmupEpochs, startFactor, schedule):
            guard warmupEpochs >= 0, warmupEpochs < totalEpochs else {
                throw .invalidWarmup(warmupEpochs: warmupEpochs, totalEpochs: totalEpochs)
            }
            guard startFactor >= 0, startFactor <= 1 else { throw .invalidStartFactor(startFactor) }
            try schedule.validate(totalEpochs: totalEpochs)
        }
    }
}

/// A learning-rate schedule that `LRSchedule.validate` rejects.
public enum LRScheduleError: Error, CustomStringConvertible, Equatable {
    case invalidTotalEpochs(Int)
    case emptyMilestones
    case negativeMilestone(milestones: [Int], milestone: Int)
    case unsortedMilestones(milestones: [Int], first: Int, second: Int)
    case milestoneAfterTraining(milestones: [Int], milestone: Int, totalEpochs: Int)
    case invalidGamma(Float)
    case invalidMinLR(Float)
    case invalidWarmup(warmupEpochs: Int, totalEpochs: Int)
    case invalidStartFactor(Float)
    case invalidHold(holdEpochs: Int, totalEpochs: Int)
    case invalidExpDecay(Float)

    public var description: String {
        switch self {
        case let .invalidTotalEpochs(n):
            "The schedule needs at least 1 epoch of training, got \(n)."
        case .emptyMilestones:
            "A multistep schedule needs at least one milestone epoch (use \"constant\" for none)."
        case let .negativeMilestone(milestones, milestone):
            "Multistep milestones \(milestones) contain \(milestone); epochs are counted from 0."
        case let .unsortedMilestones(milestones, first, second):
            "Multistep milestones \(milestones) must be strictly increasing, but \(first) comes before \(second)."
        case let .milestoneAfterTraining(milestones, milestone, totalEpochs):
            "Multistep milestone \(milestone) of \(milestones) is never reached in \(totalEpochs) epochs (epochs 0…\(totalEpochs - 1))."
        case let .invalidGamma(gamma):
            "Multistep γ = \(gamma) must be a finite number > 0 (the rate is multiplied by it at each milestone)."
        case let .invalidMinLR(minLR):
            "Cosine minLR = \(minLR) must be a finite number ≥ 0."
        case let .invalidWarmup(warmupEpochs, totalEpochs):
            "A warm-up of \(warmupEpochs) epochs must be ≥ 0 and shorter than the \(totalEpochs) epochs of training."
        case let .invalidStartFactor(factor):
            "The warm-up start factor \(factor) must lie in [0, 1] (the rate starts at factor × base)."
        case let .invalidHold(holdEpochs, totalEpochs):
            "hold_cosine_exp holds the rate for \(holdEpochs) epochs, which must be ≥ 0 and fewer than the \(totalEpochs) epochs of training."
        case let .invalidExpDecay(decay):
            "hold_cosine_exp's exp_decay = \(decay) must be a finite number ≥ 0 (the rate is multiplied by exp(−exp_decay·p²))."
        }
    }
}
