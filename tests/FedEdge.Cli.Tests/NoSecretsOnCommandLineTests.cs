using System.Text.RegularExpressions;

namespace FedEdge.Cli.Tests;

/// <summary>
/// No CLI option takes a secret value: every option of every command (read from the built CLI's help) that names a
/// password, token, secret or key takes a FILE; a password given in a value is refused in one line that says where it
/// goes, without echoing it.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed partial class NoSecretsOnCommandLineTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-nosecrets-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task EveryOptionNamingASecret_TakesAFile()
    {
        var checkedOptions = new List<string>();
        var queue = new Queue<string[]>([[]]);
        while (queue.Count > 0)
        {
            string[] path = queue.Dequeue();
            CliResult help = await CliRunner.RunAsync([.. path, "--help"]);
            Assert.True(help.ExitCode == 0, string.Join(' ', path) + ": " + help.Stderr);
            foreach (string command in Section(help.Stdout, "Commands:").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0]))
            {
                queue.Enqueue([.. path, command]);
            }

            foreach (string line in Section(help.Stdout, "Options:"))
            {
                Match option = OptionLine().Match(line);
                if (option.Success && SecretName().IsMatch(option.Groups["name"].Value))
                {
                    checkedOptions.Add(string.Join(' ', path) + " " + option.Groups["name"].Value);
                    Assert.True(option.Groups["arg"].Value is "FILE" or "PEM" or "", $"fededge {string.Join(' ', path)} {option.Groups["name"].Value} takes <{option.Groups["arg"].Value}>, not a FILE or PEM file: a secret must not be a command-line value.");
                }
            }
        }

        // The scan reached the credential options of the coordinator and the worker, the dashboard token and the Flower node key (a PEM file).
        Assert.Contains(checkedOptions, o => o == "worker --key");
        Assert.Contains(checkedOptions, o => o == "coordinator --password-file");
        Assert.Contains(checkedOptions, o => o == "coordinator --device-passwords");
        Assert.Contains(checkedOptions, o => o.EndsWith("--dashboard-token", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("doorbell=hunter2=https://mud.example/doorbell.json")]
    [InlineData("doorbell=hunter2")]
    public async Task CoordinatorDeviceValueWithAPassword_RefusedSayingWhereItGoes(string device)
    {
        CliResult r = await CliRunner.RunAsync(["coordinator", "--port", "0", "--device", device, "--out", Path.Combine(_dir, "c")]);
        Assert.Equal(2, r.ExitCode);
        string line = Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.Contains("--device-passwords FILE", line, StringComparison.Ordinal);
        Assert.Contains("--ca", line, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", r.Stdout + r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DevicePasswordFileReadableByOthers_Refused()
    {
        string file = SecretFiles.WriteDevicePasswords(_dir, ("doorbell", "hunter2"));
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        CliResult r = await CliRunner.RunAsync(["coordinator", "--port", "0", "--device", "doorbell=https://mud.example/doorbell.json", "--device-passwords", file, "--out", Path.Combine(_dir, "c")]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("chmod 600", Assert.Single(r.Stderr.Trim().Split('\n')), StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", r.Stdout + r.Stderr, StringComparison.Ordinal);
    }

    private static IEnumerable<string> Section(string help, string title)
    {
        bool inside = false;
        foreach (string line in help.Split('\n'))
        {
            if (line.StartsWith(title, StringComparison.Ordinal))
            {
                inside = true;
                continue;
            }

            if (inside && line.Length > 2 && line.StartsWith("  ", StringComparison.Ordinal) && line[2] != ' ')
            {
                yield return line.Trim();
            }
            else if (inside && line.Trim().Length == 0)
            {
                inside = false;
            }
        }
    }

    [GeneratedRegex(@"^(?:-\S+, )*(?<name>--[a-z0-9-]+)(?: <(?<arg>[^>]+)>)?")]
    private static partial Regex OptionLine();

    [GeneratedRegex("pass|token|secret|key|pfx|cred")]
    private static partial Regex SecretName();
}
