namespace FedEdge.Dashboard.Tests;

/// <summary>The dashboard tests run federations, web hosts and a browser: one at a time on a 2-core machine.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class DashboardCollection
{
    public const string Name = "Dashboard";
}
