using FedEdge.Admission;
using FedEdge.Mud.Admission;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FedEdge.Mud.Tests;

public class AdmissionTests
{
    private static readonly Uri BulbUrl = new("https://lighting.example.com/lightbulb2000");

    private static MudAdmissionOptions Options(int port = 443)
    {
        var o = new MudAdmissionOptions { CoordinatorHost = "test.example.com", CoordinatorPort = port, CoordinatorProtocol = 6 };
        o.AddTrustAnchorsFromPem(Path.Combine(Corpus.Signed, "test-ca.cert.pem"));
        return o;
    }

    private static AdmissionRequest Request(string task = "nbaiot-anomaly", string? model = "autoencoder-115", string cert = "device.cert.pem") => new()
    {
        DeviceId = "bulb-1",
        CertificateDer = TestSigning.DeviceCertDer(cert),
        Task = task,
        Model = model,
        Attributes = new Dictionary<string, string> { ["mac"] = "00:11:22:33:44:55" },
    };

    private static InMemoryMudFileSource SignedFederatedBulb(Func<byte[], byte[]>? tamper = null)
    {
        byte[] content = TestSigning.FederatedLightbulb();
        byte[] sig = TestSigning.Sign(content);
        return MudFileSources.InMemory().Add(BulbUrl, tamper?.Invoke(content) ?? content, sig);
    }

    [Fact]
    public async Task EvaluateAsync_CompliantSignedDevice_IsAdmittedWithNotes()
    {
        var policy = new MudAdmissionPolicy(Options(), SignedFederatedBulb());
        AdmissionDecision d = await policy.EvaluateAsync(Request());
        Assert.True(d.Admitted, string.Join("\n", d.Reasons));
        Assert.Contains(d.Reasons, r => r.Contains("device certificate (strong)", StringComparison.Ordinal));
        Assert.Contains(d.Reasons, r => r.Contains("FedEdge Test MUD Signer", StringComparison.Ordinal));
    }

    [Fact]
    public async Task EvaluateAsync_TamperedFile_RefusedForSignature()
    {
        var policy = new MudAdmissionPolicy(Options(), SignedFederatedBulb(c => [.. c, (byte)' ']));
        AdmissionDecision d = await policy.EvaluateAsync(Request());
        Assert.False(d.Admitted);
        Assert.Contains(d.Reasons, r => r.Contains("ContentDigestMismatch", StringComparison.Ordinal));
    }

    [Fact]
    public async Task EvaluateAsync_CoordinatorNotAllowedAndQuarantined_RefusedWithEveryReason()
    {
        var quarantine = new MudQuarantineList();
        quarantine.Add("00:11:22:33:44:55", "IDS alert: port scan");
        var policy = new MudAdmissionPolicy(Options(port: 8883), SignedFederatedBulb(), quarantine);
        AdmissionDecision d = await policy.EvaluateAsync(Request(task: "other-task"));
        Assert.False(d.Admitted);
        Assert.Contains(d.Reasons, r => r.Contains("quarantined: IDS alert", StringComparison.Ordinal));
        Assert.Contains(d.Reasons, r => r.Contains("coordinator test.example.com:8883/tcp", StringComparison.Ordinal));
        Assert.Contains(d.Reasons, r => r.Contains("does not allow task 'other-task'", StringComparison.Ordinal));
        Assert.Equal(3, d.Reasons.Count);
    }

    [Fact]
    public async Task EvaluateAsync_WrongModel_Refused()
    {
        AdmissionDecision d = await new MudAdmissionPolicy(Options(), SignedFederatedBulb()).EvaluateAsync(Request(model: "resnet"));
        Assert.False(d.Admitted);
        Assert.Contains(d.Reasons, r => r.Contains("with model 'resnet'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task EvaluateAsync_DeviceCertificateNamesOtherSigner_Refused()
    {
        AdmissionDecision d = await new MudAdmissionPolicy(Options(), SignedFederatedBulb()).EvaluateAsync(Request(cert: "device-badsigner.cert.pem"));
        Assert.False(d.Admitted);
        Assert.Contains(d.Reasons, r => r.Contains("MudSignerMismatch", StringComparison.Ordinal));
    }

    [Fact]
    public async Task EvaluateAsync_CorpusSignedFolderWithoutExtensionRequirement_AdmitsRfcExample()
    {
        MudAdmissionPolicy policy = MudAdmissionPolicy.FromDirectory(Corpus.Signed, Path.Combine(Corpus.Signed, "test-ca.cert.pem"), "test.example.com", 443, o => o.RequireFederationExtension = false);
        AdmissionDecision d = await policy.EvaluateAsync(new AdmissionRequest { DeviceId = "bulb", MudUrl = BulbUrl, MudUrlSource = "DHCP option 161" });
        Assert.True(d.Admitted, string.Join("\n", d.Reasons));
        Assert.Contains(d.Reasons, r => r.Contains("(weak)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task EvaluateAsync_CorpusSignedFolderWithExtensionRequirement_RefusesForMissingExtension()
    {
        MudAdmissionPolicy policy = MudAdmissionPolicy.FromDirectory(Corpus.Signed, Path.Combine(Corpus.Signed, "test-ca.cert.pem"), "test.example.com", 443);
        AdmissionDecision d = await policy.EvaluateAsync(new AdmissionRequest { DeviceId = "bulb", MudUrl = BulbUrl, Task = "nbaiot-anomaly" });
        Assert.False(d.Admitted);
        Assert.Contains(d.Reasons, r => r.Contains("fededge-federated-learning", StringComparison.Ordinal));
    }

    [Fact]
    public async Task EvaluateAsync_NonConformantUnswProfile_RefusedWithDiagnostics()
    {
        byte[] content = File.ReadAllBytes(Corpus.PathOf("unsw-iotanalytics", "tplinkplugMud.json"));
        string url = MudParser.Parse(content, MudParserOptions.Lenient).File!.MudUrl;
        var source = MudFileSources.InMemory().Add(new Uri(url), content);
        AdmissionDecision d = await new MudAdmissionPolicy(Options(), source).EvaluateAsync(new AdmissionRequest { DeviceId = "plug", MudUrl = new Uri(url), Task = "nbaiot-anomaly" });
        Assert.False(d.Admitted);
        Assert.Contains(d.Reasons, r => r.Contains("is not valid", StringComparison.Ordinal));
        Assert.Contains(d.Reasons, r => r.StartsWith("MUD0014", StringComparison.Ordinal));
    }

    [Fact]
    public async Task EvaluateAsync_UnsignedButAdministratorApproved_Admitted()
    {
        byte[] content = TestSigning.FederatedLightbulb();
        MudAdmissionOptions o = Options();
        o.ApprovedMudUrls.Add(BulbUrl.AbsoluteUri);
        var policy = new MudAdmissionPolicy(o, MudFileSources.InMemory().Add(BulbUrl, content));
        AdmissionDecision d = await policy.EvaluateAsync(new AdmissionRequest { DeviceId = "b", MudUrl = BulbUrl, Task = "nbaiot-anomaly" });
        Assert.True(d.Admitted, string.Join("\n", d.Reasons));
        Assert.Contains(d.Reasons, r => r.Contains("approved by an administrator", StringComparison.Ordinal));

        var strict = new MudAdmissionPolicy(Options(), MudFileSources.InMemory().Add(BulbUrl, content));
        AdmissionDecision refused = await strict.EvaluateAsync(new AdmissionRequest { DeviceId = "b", MudUrl = BulbUrl, Task = "nbaiot-anomaly" });
        Assert.False(refused.Admitted);
        Assert.Contains(refused.Reasons, r => r.Contains("no signature", StringComparison.Ordinal));
    }

    [Fact]
    public async Task EvaluateAsync_NoMudUrlOrHttpUrl_Refused()
    {
        var policy = new MudAdmissionPolicy(Options(), SignedFederatedBulb());
        Assert.Contains("no MUD URL", (await policy.EvaluateAsync(new AdmissionRequest { DeviceId = "x" })).Reasons[0], StringComparison.Ordinal);
        AdmissionDecision http = await policy.EvaluateAsync(new AdmissionRequest { DeviceId = "x", MudUrl = new Uri("http://lighting.example.com/lightbulb2000") });
        Assert.Contains(http.Reasons, r => r.Contains("not https", StringComparison.Ordinal));
    }

    [Fact]
    public async Task EvaluateAsync_PresentedUrlDiffersFromCertificate_Refused()
    {
        var policy = new MudAdmissionPolicy(Options(), SignedFederatedBulb());
        AdmissionRequest r = Request() with { MudUrl = new Uri("https://evil.example.com/x") };
        AdmissionDecision d = await policy.EvaluateAsync(r);
        Assert.False(d.Admitted);
        Assert.Contains(d.Reasons, x => x.Contains("differs from the one in the device certificate", StringComparison.Ordinal));
    }

    [Fact]
    public void Constructor_InvalidOptions_ThrowsNamingTheProblem()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MudAdmissionPolicy(new MudAdmissionOptions(), MudFileSources.InMemory()));
        Assert.Contains("CoordinatorHost", ex.Message, StringComparison.Ordinal);
        Assert.Contains("trust anchor", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddMudAdmission_RegistersIdempotentlyAndAdmits()
    {
        var services = new ServiceCollection();
        void Configure(MudAdmissionOptions o)
        {
            o.CoordinatorHost = "test.example.com";
            o.CoordinatorPort = 443;
            o.RequireFederationExtension = false;
            o.MudDirectory = Corpus.Signed;
            o.AddTrustAnchorsFromPem(Path.Combine(Corpus.Signed, "test-ca.cert.pem"));
        }

        services.AddMudAdmission(Configure);
        services.AddMudAdmission(Configure);
        using ServiceProvider sp = services.BuildServiceProvider();
        IAdmissionPolicy policy = Assert.Single(sp.GetServices<IAdmissionPolicy>());
        AdmissionDecision d = await policy.EvaluateAsync(new AdmissionRequest { DeviceId = "bulb", MudUrl = BulbUrl });
        Assert.True(d.Admitted, string.Join("\n", d.Reasons));
    }

    [Fact]
    public void AddMudAdmission_InvalidOptions_FailValidation()
    {
        var services = new ServiceCollection();
        services.AddMudAdmission(o => o.CoordinatorPort = 0);
        using ServiceProvider sp = services.BuildServiceProvider();
        Assert.Throws<OptionsValidationException>(() => sp.GetRequiredService<IOptions<MudAdmissionOptions>>().Value);
    }
}

public sealed class AdmissionWithUserPolicyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-ups-adm-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task EvaluateAsync_AdministratorOpensRealCoordinator_AdmitsAndDropRefuses()
    {
        var ups = new FedEdge.Mud.PolicyServer.UserPolicyServer(FedEdge.Mud.PolicyServer.UserPolicyStores.File(Path.Combine(_dir, "ups.json")));
        const string url = "https://lighting.example.com/lightbulb2000";
        var options = new MudAdmissionOptions { CoordinatorHost = "127.0.0.1", CoordinatorPort = 1883, RequireFederationExtension = false };
        options.AddTrustAnchorsFromPem(Path.Combine(Corpus.Signed, "test-ca.cert.pem"));
        var policy = new MudAdmissionPolicy(options, MudFileSources.FromDirectory(Corpus.Signed), userPolicyServer: ups);
        var request = new FedEdge.Admission.AdmissionRequest { DeviceId = "bulb", MudUrl = new Uri(url), Attributes = new Dictionary<string, string> { ["mac"] = "00:11:22:33:44:55" } };

        FedEdge.Admission.AdmissionDecision before = await policy.EvaluateAsync(request);
        Assert.False(before.Admitted);
        Assert.Contains(before.Reasons, r => r.Contains("127.0.0.1:1883/tcp", StringComparison.Ordinal));

        FedEdge.Mud.PolicyServer.UserPolicyRule Rule(MudDirection d, MudForwarding a) => new() { Direction = d, Action = a, RemoteAddresses = ["127.0.0.1"], Protocol = 6, RemotePort = 1883 };
        var added = await ups.AddAsync("alice", new FedEdge.Mud.PolicyServer.UserPolicyEntry { MudUrl = url, Rules = [Rule(MudDirection.FromDevice, MudForwarding.Accept), Rule(MudDirection.ToDevice, MudForwarding.Accept)] });
        Assert.True((await policy.EvaluateAsync(request)).Admitted);

        await ups.AddAsync("bob", new FedEdge.Mud.PolicyServer.UserPolicyEntry { Mac = "00:11:22:33:44:55", Rules = [Rule(MudDirection.FromDevice, MudForwarding.Drop)] });
        FedEdge.Admission.AdmissionDecision dropped = await policy.EvaluateAsync(request);
        Assert.False(dropped.Admitted);
        Assert.Contains(dropped.Reasons, r => r.Contains("does not allow traffic to the coordinator", StringComparison.Ordinal));
        Assert.True(added.Succeeded);
    }
}

/// <summary>The corpus devices recommended for the `fededge simulate` demo behave as documented.</summary>
public class AdmissionDemoDevicesTests
{
    private static MudAdmissionPolicy DemoPolicy() => MudAdmissionPolicy.FromDirectory(
        Corpus.Signed, Path.Combine(Corpus.Signed, "test-ca.cert.pem"), "test.example.com", 443, o => o.RequireFederationExtension = false);

    [Fact]
    public async Task DemoDevices_CompliantAdmitted_OthersRefusedWithReasons()
    {
        MudAdmissionPolicy policy = DemoPolicy();
        var compliant = new FedEdge.Admission.AdmissionRequest { DeviceId = "bulb-ok", CertificateDer = TestSigning.DeviceCertDer("device.cert.pem") };
        var badSigner = new FedEdge.Admission.AdmissionRequest { DeviceId = "bulb-bad", CertificateDer = TestSigning.DeviceCertDer("device-badsigner.cert.pem") };
        var luminaire = new FedEdge.Admission.AdmissionRequest { DeviceId = "lum", MudUrl = new Uri("https://luminaire.example.com/Luminaire_150"), MudUrlSource = "DHCP option 161" };
        var unknown = new FedEdge.Admission.AdmissionRequest { DeviceId = "ghost", MudUrl = new Uri("https://nobody.example.com/x") };

        FedEdge.Admission.AdmissionDecision ok = await policy.EvaluateAsync(compliant);
        Assert.True(ok.Admitted, string.Join("\n", ok.Reasons));
        Assert.Contains(((await policy.EvaluateAsync(badSigner)).Reasons), r => r.Contains("MudSignerMismatch", StringComparison.Ordinal));
        FedEdge.Admission.AdmissionDecision lum = await policy.EvaluateAsync(luminaire);
        Assert.False(lum.Admitted);
        Assert.Contains(lum.Reasons, r => r.Contains("does not allow traffic to the coordinator test.example.com:443/tcp", StringComparison.Ordinal));
        Assert.Contains((await policy.EvaluateAsync(unknown)).Reasons, r => r.Contains("No MUD file", StringComparison.Ordinal));
    }
}
