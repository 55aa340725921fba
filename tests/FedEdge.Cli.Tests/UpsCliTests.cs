using System.Text.Json;

namespace FedEdge.Cli.Tests;

/// <summary><c>fededge ups approve | revoke | list</c>: the approvals store, and hostile input refused with exit code 2.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class UpsCliTests : IDisposable
{
    private const string Url = "https://mud.example.com/cam.json";
    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-ups-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Store => Path.Combine(_dir, "ups");

    private Task<CliResult> Ups(params string[] args) => CliRunner.RunAsync(["ups", .. args, "--dir", Store]);

    private async Task<JsonElement[]> ListAsync()
    {
        CliResult r = await Ups("list", "--json");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        using JsonDocument doc = JsonDocument.Parse(r.Stdout);
        return [.. doc.RootElement.EnumerateArray().Select(e => e.Clone())];
    }

    [Fact]
    public async Task Approve_List_Revoke_PerDeviceAndAdministrator()
    {
        Assert.Equal(0, (await Ups("approve", "--device", "cam-1", "--mud-url", Url)).ExitCode);
        CliResult again = await Ups("approve", "--device", "cam-1", "--mud-url", Url);
        Assert.Equal(0, again.ExitCode);
        Assert.Contains("already approved", again.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, (await Ups("approve", "--mac", "00:11:22:33:44:55", "--mud-url", Url, "--admin", "bob")).ExitCode);

        JsonElement[] approvals = await ListAsync();
        Assert.Equal(2, approvals.Length);
        Assert.Contains(approvals, a => a.GetProperty("device").GetString() == "cam-1" && a.GetProperty("owner").GetString() == "admin");
        Assert.Contains(approvals, a => a.GetProperty("mac").GetString() == "00:11:22:33:44:55" && a.GetProperty("owner").GetString() == "bob");

        // Another device, or another administrator, has nothing to revoke.
        CliResult wrongDevice = await Ups("revoke", "--device", "cam-2", "--mud-url", Url);
        Assert.Equal(1, wrongDevice.ExitCode);
        Assert.Contains("no approval of 'https://mud.example.com/cam.json' for device 'cam-2'", wrongDevice.Stderr, StringComparison.Ordinal);
        Assert.Equal(1, (await Ups("revoke", "--device", "cam-1", "--mud-url", Url, "--admin", "bob")).ExitCode);

        CliResult revoked = await Ups("revoke", "--device", "cam-1", "--mud-url", Url);
        Assert.True(revoked.ExitCode == 0, revoked.Stderr);
        Assert.Contains("revoked: https://mud.example.com/cam.json for device 'cam-1'", revoked.Stdout, StringComparison.Ordinal);
        Assert.Equal("bob", Assert.Single(await ListAsync()).GetProperty("owner").GetString());
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(Store, "user-policy.json")));
    }

    [Theory]
    [InlineData("--device", "cam-1", "http://mud.example.com/cam.json", "must be an absolute https URL")]
    [InlineData("--device", "cam-1", "https://mud.example.com/cam.json\nhttps://evil.example.com/x.json", "without spaces or control characters")]
    [InlineData("--device", "cam-1", "https://mud.example.com/\u001b[31mred", "without spaces or control characters")]
    [InlineData("--device", "cam-1", "mud.example.com/cam.json", "must be an absolute https URL")]
    [InlineData("--device", "cam\n1", "https://mud.example.com/cam.json", "not a valid device id")]
    [InlineData("--device", "cam/1", "https://mud.example.com/cam.json", "not a valid device id")]
    [InlineData("--mac", "00:11\r22", "https://mud.example.com/cam.json", "--mac must be")]
    public async Task HostileInput_RefusedWithExitCode2_NothingStored(string who, string id, string url, string reason)
    {
        CliResult r = await Ups("approve", who, id, "--mud-url", url);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(reason, r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", r.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(Store, "user-policy.json")));
    }

    [Fact]
    public async Task OverlongUrl_And_MissingDevice_RefusedWithExitCode2()
    {
        CliResult overlong = await Ups("approve", "--device", "cam-1", "--mud-url", "https://mud.example.com/" + new string('a', 2100));
        Assert.Equal(2, overlong.ExitCode);
        Assert.Contains("at most 2048 characters", overlong.Stderr, StringComparison.Ordinal);
        CliResult neither = await Ups("approve", "--mud-url", Url);
        Assert.Equal(2, neither.ExitCode);
        Assert.Contains("give exactly one of --device ID or --mac MAC", neither.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CorruptStore_ReportedInOneLine_ExitCode1()
    {
        Directory.CreateDirectory(Store);
        await File.WriteAllTextAsync(Path.Combine(Store, "user-policy.json"), "{ not json");
        CliResult r = await Ups("list");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("is corrupt", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CoordinatorUserPolicy_WithoutMud_IsAUsageError()
    {
        CliResult r = await CliRunner.RunAsync(["coordinator", "--user-policy", Store, "--out", Path.Combine(_dir, "out"), "--runs", Path.Combine(_dir, "runs")]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--user-policy applies to MUD admission", r.Stderr, StringComparison.Ordinal);
    }
}
