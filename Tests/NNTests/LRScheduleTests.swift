import Foundation
import Testing
@testable import NN

/// Learning-rate schedules against PyTorch's schedulers stepped once per batch (Fixtures/optimizer.json,
/// written by Fixtures/make_optimizer_fixture.py), and the rules PyTorch leaves to us.
@Suite struct LRScheduleTests {
    static func schedule(_ o: OptimizerFixture.ScheduleCase.Ours) -> LRSchedule {
        switch o.name {
        case "constant": return .constant
        case "multistep": return .multistep(milestones: o.milestones!, gamma: o.gamma!)
        case "cosine": return .cosine(minLR: o.min_lr!)
        case "warmup":
            return .warmup(warmupEpochs: o.warmup_epochs!, startFactor: o.start_factor!, schedule: schedule(o.schedule!.value))
        default: fatalError("unknown schedule \(o.name) in the fixture")
        }
    }

    /// Batch t of PyTorch's run is batch t % B of epoch t / B of ours; every rate agrees.
    @Test(arguments: OptimizerFixture.shared.schedules)
    func everyBatchRateMatchesTorch(_ c: OptimizerFixture.ScheduleCase) throws {
        let schedule = Self.schedule(c.ours)
        try schedule.validate(totalEpochs: c.epochs)
        #expect(c.rates.count == c.epochs * c.batches_per_epoch)
        for (t, torch) in c.rates.enumerated() {
            let (epoch, batch) = t.quotientAndRemainder(dividingBy: c.batches_per_epoch)
            let rate = schedule.learningRate(base: c.base, epoch: epoch, totalEpochs: c.epochs, step: batch,
                                             stepsPerEpoch: c.batches_per_epoch)
            // PyTorch's cosine is recursive (each rate from the last), ours the closed form: they agree to
            // a few ulps of the rate.
            #expect(rate.isClose(to: torch, rtol: 1e-5, atol: 1e-9), "batch \(t) (epoch \(epoch), batch \(batch)): \(rate) vs PyTorch \(torch)")
        }
    }

    @Test func cosineEndsAtMinLRAndStaysThereBeyondTheLastBatch() {
        // (1 + cos π)/2 = 0 at t = T; the clock is clamped there.
        let cosine = LRSchedule.cosine(minLR: 0.002)
        for epoch in [4, 5, 100] {
            #expect(cosine.learningRate(base: 0.1, epoch: epoch, totalEpochs: 4, step: 0, stepsPerEpoch: 10) == 0.002)
        }
        // Halfway: min + (base − min)/2 = 0.002 + 0.049.
        #expect(cosine.learningRate(base: 0.1, epoch: 2, totalEpochs: 4, step: 0, stepsPerEpoch: 10).isClose(to: 0.051, rtol: 1e-6))
    }

    @Test func warmupKeepsTheInnerScheduleOnTheGlobalClock() {
        // Warm-up of 2 epochs over a multistep at epoch 1: the milestone is an absolute epoch, so the
        // second warm-up epoch already ramps the decayed rate: 0.1·0.1·(0.5 + 0.5·t/W) at t = 2 of W = 4.
        let s = LRSchedule.warmup(warmupEpochs: 2, startFactor: 0.5, schedule: .multistep(milestones: [1], gamma: 0.1))
        #expect(s.learningRate(base: 0.1, epoch: 1, totalEpochs: 3, step: 0, stepsPerEpoch: 2).isClose(to: 0.0075, rtol: 1e-6))
        // A start factor of 0: the very first batch has rate 0.
        let zero = LRSchedule.warmup(warmupEpochs: 1, startFactor: 0, schedule: .constant)
        #expect(zero.learningRate(base: 0.1, epoch: 0, totalEpochs: 2, step: 0, stepsPerEpoch: 4) == 0)
    }

    /// `holdCosineExp` is CIARD2025/CIARD's student schedule, written as its script computes it from the 1-based
    /// epoch E of 300: 0.1 while E < 150, then 0.1·(0.5 + 0.5·cos(π(E − 150)/150))·exp(−0.01(E − 150)²/150²); the
    /// teacher's is the same with 50 and 1e-4. Constant within an epoch.
    @Test func holdCosineExpIsCIARDsSchedule() {
        func script(_ e: Int, base: Double, start: Int) -> Double {
            guard e >= start else { return base }
            let x = Double(e - start), span = Double(300 - start)
            return base * (0.5 + 0.5 * cos(Double.pi * x / span)) * exp(-0.01 * x * x / (span * span))
        }
        let student = LRSchedule.holdCosineExp(holdEpochs: 150, decay: 0.01)
        for epoch in [0, 1, 148, 149, 150, 151, 200, 250, 298, 299] {
            for step in [0, 390] {
                let rate = Double(student.learningRate(base: 0.1, epoch: epoch, totalEpochs: 300, step: step, stepsPerEpoch: 391))
                #expect(abs(rate - script(epoch + 1, base: 0.1, start: 150)) <= 1e-7 * 0.1, "epoch \(epoch), step \(step)")
            }
        }
        #expect(student.learningRate(base: 0.1, epoch: 299, totalEpochs: 300, step: 0, stepsPerEpoch: 391) == 0)
        let teacher = LRSchedule.holdCosineExp(holdEpochs: 50, decay: 0.01)
        for epoch in [50, 120, 299] {
            let rate = Double(teacher.learningRate(base: 1e-4, epoch: epoch, totalEpochs: 300, step: 0, stepsPerEpoch: 391))
            #expect(abs(rate - script(epoch + 1, base: 1e-4, start: 50)) <= 1e-7 * 1e-4, "teacher epoch \(epoch)")
        }
    }

    @Test func schedulesThatCannotBeMeantAreRefused() {
        #expect(throws: LRScheduleError.invalidMinLR(-0.1)) { try LRSchedule.cosine(minLR: -0.1).validate(totalEpochs: 3) }
        #expect(throws: LRScheduleError.invalidWarmup(warmupEpochs: 3, totalEpochs: 3)) {
            try LRSchedule.warmup(warmupEpochs: 3, startFactor: 0.1, schedule: .constant).validate(totalEpochs: 3)
        }
        #expect(throws: LRScheduleError.invalidStartFactor(1.5)) {
            try LRSchedule.warmup(warmupEpochs: 1, startFactor: 1.5, schedule: .constant).validate(totalEpochs: 3)
        }
        #expect(throws: LRScheduleError.invalidHold(holdEpochs: 3, totalEpochs: 3)) {
            try LRSchedule.holdCosineExp(holdEpochs: 3, decay: 0.01).validate(totalEpochs: 3)
        }
        #expect(throws: LRScheduleError.invalidExpDecay(-1)) { try LRSchedule.holdCosineExp(holdEpochs: 1, decay: -1).validate(totalEpochs: 3) }
        #expect(throws: LRScheduleError.milestoneAfterTraining(milestones: [1, 3], milestone: 3, totalEpochs: 3)) {
            try LRSchedule.multistep(milestones: [1, 3], gamma: 0.1).validate(totalEpochs: 3)
        }
    }
}
