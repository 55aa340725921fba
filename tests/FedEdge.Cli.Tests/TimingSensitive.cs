namespace FedEdge.Cli.Tests;

/// <summary>
/// Process tests whose rounds run on protocol deadlines (secure aggregation's phases, a committee's timeout): they run
/// alone, so parallel tests cannot starve their processes of CPU on a small machine.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingSensitive
{
    public const string Name = "timing-sensitive (run alone)";
}
