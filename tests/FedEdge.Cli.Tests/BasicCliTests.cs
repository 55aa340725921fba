namespace FedEdge.Cli.Tests;

public sealed class BasicCliTests
{
    [Fact]
    public async Task Version_PrintsSemanticVersion_ExitsZero()
    {
        CliResult result = await CliRunner.RunAsync(["--version"]);
        Assert.Equal(0, result.ExitCode);
        Assert.Matches(@"^\d+\.\d+\.\d+", result.Stdout.Trim());
    }

    [Fact]
    public async Task Help_ListsCommands_ExitsZero()
    {
        CliResult result = await CliRunner.RunAsync(["--help"]);
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("fededge", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("info", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownCommand_ExitsNonZeroWithMessage()
    {
        CliResult result = await CliRunner.RunAsync(["no-such-command"]);
        Assert.NotEqual(0, result.ExitCode);
        Assert.False(string.IsNullOrWhiteSpace(result.Stderr + result.Stdout));
    }

    [Fact]
    public async Task Info_ListsAllSixPackages()
    {
        CliResult result = await CliRunner.RunAsync(["info"]);
        Assert.Equal(0, result.ExitCode);
        foreach (string package in new[] { "FedEdge.Core", "FedEdge.Transport", "FedEdge.Mud", "FedEdge.Privacy", "FedEdge.Hardware", "FedEdge.Torch" })
        {
            Assert.Contains(package, result.Stdout, StringComparison.Ordinal);
        }
    }
}
