import Engine
import Testing

@Suite struct CommunicatorTests {
    @Test func chunksCoverTheBufferInPiecesOfAtMostTheLimit() {
        #expect(collectiveChunks(count: 23, limit: 7) == [0..<7, 7..<14, 14..<21, 21..<23])
        #expect(collectiveChunks(count: 14, limit: 7) == [0..<7, 7..<14])
        #expect(collectiveChunks(count: 0, limit: 7).isEmpty)
        // A buffer of 2³¹ + 5 elements (more than one MPI call can count) needs two calls.
        let big = Int(Int32.max) + 6
        #expect(collectiveChunks(count: big) == [0..<Int(Int32.max), Int(Int32.max)..<big])
    }

    @Test func shardsAreConsecutiveAndTheFirstRanksTakeTheRemainder() {
        // 10 rows over 3 ranks: 4, 3, 3.
        #expect((0..<3).map { shardRange(count: 10, rank: $0, size: 3) } == [0..<4, 4..<7, 7..<10])
        #expect((0..<2).map { shardRange(count: 7, rank: $0, size: 2) } == [0..<4, 4..<7])
        #expect(shardRange(count: 5, rank: 0, size: 1) == 0..<5)
    }

    @Test func theSingleProcessCollectivesReturnTheirInput() throws {
        let comm = SingleProcess()
        var f: [Float] = [1, 2], d: [Double] = [3], m: [Int32] = [4]
        comm.allreduceSum(&f); comm.allreduceSum(&d); comm.allreduceMax(&m)
        #expect(f == [1, 2] && d == [3] && m == [4])
        #expect(comm.broadcast([7], root: 0) == [7])
        #expect(comm.gather([8, 9], root: 0) == [[8, 9]])
        #expect(try comm.onRoot { 5 } == 5)
    }
}
