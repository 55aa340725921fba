using System.Collections.Concurrent;
using System.Globalization;
using Xunit.Abstractions;

namespace FedEdge.Cli.Tests;

/// <summary>
/// Issue 19: every wrong invocation of every command ends with one line and exit code 2 (usage) or 1 (runtime),
/// never a stack trace or a hang. The bad values are generated per option kind: out of range, empty, non-numeric,
/// missing files, unreadable files, malformed files.
/// </summary>
public sealed class BadInvocationTests : IDisposable
{
    private static readonly TimeSpan PerInvocation = TimeSpan.FromSeconds(60);
    private const int Parallelism = 4;

    private readonly ITestOutputHelper _output;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fededge-bad-" + Guid.NewGuid().ToString("N"));
    private readonly string _missing;
    private readonly string _unreadable;
    private readonly string _textFile;
    private readonly string _badNormalizer;
    private readonly string _dataFile;
    private readonly string _mudDir = Path.Combine(RepoPaths.Root, "samples", "mud");

    public BadInvocationTests(ITestOutputHelper output)
    {
        _output = output;
        Directory.CreateDirectory(_dir);
        _missing = Path.Combine(_dir, "no-such-file.json");
        _textFile = Path.Combine(_dir, "garbage.csv");
        File.WriteAllText(_textFile, "this is, not\nan N-BaIoT file\n");
        _badNormalizer = Path.Combine(_dir, "normalizer.json");
        File.WriteAllText(_badNormalizer, "{ \"min\": [1, 2, ");
        _unreadable = Path.Combine(_dir, "unreadable.json");
        File.WriteAllText(_unreadable, "{}");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(_unreadable, UnixFileMode.None);
        }

        _dataFile = Directory.EnumerateFiles(Path.Combine(RepoPaths.Root, "samples", "data"), "*.csv.gz").Order(StringComparer.Ordinal).First();
    }

    /// <summary>How an option's value can be wrong.</summary>
    private enum Kind
    {
        Int,
        PositiveNumber,
        Seconds,
        Fraction,
        MqttUrl,
        AbsoluteUrl,
        File,
        Directory,
        Choice,
        Model,
    }

    /// <summary>One option of a command and what its values must be (<see cref="Min"/>/<see cref="Max"/> for <see cref="Kind.Int"/>).</summary>
    private sealed record OptionSpec(string Name, Kind Kind, int Min = int.MinValue, int Max = int.MaxValue);

    /// <summary>A command, the valid options every invocation starts from, and the options to break one at a time.</summary>
    private sealed record CommandSpec(string[] Path, Dictionary<string, string> Valid, OptionSpec[] Options);

    /// <summary>One invocation and the exit codes it may end with.</summary>
    public sealed record BadCase(string[] Arguments, int[] ExpectedExits)
    {
        public override string ToString() => "fededge " + string.Join(' ', Arguments.Select(a => a.Length == 0 || a.Contains(' ', StringComparison.Ordinal) ? "'" + a + "'" : a));
    }

    [Fact]
    public void Generator_CoversEveryCommandAndManyCases()
    {
        List<BadCase> cases = GeneratedCases().Concat(RuntimeCases()).ToList();
        Assert.True(cases.Count > 150, cases.Count.ToString(CultureInfo.InvariantCulture));
        foreach (string command in new[] { "simulate", "coordinator", "worker", "mud verify", "mud validate", "mud compile", "mud bench", "device probe", "audit verify" })
        {
            Assert.Contains(cases, c => string.Join(' ', c.Arguments).StartsWith(command, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task EveryCommand_GeneratedBadValues_OneLineErrorNoStackTraceNoHang()
    {
        await AssertAllFailCleanlyAsync(GeneratedCases().Concat(RuntimeCases()).ToList());
    }

    [Fact]
    public async Task UnreadableFiles_OneLineUsageError()
    {
        // Root (CI) reads a mode-000 file anyway: there the CLI runs without the capabilities that allow it.
        IReadOnlyList<string>? launcher = null;
        if (CanRead(_unreadable))
        {
            launcher = CliLaunchers.WithoutReadOverride;
            Assert.True(launcher is not null, $"'{_unreadable}' is readable despite mode 000 and setpriv is missing, so unreadable files cannot be tested");
        }

        await AssertAllFailCleanlyAsync(
        [
            new(["worker", "--device-id", "w1", "--data", _unreadable, "--broker", "mqtt://127.0.0.1:1"], [2]),
            new(["worker", "--device-id", "w1", "--data", _dataFile, "--normalizer", _unreadable, "--broker", "mqtt://127.0.0.1:1"], [2]),
            new(["coordinator", "--port", "0", "--mud", _mudDir, "--mud-trust", _unreadable], [2]),
            new(["mud", "verify", .. MudVerifyBase("--file", _unreadable)], [2]),
            new(["mud", "validate", _unreadable], [1, 2]),
            new(["mud", "compile", _unreadable], [1, 2]),
            new(["audit", "verify", "--log", _unreadable], [2]),
        ], launcher);
    }

    [Fact]
    public async Task Worker_BrokerDown_OneLineWhyAndNoStackTrace()
    {
        int closedPort = LoopbackPorts.Free();
        CliResult result = await CliRunner.RunAsync(
            ["worker", "--device-id", "w1", "--data", _dataFile, "--broker", $"mqtt://127.0.0.1:{closedPort}", "--heartbeat", "1", "--log-level", "debug", "--connect-timeout", "3"],
            timeout: PerInvocation);
        AssertClean(result);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("cannot join through the broker", result.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--log-level", "error", false)]
    [InlineData("--log-level", "information", true)]
    [InlineData("--verbose", null, true)]
    public async Task Worker_LogLevel_DecidesWhetherInformationIsLogged(string flag, string? level, bool expectInformation)
    {
        string[] logging = level is null ? [flag] : [flag, level];
        CliResult result = await CliRunner.RunAsync(
            ["worker", "--device-id", "w1", "--data", _dataFile, "--broker", $"mqtt://127.0.0.1:{LoopbackPorts.Free()}", "--connect-timeout", "3", .. logging],
            timeout: PerInvocation);
        AssertClean(result);
        Assert.Equal(1, result.ExitCode);
        Assert.Equal(expectInformation, result.Stderr.Contains("info: Coordination.Worker[", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("coordinator")]
    [InlineData("worker")]
    public async Task LogLevel_IsListedInHelp(string command)
    {
        CliResult result = await CliRunner.RunAsync([command, "--help"], timeout: PerInvocation);
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("--log-level", result.Stdout, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(_unreadable, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        Directory.Delete(_dir, recursive: true);
    }

    private async Task AssertAllFailCleanlyAsync(IReadOnlyList<BadCase> cases, IReadOnlyList<string>? launcher = null)
    {
        var failures = new ConcurrentBag<string>();
        await Parallel.ForEachAsync(cases, new ParallelOptions { MaxDegreeOfParallelism = Parallelism }, async (c, _) =>
        {
            try
            {
                CliResult result = await CliRunner.RunAsync(c.Arguments, workingDirectory: _dir, timeout: PerInvocation, launcher: launcher);
                if (Problem(c, result) is string problem)
                {
                    failures.Add($"{c}: {problem}\n  stdout: {Head(result.Stdout)}\n  stderr: {Head(result.Stderr)}");
                }
            }
            catch (TimeoutException)
            {
                failures.Add($"{c}: did not finish in {PerInvocation.TotalSeconds} s");
            }
        });
        _output.WriteLine($"{cases.Count} invocations, {failures.Count} failed");
        Assert.True(failures.IsEmpty, string.Join("\n", failures.Order(StringComparer.Ordinal)));
    }

    private static string? Problem(BadCase c, CliResult result)
    {
        string all = result.Stdout + result.Stderr;
        if (all.Contains("Unhandled exception", StringComparison.Ordinal) || all.Split('\n').Any(l => l.StartsWith("   at ", StringComparison.Ordinal)))
        {
            return "stack trace";
        }

        if (!c.ExpectedExits.Contains(result.ExitCode))
        {
            return $"exit code {result.ExitCode}, expected {string.Join(" or ", c.ExpectedExits)}";
        }

        if (string.IsNullOrWhiteSpace(all))
        {
            return "no message";
        }

        // A usage error is exactly one line.
        int errorLines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Length;
        return result.ExitCode == 2 && errorLines != 1 ? $"{errorLines} lines on standard error" : null;
    }

    private static void AssertClean(CliResult result)
    {
        string all = result.Stdout + result.Stderr;
        Assert.DoesNotContain("Unhandled exception", all, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", all, StringComparison.Ordinal);
    }

    private static string Head(string text) => text.Length <= 400 ? text.Trim() : text[..400].Trim() + " ...";

    private static bool CanRead(string path)
    {
        try
        {
            using FileStream stream = File.OpenRead(path);
            return true;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    private string[] MudVerifyBase(string replace, string value)
    {
        var options = new Dictionary<string, string>
        {
            ["--file"] = Path.Combine(_mudDir, "Danmini_Doorbell.json"),
            ["--signature"] = Path.Combine(_mudDir, "Danmini_Doorbell.p7s"),
            ["--trust"] = Path.Combine(_mudDir, "demo-ca.cert.pem"),
        };
        options[replace] = value;
        return [.. options.SelectMany(p => new[] { p.Key, p.Value })];
    }

    private IEnumerable<CommandSpec> Commands()
    {
        yield return new(["simulate"], new() { ["--rounds"] = "1" },
        [
            new("--transport", Kind.Choice), new("--broker", Kind.MqttUrl), new("--rounds", Kind.Int, 1), new("--strategy", Kind.Choice),
            new("--byzantine", Kind.Int, 0), new("--model", Kind.Model), new("--trainer", Kind.Choice), new("--seed", Kind.Int),
            new("--local-epochs", Kind.Int, 1), new("--local-steps", Kind.Int, 0), new("--lr", Kind.PositiveNumber), new("--optimizer", Kind.Choice),
            new("--momentum", Kind.Fraction), new("--batch", Kind.Int, 1), new("--data", Kind.Directory), new("--mud", Kind.Directory),
            new("--eval", Kind.Directory), new("--dp-noise", Kind.PositiveNumber), new("--dp-clip", Kind.PositiveNumber),
            new("--thermal", Kind.Choice), new("--faults", Kind.Choice), new("--dataset", Kind.Choice),
        ]);
        yield return new(["coordinator"], new() { ["--port"] = "0", ["--rounds"] = "1", ["--join-timeout"] = "5", ["--out"] = Path.Combine(_dir, "coordinator") },
        [
            new("--port", Kind.Int, 0, 65535), new("--broker", Kind.MqttUrl), new("--device", Kind.Choice), new("--mud", Kind.Directory),
            new("--rounds", Kind.Int, 1), new("--min-devices", Kind.Int, 1), new("--strategy", Kind.Choice), new("--byzantine", Kind.Int, 0),
            new("--model", Kind.Model), new("--seed", Kind.Int), new("--local-steps", Kind.Int, 0), new("--lr", Kind.PositiveNumber),
            new("--heartbeat", Kind.Seconds), new("--missed-heartbeats", Kind.Int, 1), new("--window", Kind.Seconds),
            new("--round-timeout", Kind.Seconds), new("--window-size", Kind.Int, 1), new("--join-timeout", Kind.Seconds), new("--log-level", Kind.Choice),
            new("--dataset", Kind.Choice),
        ]);
        yield return new(["coordinator"], new() { ["--port"] = "0", ["--rounds"] = "1", ["--join-timeout"] = "5", ["--out"] = Path.Combine(_dir, "coordinator-mud"), ["--mud"] = _mudDir },
        [
            new("--mud-trust", Kind.File), new("--mud-endpoint", Kind.Choice),
        ]);
        yield return new(["worker"], new() { ["--device-id"] = "w1", ["--data"] = _dataFile, ["--broker"] = "mqtt://127.0.0.1:1", ["--connect-timeout"] = "3" },
        [
            new("--device-id", Kind.Choice), new("--data", Kind.File), new("--broker", Kind.MqttUrl), new("--mud-url", Kind.AbsoluteUrl),
            new("--model", Kind.Model), new("--seed", Kind.Int), new("--normalizer", Kind.File), new("--heartbeat", Kind.Seconds),
            new("--exit-after-round", Kind.Int, 0), new("--log-level", Kind.Choice), new("--connect-timeout", Kind.Seconds), new("--dataset", Kind.Choice),
        ]);
        yield return new(["mud", "verify"], new()
        {
            ["--file"] = Path.Combine(_mudDir, "Danmini_Doorbell.json"),
            ["--signature"] = Path.Combine(_mudDir, "Danmini_Doorbell.p7s"),
            ["--trust"] = Path.Combine(_mudDir, "demo-ca.cert.pem"),
        },
        [
            new("--file", Kind.File), new("--signature", Kind.File), new("--trust", Kind.File), new("--device-cert", Kind.File), new("--at", Kind.Choice),
        ]);
        yield return new(["mud", "compile", Path.Combine(_mudDir, "Danmini_Doorbell.json")], [], [new("--format", Kind.Choice), new("--controller", Kind.Choice)]);
        yield return new(["mud", "bench"], [], [new("--rounds", Kind.Int, 1), new("--corpus", Kind.Directory)]);
        yield return new(["device", "probe"], [], [new("--root", Kind.Directory)]);
        yield return new(["audit", "verify"], [], [new("--log", Kind.File), new("--checkpoint", Kind.Directory)]);
    }

    /// <summary>Bad values for an option: each is a usage error (exit 2).</summary>
    private IEnumerable<string> BadValues(OptionSpec option)
    {
        IEnumerable<string> values = option.Kind switch
        {
            Kind.Int => new[] { string.Empty, "abc", "1.5", "99999999999" }
                .Concat(option.Min > int.MinValue ? [(option.Min - 1L).ToString(CultureInfo.InvariantCulture)] : [])
                .Concat(option.Max < int.MaxValue ? [(option.Max + 1L).ToString(CultureInfo.InvariantCulture)] : []),
            Kind.PositiveNumber => [string.Empty, "abc", "0", "-1", "NaN", "Infinity"],
            Kind.Seconds => [string.Empty, "abc", "0", "-1", "NaN", "1e300"],
            Kind.Fraction => [string.Empty, "abc", "-0.5", "1", "NaN"],
            Kind.MqttUrl => [string.Empty, "not a url", "http://127.0.0.1:1883", "mqtt://"],
            Kind.AbsoluteUrl => [string.Empty, "not a url", "/relative/path.json"],
            Kind.File => [string.Empty, _missing, _dir],
            Kind.Directory => [string.Empty, Path.Combine(_dir, "no-such-folder"), _textFile],
            Kind.Model => [string.Empty, "bogus", "mlp:0-1"],
            _ => [string.Empty, "bogus"],
        };
        return option.Name switch
        {
            "--at" => [string.Empty, "yesterday", "99999999999999"],
            "--faults" => ["drop=2", "bogus", "delay=forever"],
            "--device" => ["x", "x=y=not a url"],
            "--mud-endpoint" => ["nohost", "host:99999", "host:abc"],
            "--controller" => ["no-equals-sign"],
            "--device-id" => [string.Empty, " "],
            _ => values,
        };
    }

    private IEnumerable<BadCase> GeneratedCases()
    {
        foreach (CommandSpec command in Commands())
        {
            foreach (OptionSpec option in command.Options)
            {
                foreach (string value in BadValues(option))
                {
                    var options = new Dictionary<string, string>(command.Valid) { [option.Name] = value };
                    yield return new([.. command.Path, .. options.SelectMany(p => new[] { p.Key, p.Value })], [2]);
                }
            }
        }

        // A command or option that does not exist, and a missing subcommand.
        yield return new(["no-such-command"], [2]);
        yield return new(["simulate", "--no-such-option", "1"], [2]);
        yield return new(["mud"], [2]);
        yield return new(["device"], [2]);
        yield return new(["audit"], [2]);
        yield return new(["worker"], [2]);
        yield return new(["mud", "verify"], [2]);
    }

    /// <summary>Values that parse but fail when the command reads them: a runtime error (exit 1) or a usage error.</summary>
    private IEnumerable<BadCase> RuntimeCases()
    {
        // Bad local data no longer ends the worker (it stays NotReady and reports why, see ProcessResilienceTests): with the
        // broker down, it gives up after --connect-timeout in one line.
        yield return new(["worker", "--device-id", "w1", "--data", _dataFile, "--normalizer", _badNormalizer, "--broker", "mqtt://127.0.0.1:1", "--connect-timeout", "2"], [1, 2]);
        yield return new(["worker", "--device-id", "w1", "--data", _textFile, "--broker", "mqtt://127.0.0.1:1", "--connect-timeout", "2"], [1, 2]);
        yield return new(["worker", "--device-id", "w1", "--data", _dataFile, "--broker", "mqtt://127.0.0.1:1", "--connect-timeout", "3"], [1]);
        yield return new(["coordinator", "--broker", "mqtt://127.0.0.1:1", "--connect-timeout", "1", "--rounds", "1", "--out", Path.Combine(_dir, "coordinator-external")], [1]);
        yield return new(["mud", "validate", _missing], [1, 2]);
        yield return new(["mud", "validate", _textFile], [1, 2]);
        yield return new(["mud", "compile", _missing], [1, 2]);
        yield return new(["mud", "compile", _textFile], [1, 2]);
        yield return new(["mud", "verify", .. MudVerifyBase("--signature", _textFile)], [1, 2]);
        yield return new(["mud", "verify", .. MudVerifyBase("--trust", _textFile)], [1, 2]);
        yield return new(["audit", "verify", "--log", _textFile], [1, 2]);
        yield return new(["audit", "verify", "--log", _textFile, "--checkpoint", _dir], [1, 2]);
        yield return new(["simulate", "--rounds", "1", "--data", _dir], [1, 2]);
        yield return new(["coordinator", "--port", "0", "--rounds", "1", "--join-timeout", "5", "--out", Path.Combine(_textFile, "sub")], [1, 2]);
    }
}
