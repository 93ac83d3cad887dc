import FerryNode
import Testing

/// Which paths of the HTTP port go to the SQS API: `/` and `/<account>/<queue>`, a trailing slash allowed.
@Suite struct NodeHTTPTests {
    @Test func theSQSPathsAreTheRootAndAQueueURLsPath() {
        for path in ["/", "/000000000000/orders.fifo", "/000000000000/orders.fifo/"] {
            #expect(NodeHTTP.isAPIPath(path), "\(path)")
        }
        for path in ["", "x", "000000000000/q", "//", "/q", "/a//", "//q", "/a/q/extra", "/a/q//"] {
            #expect(!NodeHTTP.isAPIPath(path), "\(path)")
        }
    }
}
