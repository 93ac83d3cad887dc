/// Seeds that once failed, with what they caught. Every seed here runs in CI on every change
/// (STYLE #11: a failing seed is added before its fix).
enum RegressionSeeds {
    static let all: [UInt64] = [
        1588,  // livelock: stale candidates reset everyone's election timer on each higher-term vote request
        264,  // harness: a barrier proposal lost with its leader was waited for forever
        402,  // harness: same, 5 voters
        482,  // harness: same
        1056,  // harness: same
        1692,  // harness: same, with a learner
        997,  // checker: a slow candidate may lead an old term without entries a later term committed
    ]

    /// Seeds of `ferry-sim run --membership` (`SimConfig.membershipSwarm`).
    static let membership: [UInt64] = [
        // Deadlock after shrinking from two voters to one: a change takes effect on commit, and the survivor had
        // not learned that the removal committed, so it campaigned in the old membership and needed the removed
        // node's vote, refused because the removed node's log was longer (a no-op it appended as a later leader).
        // Fixed: no change leaves fewer than two voters.
        144,  // the leader removed itself
        494,  // the leader removed the other voter, then crashed; the removed node led term 7 and appended a no-op
        735,  // same, with a learner
        // Livelock without pre-vote: a voter far behind, with a stale membership that did not include the other
        // voter, campaigned in ever higher terms among removed nodes; the other voter's vote requests, always in
        // a lower term, were dropped without an answer, so it never learned the higher term. Fixed: a vote
        // request of a lower term is answered with a rejection in the current term (Raft Figure 2).
        9762,
    ]
}
