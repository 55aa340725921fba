using System.CommandLine;
using System.Reflection;

namespace FedEdge.Cli;

/// <summary><c>fededge info</c>: versions of the FedEdge packages and the runtime.</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        Command command = new("info", "Print the versions of the FedEdge packages and of the runtime.");
        command.SetAction(parse =>
        {
            foreach (string name in new[] { "FedEdge.Core", "FedEdge.Transport", "FedEdge.Mud", "FedEdge.Privacy", "FedEdge.Hardware", "FedEdge.Torch" })
            {
                Assembly assembly = Assembly.Load(name);
                string version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "?";
                parse.InvocationConfiguration.Output.WriteLine($"{name,-20} {version}");
            }

            parse.InvocationConfiguration.Output.WriteLine($"{".NET",-20} {Environment.Version}");
            return 0;
        });
        return command;
    }
}
