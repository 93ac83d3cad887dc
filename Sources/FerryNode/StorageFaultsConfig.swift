import FerryStorage

/// `storage_faults:` in node.yaml: the storage fault layer (`FaultyFileSystem`) for fault-injection runs (the
/// chaos harness's power loss, full disk, failing and slow fsync). Absent by default: a production node never
/// runs with it, and one that does says so in its log at start.
///
/// ```yaml
/// storage_faults:
///   power_loss: true          # appends are held in memory until fsynced: a SIGKILL is a power failure
///   control_file: /path       # words read every 100 ms: full, fsync-fail, fsync-delay-ms=N
///                             # (default: <data_dir>/storage-faults)
/// ```
public struct StorageFaultsConfig: Sendable, Hashable, Codable {
    public var powerLoss = false
    public var controlFile: String?

    public init(powerLoss: Bool = false, controlFile: String? = nil) {
        self.powerLoss = powerLoss
        self.controlFile = controlFile
    }

    enum CodingKeys: String, CodingKey {
        case powerLoss = "power_loss"
        case controlFile = "control_file"
    }

    public init(from decoder: any Decoder) throws {
        let values = try decoder.container(keyedBy: CodingKeys.self)
        powerLoss = try values.decodeIfPresent(Bool.self, forKey: .powerLoss) ?? false
        controlFile = try values.decodeIfPresent(String.self, forKey: .controlFile)
    }

    /// The node's file system with this layer around `inner`.
    func fileSystem(around inner: any FileSystem, dataDirectory: String) -> FaultyFileSystem {
        let control =
            controlFile ?? (dataDirectory.hasSuffix("/") ? dataDirectory : dataDirectory + "/") + "storage-faults"
        return FaultyFileSystem(wrapping: inner, powerLoss: powerLoss, controlFile: control)
    }
}
