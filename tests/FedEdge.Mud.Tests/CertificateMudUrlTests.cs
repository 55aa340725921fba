using System.Security.Cryptography.X509Certificates;
using FedEdge.Admission;
using FedEdge.Mud.Admission;
using FedEdge.Mud.PolicyServer;
using FedEdge.Security;

namespace FedEdge.Mud.Tests;

/// <summary>With certificates configured (<see cref="MudAdmissionOptions.RequireCertificateMudUrl"/>), the MUD URL must come from the device certificate.</summary>
public sealed class CertificateMudUrlTests : IDisposable
{
    private static readonly Uri BulbUrl = new("https://lighting.example.com/lightbulb2000");
    private static readonly DateTimeOffset Now = TimeProvider.System.GetUtcNow();
    private const string Mac = "00:11:22:33:44:55";
    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-mudcert-").FullName;
    private readonly X509Certificate2 _ca = FederationPki.CreateCertificateAuthority("mud cert tests", Now, TimeSpan.FromDays(30));

    public void Dispose()
    {
        _ca.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private static MudAdmissionOptions Options()
    {
        var o = new MudAdmissionOptions { CoordinatorHost = "test.example.com", CoordinatorPort = 443, CoordinatorProtocol = 6, RequireCertificateMudUrl = true };
        o.AddTrustAnchorsFromPem(Path.Combine(Corpus.Signed, "test-ca.cert.pem"));
        return o;
    }

    private static InMemoryMudFileSource Bulb()
    {
        byte[] content = TestSigning.FederatedLightbulb();
        return MudFileSources.InMemory().Add(BulbUrl, content, TestSigning.Sign(content));
    }

    private AdmissionRequest Request(Uri? certUrl, Uri? presented)
    {
        using X509Certificate2 cert = FederationPki.IssueDevice(_ca, new DeviceCertificateRequest { DeviceId = "dev-a", MudUrl = certUrl }, Now);
        return new AdmissionRequest
        {
            DeviceId = "dev-a",
            MudUrl = presented,
            MudUrlSource = presented is null ? null : "join request",
            CertificateDer = cert.RawData,
            Task = "nbaiot-anomaly",
            Model = "autoencoder-115",
            Attributes = new Dictionary<string, string> { ["mac"] = Mac },
        };
    }

    [Fact]
    public async Task MudUrlFromCertificate_Admitted()
    {
        AdmissionDecision d = await new MudAdmissionPolicy(Options(), Bulb()).EvaluateAsync(Request(BulbUrl, null));
        Assert.True(d.Admitted, string.Join("\n", d.Reasons));
        Assert.Contains(d.Reasons, r => r.Contains("device certificate (strong)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AnotherDevicesMudUrl_PresentedWithoutItInTheCertificate_RefusedAsWeak()
    {
        AdmissionDecision d = await new MudAdmissionPolicy(Options(), Bulb()).EvaluateAsync(Request(null, BulbUrl));
        Assert.False(d.Admitted);
        Assert.Contains(d.Reasons, r => r.Contains("weak source", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AnotherDevicesMudUrl_DifferentFromItsCertificate_Refused()
    {
        AdmissionDecision d = await new MudAdmissionPolicy(Options(), Bulb()).EvaluateAsync(Request(new Uri("https://cameras.example.com/cam.json"), BulbUrl));
        Assert.False(d.Admitted);
        Assert.Contains(d.Reasons, r => r.Contains("differs from the one in the device certificate", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WeakMudUrl_ApprovedForTheDeviceInUserPolicyServer_Admitted_OtherMacStillRefused()
    {
        var ups = new UserPolicyServer(UserPolicyStores.File(Path.Combine(_dir, "ups.json")));
        UserPolicyResult added = await ups.AddAsync("admin", new UserPolicyEntry { Mac = Mac, MudUrl = BulbUrl.AbsoluteUri, ApproveWeakMudUrl = true });
        Assert.True(added.Succeeded, added.Error);
        Assert.False((await ups.AddAsync("admin", new UserPolicyEntry { MudUrl = BulbUrl.AbsoluteUri, ApproveWeakMudUrl = true })).Succeeded);

        var policy = new MudAdmissionPolicy(Options(), Bulb(), userPolicyServer: ups);
        AdmissionDecision d = await policy.EvaluateAsync(Request(null, BulbUrl));
        Assert.True(d.Admitted, string.Join("\n", d.Reasons));

        AdmissionRequest otherMac = Request(null, BulbUrl) with { Attributes = new Dictionary<string, string> { ["mac"] = "66:77:88:99:aa:bb" } };
        Assert.False((await policy.EvaluateAsync(otherMac)).Admitted);
    }

    [Fact]
    public async Task WeakMudUrl_ApprovedForTheVerifiedDeviceId_Admitted_OtherDeviceAndUnverifiedClaimRefused()
    {
        var ups = new UserPolicyServer(UserPolicyStores.File(Path.Combine(_dir, "ups.json")));
        UserPolicyResult added = await ups.AddAsync("admin", new UserPolicyEntry { DeviceId = "dev-a", MudUrl = BulbUrl.AbsoluteUri, ApproveWeakMudUrl = true });
        Assert.True(added.Succeeded, added.Error);
        var policy = new MudAdmissionPolicy(Options(), Bulb(), userPolicyServer: ups);

        AdmissionDecision approved = await policy.EvaluateAsync(Request(null, BulbUrl) with { AuthenticatedDeviceId = "dev-a", Attributes = new Dictionary<string, string>() });
        Assert.True(approved.Admitted, string.Join("\n", approved.Reasons));
        Assert.Contains(approved.Reasons, r => r.Contains("approved by administrator 'admin' for device 'dev-a' (verified certificate)", StringComparison.Ordinal));

        // Another verified device with the same URL, and the same id merely claimed (no verified certificate): refused.
        AdmissionDecision other = await policy.EvaluateAsync(Request(null, BulbUrl) with { DeviceId = "dev-b", AuthenticatedDeviceId = "dev-b" });
        Assert.False(other.Admitted);
        Assert.Contains(other.Reasons, r => r.Contains("weak source", StringComparison.Ordinal));
        Assert.False((await policy.EvaluateAsync(Request(null, BulbUrl))).Admitted);
    }

    [Theory]
    [InlineData("dev-a", "http://lighting.example.com/lightbulb2000", "https")]
    [InlineData("dev-a", "https://lighting.example.com/bulb\nx", "https")]
    [InlineData("dev-a", "https://lighting.example.com/bulb\u0007", "https")]
    [InlineData("dev\nb", "https://lighting.example.com/lightbulb2000", "device id")]
    [InlineData("dev/b", "https://lighting.example.com/lightbulb2000", "device id")]
    public async Task HostileApproval_RefusedWithReason_NothingStored(string device, string url, string reason)
    {
        string store = Path.Combine(_dir, "ups.json");
        UserPolicyResult r = await new UserPolicyServer(UserPolicyStores.File(store)).AddAsync("admin", new UserPolicyEntry { DeviceId = device, MudUrl = url, ApproveWeakMudUrl = true });
        Assert.False(r.Succeeded);
        Assert.Contains(reason, r.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(store));
    }

    [Fact]
    public async Task OverlongApprovalUrl_Refused()
    {
        string url = "https://lighting.example.com/" + new string('a', 2100);
        UserPolicyResult r = await new UserPolicyServer(UserPolicyStores.File(Path.Combine(_dir, "ups.json"))).AddAsync("admin", new UserPolicyEntry { DeviceId = "dev-a", MudUrl = url, ApproveWeakMudUrl = true });
        Assert.False(r.Succeeded);
        Assert.Contains("2048", r.Error, StringComparison.Ordinal);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Store_WrittenOwnerOnly_NoTemporaryFileLeft()
    {
        string store = Path.Combine(_dir, "ups", "user-policy.json");
        Assert.True((await new UserPolicyServer(UserPolicyStores.File(store)).AddAsync("admin", new UserPolicyEntry { DeviceId = "dev-a", MudUrl = BulbUrl.AbsoluteUri, ApproveWeakMudUrl = true })).Succeeded);
        Assert.True((await new UserPolicyServer(UserPolicyStores.File(store)).AddAsync("admin", new UserPolicyEntry { DeviceId = "dev-b", MudUrl = BulbUrl.AbsoluteUri, ApproveWeakMudUrl = true })).Succeeded);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(store));
        Assert.Equal(["user-policy.json"], Directory.GetFiles(Path.GetDirectoryName(store)!).Select(Path.GetFileName));
        Assert.Equal(2, (await UserPolicyStores.File(store).LoadAsync()).Count);
    }
}
