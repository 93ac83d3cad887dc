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
}
