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
}
