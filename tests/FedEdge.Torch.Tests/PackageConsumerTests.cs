using System.Diagnostics;
using System.Globalization;

namespace FedEdge.Torch.Tests;

/// <summary>
/// Packs FedEdge.Torch (and Core), references the package from a throw-away console app restored
/// from a local folder feed, and runs it: proves that consumers get the libLibTorchSharp.so fix
/// through the package's buildTransitive targets, not only this repository's projects.
/// </summary>
public sealed class PackageConsumerTests
{
    [Fact]
    public void ConsoleApp_ReferencingPackedFedEdgeTorch_LoadsLibTorchAndTrains()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        string work = Directory.CreateTempSubdirectory("fededge-consumer-").FullName;
        try
        {
            string feed = Path.Combine(work, "feed");
            string version = "0.0.0-consumer." + DateTime.UtcNow.Ticks.ToString(CultureInfo.InvariantCulture);
            foreach (string project in new[] { "src/FedEdge.Core/FedEdge.Core.csproj", "src/FedEdge.Torch/FedEdge.Torch.csproj" })
            {
                Run("dotnet", $"pack \"{Path.Combine(RepoPaths.Root, project)}\" -c Release -o \"{feed}\" -p:Version={version}", RepoPaths.Root);
            }

            string nupkg = Path.Combine(feed, $"FedEdge.Torch.{version}.nupkg");
            Assert.True(File.Exists(nupkg), "pack did not produce " + nupkg);
            using (var zip = System.IO.Compression.ZipFile.OpenRead(nupkg))
            {
                Assert.Contains(zip.Entries, entry => entry.FullName == "buildTransitive/FedEdge.Torch.targets");
                Assert.Contains(zip.Entries, entry => entry.FullName == "build/FedEdge.Torch.targets");
            }

            string app = Path.Combine(work, "app");
            Directory.CreateDirectory(app);
            File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <clear />
                    <add key="local" value="{feed}" />
                    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
                  </packageSources>
                </configuration>
                """);
            File.WriteAllText(Path.Combine(app, "app.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <Nullable>enable</Nullable>
                    <ImplicitUsings>enable</ImplicitUsings>
                    <NoWarn>NU1603</NoWarn>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="FedEdge.Torch" Version="{version}" />
                    <PackageReference Include="TorchSharp-cpu" Version="0.107.0" />
                  </ItemGroup>
                </Project>
                """);
            File.WriteAllText(Path.Combine(app, "Program.cs"), """
                using TorchSharp;
                using static TorchSharp.torch;
                random.manual_seed(3);
                var model = nn.Sequential(("fc1", nn.Linear(3, 8)), ("act", nn.Tanh()), ("fc2", nn.Linear(8, 1)));
                var x = rand(32, 3);
                var y = x.sum(1, keepdim: true);
                var optimizer = optim.SGD(model.parameters(), 0.1);
                var mse = nn.MSELoss();
                float first = 0, last = 0;
                for (int i = 0; i < 40; i++)
                {
                    optimizer.zero_grad();
                    var loss = mse.forward(model.forward(x), y);
                    loss.backward();
                    optimizer.step();
                    last = loss.item<float>();
                    if (i == 0) first = last;
                }
                Console.WriteLine($"first={first} last={last}");
                return last < first ? 0 : 3;
                """);

            string build = Run("dotnet", "build -c Release", app);
            Assert.Contains("FedEdge.Torch", build, StringComparison.Ordinal);
            string output = Run("dotnet", "run -c Release --no-build", app);
            Assert.Contains("first=", output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static string Run(string file, string arguments, string workingDirectory)
    {
        var start = new ProcessStartInfo(file, arguments)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using Process process = Process.Start(start) ?? throw new InvalidOperationException("could not start " + file);
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(10)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {arguments} did not finish in 10 minutes");
        }

        string text = stdout.Result + stderr.Result;
        Assert.True(process.ExitCode == 0, $"{file} {arguments} exited with {process.ExitCode}:\n{text}");
        return text;
    }
}
