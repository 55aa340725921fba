using System.CommandLine;

namespace FedEdge.Cli;

/// <summary>The registry of the CLI's top-level commands. Each feature area adds its own line.</summary>
internal static class CliCommands
{
    public static IEnumerable<Command> All()
    {
        yield return InfoCommand.Create();
        yield return MudCommand.Create();
        yield return DeviceCommand.Create();
        yield return SimulateCommand.Create();
        yield return CoordinatorCommand.Create();
        yield return WorkerCommand.Create();
        yield return AuditCommand.Create();
        yield return LedgerCommand.Create();
        yield return FlowerNodeCommand.Create();
        yield return Runs.RunsCommand.Create();
        yield return PkiCommand.Create();
        yield return UpsCommand.Create();
        yield return MosquittoConfigCommand.Create();
        yield return EdgeCommand.Create();
        yield return DeployCommand.Create();
        yield return Committee.ValidatorCommand.Create();
    }
}
