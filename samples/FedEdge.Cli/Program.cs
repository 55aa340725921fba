using System.CommandLine;
using FedEdge.Cli;

RootCommand root = new("fededge: federated learning for IoT and edge devices, secure by design.");
foreach (Command command in CliCommands.All())
{
    root.Subcommands.Add(command);
}

ParseResult parse = root.Parse(args);
return await CliErrors.InvokeAsync(parse, Console.Error).ConfigureAwait(false);
