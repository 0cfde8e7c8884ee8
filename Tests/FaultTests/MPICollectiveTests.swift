import Foundation
import Testing

/// The collectives of `MPICommunicator` under `mpirun -np 2`, on inputs whose results are computed here by
/// hand: rank r contributes i + 100·r (floats), i + 0.5 + 100·r (doubles), r·i (max).
@Suite(.serialized) struct MPICollectiveTests {
    func expectHandComputed(_ o: [String: Any], count: Int) {
        // Σ_r (i + 100r) over r ∈ {0, 1} = 2i + 100; doubles 2i + 1 + 100; max_r r·i = i.
        #expect(o["size"] as? Int == 2)
        #expect((o["floats"] as? [Double]) == (0..<count).map { Double(2 * $0 + 100) })
        #expect((o["doubles"] as? [Double]) == (0..<count).map { Double(2 * $0 + 101) })
        #expect((o["max"] as? [Int]) == Array(0..<count))
        #expect(o["broadcast"] as? String == "root")
        #expect((o["gathered"] as? [[Int]]) == [[0], [1, 1]])
    }

    @Test func allreduceBroadcastAndGatherOnTwoRanksGiveTheHandComputedResults() throws {
        let w = try Workspace(side: 8, train: 1, test: 1)
        let run = try w.mpirun(ranks: 2, ["cluster-check", "--count", "10"])
        #expect(run.exitStatus == 0, "\(run.log)")
        let o = try #require(lastJSONObject(run.log), "\(run.log)")
        expectHandComputed(o, count: 10)
        #expect(o["chunks"] as? Int == 1)
    }

    /// MPI counts are Int32, so a buffer beyond 2³¹−1 elements goes in chunks; a chunk limit of 7 elements
    /// splits 23 into 7 + 7 + 7 + 2 MPI calls, and every element must still come back summed.
    @Test func buffersLargerThanTheChunkLimitAreReducedChunkByChunk() throws {
        let w = try Workspace(side: 8, train: 1, test: 1)
        setenv("ADVDISTILL_MPI_CHUNK", "7", 1)
        defer { unsetenv("ADVDISTILL_MPI_CHUNK") }
        let run = try w.mpirun(ranks: 2, ["cluster-check", "--count", "23"], export: ["ADVDISTILL_MPI_CHUNK"])
        #expect(run.exitStatus == 0, "\(run.log)")
        let o = try #require(lastJSONObject(run.log), "\(run.log)")
        expectHandComputed(o, count: 23)
        #expect(o["chunks"] as? Int == 4)
    }

    /// Without mpirun, advdistill is one process and never initialises MPI.
    @Test func withoutMPIRunTheCommandIsOneProcess() throws {
        let w = try Workspace(side: 8, train: 1, test: 1)
        let run = try w.run(["cluster-check", "--count", "3"])
        #expect(run.exitStatus == 0, "\(run.log)")
        let o = try #require(lastJSONObject(run.log), "\(run.log)")
        #expect(o["size"] as? Int == 1)
        #expect((o["floats"] as? [Double]) == [0, 1, 2])
    }

    /// A command without a data-parallel form refuses to run as several ranks, saying so.
    @Test func commandsWithoutADataParallelFormRefuseMPIRun() throws {
        let w = try Workspace(side: 8, train: 1, test: 1)
        let run = try w.mpirun(ranks: 2, ["report", w.sub("runs"), "--out", w.sub("report")])
        #expect(run.exitStatus != 0, "\(run.log)")
        #expect(run.log.contains("report runs as one process, not under mpirun (2 ranks)"), "\(run.log)")
        #expect(!FileManager.default.fileExists(atPath: w.sub("report")))
    }
}
