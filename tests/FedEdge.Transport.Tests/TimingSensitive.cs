namespace FedEdge.Transport.Tests;

/// <summary>
/// Tests that stop and restart a broker on the port it had, or that judge liveness on sub-second heartbeats: they run
/// alone, so no parallel test can take the freed port during an outage or starve their heartbeats of CPU.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingSensitive
{
    public const string Name = "timing-sensitive (run alone)";
}
