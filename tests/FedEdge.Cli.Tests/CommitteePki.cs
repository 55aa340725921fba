using System.Globalization;
using System.Text.Json;

namespace FedEdge.Cli.Tests;

/// <summary>
/// What the committee process tests prepare before they start anything: a normaliser from a one-round simulation and a
/// federation CA with server certificates for the coordinator and four validators, all made with the `fededge` CLI.
/// </summary>
internal sealed record CommitteePki(string Normalizer, string Directory)
{
    /// <summary>The path of a server's certificate (<c>crt</c>) or key (<c>key</c>).</summary>
    public string Server(string host, string ext) => Path.Combine(Directory, "servers", host + "." + ext);

    /// <summary>Runs <c>fededge simulate</c>, <c>pki init</c> and <c>pki issue --server</c> under <paramref name="dir"/>.</summary>
    public static async Task<CommitteePki> CreateAsync(string dir)
    {
        CliResult sim = await CliRunner.RunAsync(["simulate", "--rounds", "1", "--thermal", "off", "--out", Path.Combine(dir, "sim"), "--runs", Path.Combine(dir, "runs")], workingDirectory: RepoPaths.Root);
        Assert.True(sim.ExitCode == 0, sim.Stdout + sim.Stderr);
        string pki = Path.Combine(dir, "pki");
        Assert.Equal(0, (await CliRunner.RunAsync(["pki", "init", "--dir", pki])).ExitCode);
        foreach (string host in new[] { "coordinator", "validator-0", "validator-1", "validator-2", "validator-3" })
        {
            CliResult issued = await CliRunner.RunAsync(["pki", "issue", "--dir", pki, "--server", host]);
            Assert.True(issued.ExitCode == 0, issued.Stdout + issued.Stderr);
        }

        return new CommitteePki(Path.Combine(dir, "sim", "normalizer.json"), pki);
    }

    /// <summary>
    /// Starts <c>fededge validator --name NAME</c> on <paramref name="port"/> with its server key and the coordinator's
    /// certificate as the log key, its state under <paramref name="stateRoot"/>, and waits for its listening line. With
    /// <paramref name="tls"/> false it gets no certificate and listens on plain HTTP (loopback).
    /// </summary>
    public async Task<CliProcess> StartValidatorAsync(string name, int port, string stateRoot, bool tls = true, params string[] extra)
    {
        string[] certificate = tls ? ["--cert", Server(name, "crt")] : [];
        CliProcess validator = CliProcess.Start(name, ["validator", "--name", name, "--port", port.ToString(CultureInfo.InvariantCulture), .. certificate, "--key", Server(name, "key"),
            "--log-key", Server("coordinator", "crt"), "--state", Path.Combine(stateRoot, name), .. extra]);
        await validator.WaitForLineAsync(l => l.Contains(tls ? "listening on https://127.0.0.1:" : "listening on http", StringComparison.Ordinal), TimeSpan.FromSeconds(60), "the validator listening");
        return validator;
    }

    /// <summary>The committee member entry for validator <paramref name="name"/> reached at <paramref name="endpoint"/>.</summary>
    public Dictionary<string, string> Member(string name, string endpoint) =>
        new() { ["name"] = name, ["certificate"] = Server(name, "crt"), ["endpoint"] = endpoint };

    /// <summary>Writes <c>committee.json</c> with <paramref name="members"/> under <paramref name="dir"/> and returns its path.</summary>
    public static async Task<string> WriteCommitteeAsync(string dir, IEnumerable<Dictionary<string, string>> members)
    {
        string committee = Path.Combine(dir, "committee.json");
        await File.WriteAllTextAsync(committee, JsonSerializer.Serialize(new Dictionary<string, object> { ["validators"] = members.ToList() }));
        return committee;
    }
}
