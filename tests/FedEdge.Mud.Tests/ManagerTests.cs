using System.Text;
using System.Text.Json.Nodes;
using FedEdge.Mud.Manager;
using FedEdge.Mud.Signatures;
using Microsoft.Extensions.Time.Testing;

namespace FedEdge.Mud.Tests;

public sealed class ManagerTests : IAsyncLifetime
{
    private LoopbackHttpsServer _server = null!;
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    public Task InitializeAsync()
    {
        _server = new LoopbackHttpsServer();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    /// <summary>The RFC 8520 s9 example re-pointed at the loopback server, optionally with a mud-signature.</summary>
    private byte[] MudFor(string path, string lastUpdate = "2018-03-02T11:20:51+01:00", string? signaturePath = null, int cacheValidity = 48)
    {
        JsonObject root = JsonNode.Parse(File.ReadAllText(Corpus.PathOf("osmud", "ieft-draft.json")))!.AsObject();
        JsonObject mud = root["ietf-mud:mud"]!.AsObject();
        mud["mud-url"] = _server.Url(path).AbsoluteUri;
        mud["last-update"] = lastUpdate;
        mud["cache-validity"] = cacheValidity;
        if (signaturePath is not null)
        {
            mud["mud-signature"] = _server.Url(signaturePath).AbsoluteUri;
        }

        return Encoding.UTF8.GetBytes(root.ToJsonString());
    }

    private MudManager Manager(Action<MudManagerOptions>? configure = null)
    {
        var o = new MudManagerOptions();
        o.HttpsTrustAnchors.Add(_server.Certificate);
        configure?.Invoke(o);
        return new MudManager(o, _clock);
    }

    [Fact]
    public async Task FetchAsync_RealHttpsServer_SendsMudAcceptAndResolvesSignature()
    {
        byte[] content = MudFor("/bulb", signaturePath: "/bulb.p7s");
        _server.Routes["/bulb"] = new(200, content);
        _server.Routes["/bulb.p7s"] = new(200, TestSigning.Sign(content), "application/pkcs7-signature");
        var verifier = new MudSignatureVerifier(new MudSignatureVerifierOptions().AddTrustAnchorsFromPem(Path.Combine(Corpus.Signed, "test-ca.cert.pem")));
        using MudManager manager = Manager(o => o.Verifier = verifier);

        MudFetchOutcome outcome = await manager.FetchAsync(_server.Url("/bulb"));

        Assert.Null(outcome.Error);
        Assert.Equal(content, outcome.File!.Content);
        Assert.NotNull(outcome.File.Signature);
        Assert.True(verifier.Verify(outcome.File.Content, outcome.File.Signature!).IsValid);
        Assert.Contains(_server.Requests, r => r.Path == "/bulb" && r.Accept == "application/mud+json");
        Assert.Contains(_server.Requests, r => r.Path == "/bulb.p7s");
    }

    [Fact]
    public async Task FetchAsync_WithinCacheValidity_ServedFromCacheWithoutRequest()
    {
        _server.Routes["/c"] = new(200, MudFor("/c", cacheValidity: 2));
        using MudManager manager = Manager();
        Assert.False((await manager.FetchAsync(_server.Url("/c"))).FromCache);
        _clock.Advance(TimeSpan.FromMinutes(119));
        int before = _server.Requests.Count;
        MudFetchOutcome again = await manager.FetchAsync(_server.Url("/c"));
        Assert.True(again.FromCache);
        Assert.Equal(before, _server.Requests.Count);
        _clock.Advance(TimeSpan.FromMinutes(2));
        MudFetchOutcome refreshed = await manager.FetchAsync(_server.Url("/c"));
        Assert.False(refreshed.FromCache);
        Assert.True(_server.Requests.Count > before);
    }

    [Fact]
    public async Task FetchAsync_ServerFailsAfterExpiry_ServesStaleCopy()
    {
        _server.Routes["/s"] = new(200, MudFor("/s"));
        using MudManager manager = Manager();
        await manager.FetchAsync(_server.Url("/s"));
        _server.Routes["/s"] = new(503, "down"u8.ToArray(), "text/plain");
        _clock.Advance(TimeSpan.FromHours(49));
        MudFetchOutcome stale = await manager.FetchAsync(_server.Url("/s"));
        Assert.True(stale.Stale);
        Assert.NotNull(stale.File);
        Assert.Contains("503", stale.Error, StringComparison.Ordinal);
        _clock.Advance(TimeSpan.FromDays(8));
        MudFetchOutcome gone = await manager.FetchAsync(_server.Url("/s"));
        Assert.Null(gone.File);
    }

    [Fact]
    public async Task FetchAsync_LastUpdateChanged_RequiresReapprovalUntilApproved()
    {
        _server.Routes["/r"] = new(200, MudFor("/r"));
        using MudManager manager = Manager();
        await manager.FetchAsync(_server.Url("/r"));
        _server.Routes["/r"] = new(200, MudFor("/r", lastUpdate: "2026-01-01T00:00:00Z"));
        _clock.Advance(TimeSpan.FromHours(49));
        MudFetchOutcome changed = await manager.FetchAsync(_server.Url("/r"));
        Assert.True(changed.RequiresReapproval);
        Assert.Contains("last-update changed", changed.ReapprovalReason, StringComparison.Ordinal);
        Assert.Null(await manager.GetAsync(_server.Url("/r")));
        Assert.True(manager.Approve(_server.Url("/r")));
        Assert.NotNull(await manager.GetAsync(_server.Url("/r")));
    }

    [Fact]
    public async Task FetchAsync_SignerChanged_RequiresReapproval()
    {
        byte[] content = MudFor("/g", signaturePath: "/g.p7s");
        _server.Routes["/g"] = new(200, content);
        _server.Routes["/g.p7s"] = new(200, TestSigning.Sign(content));
        using MudManager manager = Manager();
        await manager.FetchAsync(_server.Url("/g"));
        using var rsa = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(Path.Combine(Corpus.Signed, "rsa-signer.cert.pem"), Path.Combine(Corpus.Signed, "rsa-signer.key.pem"));
        _server.Routes["/g.p7s"] = new(200, TestSigning.Sign(content, System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12(rsa.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pkcs12), null)));
        _clock.Advance(TimeSpan.FromHours(49));
        MudFetchOutcome changed = await manager.FetchAsync(_server.Url("/g"));
        Assert.True(changed.RequiresReapproval);
        Assert.Contains("signer changed", changed.ReapprovalReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FetchAsync_SelfCheckFails_WhenFileNamesAnotherUrl()
    {
        _server.Routes["/other"] = new(200, MudFor("/elsewhere"));
        using MudManager manager = Manager();
        MudFetchOutcome outcome = await manager.FetchAsync(_server.Url("/other"));
        Assert.Null(outcome.File);
        Assert.Contains("differs from the requested", outcome.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FetchAsync_RedirectWithinHttps_FollowedButToHttpRefused()
    {
        _server.Routes["/old"] = new(301, [], Location: "/new");
        _server.Routes["/new"] = new(200, MudFor("/old"));
        _server.Routes["/insecure"] = new(302, [], Location: "http://127.0.0.1:1/x");
        _server.Routes["/loop"] = new(302, [], Location: "/loop");
        using MudManager manager = Manager();
        Assert.NotNull((await manager.FetchAsync(_server.Url("/old"))).File);
        Assert.Contains("not https", (await manager.FetchAsync(_server.Url("/insecure"))).Error, StringComparison.Ordinal);
        Assert.Contains("redirects", (await manager.FetchAsync(_server.Url("/loop"))).Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FetchAsync_OversizedResponse_Refused()
    {
        _server.Routes["/big"] = new(200, new byte[5000]);
        using MudManager manager = Manager(o => o.MaxBytes = 1000);
        Assert.Contains("limit", (await manager.FetchAsync(_server.Url("/big"))).Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FetchAsync_UntrustedServerCertificate_Refused()
    {
        _server.Routes["/t"] = new(200, MudFor("/t"));
        var o = new MudManagerOptions();
        o.HttpsTrustAnchors.Add(Corpus.LoadCertificate(Path.Combine(Corpus.Signed, "test-ca.cert.pem")));
        using var manager = new MudManager(o, _clock);
        MudFetchOutcome outcome = await manager.FetchAsync(_server.Url("/t"));
        Assert.Null(outcome.File);
        Assert.Contains("HTTPS request failed", outcome.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FetchAsync_HttpUrl_NeverFetched()
    {
        using MudManager manager = Manager();
        MudFetchOutcome outcome = await manager.FetchAsync(new Uri($"http://127.0.0.1:{_server.Port}/x"));
        Assert.Contains("not https", outcome.Error, StringComparison.Ordinal);
        Assert.Empty(_server.Requests);
    }

    [Fact]
    public async Task FetchAsync_ServerHangs_TimesOut()
    {
        _server.Routes["/hang"] = new(200, [], Hang: true);
        var o = new MudManagerOptions { Timeout = TimeSpan.FromSeconds(1) };
        o.HttpsTrustAnchors.Add(_server.Certificate);
        using var manager = new MudManager(o, TimeProvider.System);
        MudFetchOutcome outcome = await manager.FetchAsync(_server.Url("/hang"));
        Assert.Contains("timed out", outcome.Error, StringComparison.Ordinal);
    }
}
