using FedEdge.Hardware.Seams;

namespace FedEdge.Hardware.Tests;

public sealed class CommandRunnerTests
{
    [Fact]
    public async Task RunAsync_RealTool_ReturnsStandardOutput()
    {
        SystemCommandRunner runner = new(TimeSpan.FromSeconds(10));
        CommandOutput output = await runner.RunAsync("sh", ["-c", "echo throttled=0x50005"]);
        Assert.Equal(CommandState.Succeeded, output.State);
        Assert.Equal(0x50005u, ProbeParsers.ParseThrottled(output.StandardOutput!).Raw);
    }

    [Fact]
    public async Task RunAsync_ToolNotOnPath_NotFound()
    {
        SystemCommandRunner runner = new(TimeSpan.FromSeconds(10), name => name == "PATH" ? "/nonexistent/a:/nonexistent/b" : null);
        CommandOutput output = await runner.RunAsync("vcgencmd", ["measure_temp"]);
        Assert.Equal(CommandState.NotFound, output.State);
    }

    [Fact]
    public async Task RunAsync_NonZeroExit_FailedWithCodeAndStandardError()
    {
        SystemCommandRunner runner = new(TimeSpan.FromSeconds(10));
        CommandOutput output = await runner.RunAsync("sh", ["-c", "echo 'VCHI initialization failed' >&2; exit 255"]);
        Assert.Equal(CommandState.Failed, output.State);
        Assert.Contains("255", output.Error, StringComparison.Ordinal);
        Assert.Contains("VCHI initialization failed", output.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_HangingTool_KilledAfterTimeout()
    {
        SystemCommandRunner runner = new(TimeSpan.FromMilliseconds(200));
        CommandOutput output = await runner.RunAsync("sleep", ["30"]);
        Assert.Equal(CommandState.Failed, output.State);
        Assert.Contains("killed", output.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fallback_RealToolAbsent_UsesCannedOutput()
    {
        RootedFileSystem files = new(Canned.Root("rpi4-throttled"));
        FallbackCommandRunner runner = new(
            new SystemCommandRunner(TimeSpan.FromSeconds(10)),
            new CannedCommandRunner(files, "/vcgencmd"));

        CommandOutput temp = await runner.RunAsync("/nonexistent/vcgencmd", ["measure_temp"]);
        CommandOutput missing = await runner.RunAsync("/nonexistent/vcgencmd", ["get_mem", "arm"]);

        Assert.Equal("temp=82.7'C\n", temp.StandardOutput);
        Assert.Equal(CommandState.NotFound, missing.State);
    }

    [Fact]
    public async Task Fallback_RealToolPresent_CannedOutputNotUsed()
    {
        RootedFileSystem files = new(Canned.Root("rpi4-throttled"));
        FallbackCommandRunner runner = new(
            new SystemCommandRunner(TimeSpan.FromSeconds(10)),
            new CannedCommandRunner(files, "/vcgencmd"));

        CommandOutput output = await runner.RunAsync("echo", ["measure_temp"]);
        Assert.Equal("measure_temp\n", output.StandardOutput);
    }
}
