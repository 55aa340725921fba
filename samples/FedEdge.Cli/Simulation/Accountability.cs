using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Reputation;
using FedEdge.Security;
using FedEdge.Transparency;

namespace FedEdge.Cli.Simulation;

/// <summary>
/// The simulation's accountability: a demo federation PKI (a CA, the coordinator's certificate, one certificate per
/// device, so every update is signed), the transparency log in <c>&lt;out&gt;/ledger</c> signed with the coordinator's
/// key, and reputation (with <c>--attack</c>, or <c>--reputation</c>).
/// </summary>
internal sealed class Accountability : IDisposable
{
    /// <summary>The demo CA's certificate file, beside the report, for <c>fededge ledger verify --ca</c>.</summary>
    public const string CaFile = "federation-ca.pem";

    /// <summary>The coordinator's certificate file (its key signs the log), for <c>fededge ledger verify --log-key</c>.</summary>
    public const string CoordinatorFile = "coordinator.pem";

    private readonly X509Certificate2 _ca;
    private readonly X509Certificate2 _coordinator;
    private readonly ECDsa _logKey;
    private readonly Dictionary<string, X509Certificate2> _devices;
    private readonly CertificateValidator _validator;

    private Accountability(X509Certificate2 ca, X509Certificate2 coordinator, Dictionary<string, X509Certificate2> devices, string ledgerDirectory, string caPath, IReputationPolicy? reputation, bool signUpdates)
    {
        SignsUpdates = signUpdates;
        _ca = ca;
        _coordinator = coordinator;
        _devices = devices;
        _validator = new CertificateValidator(ca);
        _logKey = coordinator.GetECDsaPrivateKey() ?? throw new InvalidOperationException("The coordinator certificate has no ECDSA key.");
        Coordinator = signUpdates ? new FederationCredentials(_validator, coordinator) : null;
        LedgerDirectory = ledgerDirectory;
        CaPath = caPath;
        Ledger = new FileTransparencyLog(ledgerDirectory, _logKey);
        Reputation = reputation;
    }

    /// <summary>The coordinator's credentials, or null when updates are not signed. Every codec is signed: the signature covers the encoded bytes the device sent.</summary>
    public FederationCredentials? Coordinator { get; }

    public bool SignsUpdates { get; }

    public FileTransparencyLog Ledger { get; }

    public IReputationPolicy? Reputation { get; }

    public string LedgerDirectory { get; }

    public string CaPath { get; }

    /// <summary>Issues the run's certificates and opens a fresh log in <c>&lt;out&gt;/ledger</c> (a previous run's log there is replaced).</summary>
    public static Accountability Create(SimulationConfig config, IEnumerable<string> deviceIds)
    {
        DateTimeOffset now = DateTimeOffset.UtcNow;
        X509Certificate2 ca = FederationPki.CreateCertificateAuthority("fededge simulate", now, TimeSpan.FromDays(30));
        X509Certificate2 coordinator = FederationPki.IssueServer(ca, Simulation.CoordinatorHost, now, TimeSpan.FromDays(30));
        var devices = deviceIds.Distinct(StringComparer.Ordinal).ToDictionary(
            id => id,
            id => FederationPki.IssueDevice(ca, new DeviceCertificateRequest { DeviceId = id }, now),
            StringComparer.Ordinal);
        Directory.CreateDirectory(config.OutDirectory);
        string caPath = Path.Combine(config.OutDirectory, CaFile);
        File.WriteAllText(caPath, ca.ExportCertificatePem() + "\n");
        File.WriteAllText(Path.Combine(config.OutDirectory, CoordinatorFile), coordinator.ExportCertificatePem() + "\n");
        string ledger = Path.Combine(config.OutDirectory, "ledger");
        foreach (string file in new[] { FileTransparencyLog.EntriesFile, FileTransparencyLog.ReceiptsFile, FileTransparencyLog.HeadsFile, FileTransparencyLog.KeyFile })
        {
            if (File.Exists(Path.Combine(ledger, file)))
            {
                File.Delete(Path.Combine(ledger, file));
            }
        }

        // The mirror test assumes at most --byzantine colluders, whatever the strategy.
        IReputationPolicy? reputation = config.Reputation ? ReputationPolicies.RobustDistance(new ReputationOptions { ByzantineCount = config.ByzantineCount }) : null;
        return new Accountability(ca, coordinator, devices, ledger, caPath, reputation, signUpdates: true);
    }

    /// <summary>The <c>--attackers</c> devices: a seeded pick among the devices, in device order.</summary>
    public static IReadOnlyList<string> PickAttackers(SimulationConfig config, IReadOnlyList<string> devices)
    {
        if (config.Attack is null || config.Attackers <= 0)
        {
            return [];
        }

        string[] shuffled = [.. devices];
        new Random(config.Seed).Shuffle(shuffled);
        var chosen = new HashSet<string>(shuffled.Take(config.Attackers), StringComparer.Ordinal);
        return [.. devices.Where(chosen.Contains)];
    }

    public FederationCredentials? WorkerCredentials(string deviceId) => SignsUpdates ? new(_validator, _devices[deviceId], trustedCoordinator: _coordinator) : null;

    public void Dispose()
    {
        _logKey.Dispose();
        foreach (X509Certificate2 c in _devices.Values)
        {
            c.Dispose();
        }

        _coordinator.Dispose();
        _ca.Dispose();
    }
}
