using FedEdge.Mud.Compilation;
using FedEdge.Mud.PolicyServer;

namespace FedEdge.Mud.Tests;

public sealed class UserPolicyServerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-ups-").FullName;
    private static readonly MudDeviceBinding Bulb = new("bulb", "00:11:22:33:44:55");
    private const string BulbUrl = "https://lighting.example.com/lightbulb2000";

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string StorePath => Path.Combine(_dir, "ups.json");

    private UserPolicyServer Server() => new(UserPolicyStores.File(StorePath));

    private static MudFile Rfc() => MudParser.ParseValid(File.ReadAllBytes(Corpus.PathOf("osmud", "ieft-draft.json")));

    private static UserPolicyRule Rule(MudForwarding action, string host = "test.example.com", int port = 443, MudDirection dir = MudDirection.FromDevice)
        => new() { Direction = dir, Action = action, RemoteHost = host, Protocol = 6, RemotePort = port };

    [Fact]
    public async Task ListUpdateDelete_OtherAdministrator_SeesAndChangesNothing()
    {
        UserPolicyServer ups = Server();
        UserPolicyResult added = await ups.AddAsync("alice", new UserPolicyEntry { Mac = Bulb.Mac, Rules = [Rule(MudForwarding.Drop)] });
        Assert.True(added.Succeeded);
        Assert.Empty(await ups.ListAsync("bob"));
        Assert.False((await ups.UpdateAsync("bob", added.Entry! with { Rules = [] })).Succeeded);
        Assert.False((await ups.DeleteAsync("bob", added.Entry!.Id)).Succeeded);
        Assert.Single(await ups.ListAsync("alice"));
        Assert.True((await ups.DeleteAsync("alice", added.Entry.Id)).Succeeded);
        Assert.Empty(await ups.ListAsync("alice"));
    }

    [Fact]
    public async Task FileStore_SurvivesRestartAndRejectsCorruption()
    {
        await Server().AddAsync("alice", new UserPolicyEntry { MudUrl = BulbUrl, Rules = [Rule(MudForwarding.Accept, "coord.example.org", 8883)] });
        IReadOnlyList<UserPolicyEntry> reloaded = await Server().ListAsync("alice");
        UserPolicyEntry e = Assert.Single(reloaded);
        Assert.Equal(8883, e.Rules[0].RemotePort);
        Assert.Equal(MudForwarding.Accept, e.Rules[0].Action);

        await File.WriteAllTextAsync(StorePath, "{ not json");
        await Assert.ThrowsAsync<InvalidDataException>(async () => await Server().ListAsync("alice"));
    }

    [Fact]
    public async Task ResolveAsync_AdministratorDropBeatsManufacturerAccept_AndIsReported()
    {
        UserPolicyServer ups = Server();
        await ups.AddAsync("alice", new UserPolicyEntry { Mac = Bulb.Mac, Rules = [Rule(MudForwarding.Drop)] });
        MergedPolicy merged = (await ups.ResolveAsync(Bulb, BulbUrl, Rfc()))!;
        Assert.False(merged.Policy.AllowsConnection("test.example.com", 443, 6));
        MergeReport report = Assert.Single(merged.Reports);
        Assert.Equal(MergeAction.Overridden, report.Action);
        Assert.Equal("mud-76100-v6fr/cl0-frdev", report.Removed.Source);
        Assert.Contains("administrator drop beats manufacturer accept", report.Explanation, StringComparison.Ordinal);
        Assert.DoesNotContain(merged.Policy.Rules, r => r.Source == "mud-76100-v6fr/cl0-frdev");
    }

    [Fact]
    public async Task ResolveAsync_AdministratorAcceptOpensCoordinator_ForEveryDeviceOfTheModel()
    {
        UserPolicyServer ups = Server();
        await ups.AddAsync("alice", new UserPolicyEntry
        {
            MudUrl = BulbUrl,
            Rules = [Rule(MudForwarding.Accept, "coord.example.org", 8883), Rule(MudForwarding.Accept, "coord.example.org", 8883, MudDirection.ToDevice) with { RemotePort = 8883 }],
        });
        MudFile rfc = Rfc();
        Assert.False(MudRuleCompiler.Compile(rfc, Bulb).AllowsConnection("coord.example.org", 8883, 6));
        MergedPolicy merged = (await ups.ResolveAsync(Bulb, BulbUrl, rfc))!;
        Assert.True(merged.Policy.AllowsConnection("coord.example.org", 8883, 6));
        Assert.True(merged.Policy.AllowsConnection("test.example.com", 443, 6));
        Assert.Empty(merged.Reports);
    }

    [Fact]
    public async Task ResolveAsync_AdministratorsDisagree_DropBeatsAccept()
    {
        UserPolicyServer ups = Server();
        await ups.AddAsync("alice", new UserPolicyEntry { Mac = Bulb.Mac, Rules = [Rule(MudForwarding.Accept, "coord.example.org", 8883)] });
        await ups.AddAsync("bob", new UserPolicyEntry { MudUrl = BulbUrl, Rules = [Rule(MudForwarding.Drop, "coord.example.org", 8883)] });
        MergedPolicy merged = (await ups.ResolveAsync(Bulb, BulbUrl, Rfc()))!;
        MergeReport r = Assert.Single(merged.Reports);
        Assert.StartsWith("admin:alice/", r.Removed.Source, StringComparison.Ordinal);
        Assert.StartsWith("admin:bob/", r.By.Source, StringComparison.Ordinal);
        Assert.Contains("administrator drop beats administrator accept", r.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ResolveAsync_DuplicateOfManufacturerRule_RemovedAsRedundant()
    {
        UserPolicyServer ups = Server();
        await ups.AddAsync("alice", new UserPolicyEntry { Mac = Bulb.Mac, Rules = [new UserPolicyRule { Direction = MudDirection.FromDevice, Action = MudForwarding.Accept, RemoteHost = "test.example.com" }] });
        MergedPolicy merged = (await ups.ResolveAsync(Bulb, BulbUrl, Rfc()))!;
        MergeReport r = Assert.Single(merged.Reports);
        Assert.Equal(MergeAction.Redundant, r.Action);
        Assert.Equal("mud-76100-v6fr/cl0-frdev", r.Removed.Source);
    }

    [Fact]
    public async Task ResolveAsync_NonMudDevice_UsesAdministratorMudFile()
    {
        UserPolicyServer ups = Server();
        string json = await File.ReadAllTextAsync(Corpus.PathOf("mudmaker", "cloud-service.json"));
        Assert.True((await ups.AddAsync("alice", new UserPolicyEntry { Mac = "AA-BB-CC-DD-EE-FF", MudFileJson = json })).Succeeded);
        var camera = new MudDeviceBinding("cam", "aa:bb:cc:dd:ee:ff");
        MergedPolicy merged = (await ups.ResolveAsync(camera, null, null))!;
        Assert.True(merged.UsedAdministratorMudFile);
        Assert.Contains(merged.Policy.Rules, r => r.Origin == MudRuleOrigin.Explicit);
        Assert.Null(await ups.ResolveAsync(new MudDeviceBinding("other", "01:02:03:04:05:06"), null, null));
    }

    [Fact]
    public async Task AddAsync_InvalidEntries_Refused()
    {
        UserPolicyServer ups = Server();
        Assert.False((await ups.AddAsync("alice", new UserPolicyEntry { Rules = [Rule(MudForwarding.Drop)] })).Succeeded);
        UserPolicyResult bad = await ups.AddAsync("alice", new UserPolicyEntry { Mac = Bulb.Mac, MudFileJson = await File.ReadAllTextAsync(Corpus.PathOf("faucetsdn-daq", "bacnet.json")) });
        Assert.False(bad.Succeeded);
        Assert.Contains("MUD0072", bad.Error, StringComparison.Ordinal);
    }
}
