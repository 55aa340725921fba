using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Xml.Linq;

namespace FedEdge.Core.Tests;

/// <summary>
/// The package dependency rule from DESIGN.md: adapters reference FedEdge.Core and no other FedEdge package; Core
/// references none. Two packages extend another by design: FedEdge.Transport.Hosting (the server side) and
/// FedEdge.Testing (fault injection, conformance suites) may also reference FedEdge.Transport. FedEdge.Transport is
/// what a device deploys, so it must not reference ASP.NET Core, Grpc.AspNetCore or MQTTnet.Server. Read from the
/// real project files and from the compiled assemblies; the rule itself is checked against broken copies.
/// </summary>
public sealed class DependencyRuleTests
{
    public static TheoryData<string> SrcProjects
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (string name in KnownPackages)
            {
                data.Add(name);
            }

            return data;
        }
    }

    private static readonly string[] KnownPackages =
    [
        "FedEdge.Core", "FedEdge.Dashboard", "FedEdge.Flower", "FedEdge.Hardware", "FedEdge.Mud", "FedEdge.Privacy",
        "FedEdge.Testing", "FedEdge.Torch", "FedEdge.Transport", "FedEdge.Transport.Hosting",
    ];

    [Theory]
    [MemberData(nameof(SrcProjects))]
    public void ProjectFile_FollowsTheDependencyRule(string project)
    {
        XDocument csproj = XDocument.Load(Path.Combine(RepoPaths.Root, "src", project, project + ".csproj"));
        Assert.Empty(PackageRules.Violations(project, csproj));
    }

    [Fact]
    public void SrcFolder_ContainsExactlyTheKnownPackages()
    {
        string[] projects = Directory.GetDirectories(Path.Combine(RepoPaths.Root, "src")).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;
        Assert.Equal(KnownPackages, projects);
    }

    [Fact]
    public void CoreAssembly_ReferencesNoFedEdgeAssembly()
    {
        Assert.DoesNotContain(PackageRules.AssemblyReferences(typeof(FedEdge.ParameterSet).Assembly.Location), n => n.StartsWith("FedEdge", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("<FrameworkReference Include=\"Microsoft.AspNetCore.App\" />", "Microsoft.AspNetCore.App")]
    [InlineData("<PackageReference Include=\"Grpc.AspNetCore\" />", "Grpc.AspNetCore")]
    [InlineData("<PackageReference Include=\"Grpc.AspNetCore.Server\" />", "Grpc.AspNetCore.Server")]
    [InlineData("<PackageReference Include=\"MQTTnet.Server\" />", "MQTTnet.Server")]
    [InlineData("<PackageReference Include=\"Microsoft.AspNetCore.Server.Kestrel\" />", "Microsoft.AspNetCore.Server.Kestrel")]
    public void Violations_TransportWithAServerDependency_NamesIt(string item, string name)
    {
        XDocument real = XDocument.Load(Path.Combine(RepoPaths.Root, "src", "FedEdge.Transport", "FedEdge.Transport.csproj"));
        real.Root!.Add(XElement.Parse("<ItemGroup>" + item + "</ItemGroup>"));
        string violation = Assert.Single(PackageRules.Violations("FedEdge.Transport", real));
        Assert.Contains(name, violation, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("FedEdge.Mud", "../FedEdge.Transport/FedEdge.Transport.csproj")]
    [InlineData("FedEdge.Transport", "../FedEdge.Transport.Hosting/FedEdge.Transport.Hosting.csproj")]
    [InlineData("FedEdge.Transport.Hosting", "../FedEdge.Privacy/FedEdge.Privacy.csproj")]
    [InlineData("FedEdge.Testing", "../FedEdge.Transport.Hosting/FedEdge.Transport.Hosting.csproj")]
    [InlineData("FedEdge.Core", "../FedEdge.Transport/FedEdge.Transport.csproj")]
    public void Violations_ReferenceBeyondTheRule_NamesIt(string project, string reference)
    {
        XDocument broken = Csproj(project == "FedEdge.Core" ? string.Empty : "<ProjectReference Include=\"../FedEdge.Core/FedEdge.Core.csproj\" />", $"<ProjectReference Include=\"{reference}\" />");
        string violation = Assert.Single(PackageRules.Violations(project, broken));
        Assert.Contains(Path.GetFileNameWithoutExtension(reference), violation, StringComparison.Ordinal);
    }

    [Fact]
    public void Violations_FedEdgePackageReference_CountsLikeAProjectReference()
    {
        XDocument broken = Csproj("<ProjectReference Include=\"../FedEdge.Core/FedEdge.Core.csproj\" />", "<PackageReference Include=\"FedEdge.Privacy\" />");
        Assert.Single(PackageRules.Violations("FedEdge.Dashboard", broken));
    }

    [Fact]
    public void Violations_AdapterWithoutCore_Refused()
    {
        Assert.Single(PackageRules.Violations("FedEdge.Hardware", Csproj("<PackageReference Include=\"MQTTnet\" />")));
    }

    [Fact]
    public void Violations_HostingOnCoreAndTransport_Allowed()
    {
        XDocument ok = Csproj("<ProjectReference Include=\"../FedEdge.Core/FedEdge.Core.csproj\" />", "<ProjectReference Include=\"../FedEdge.Transport/FedEdge.Transport.csproj\" />", "<FrameworkReference Include=\"Microsoft.AspNetCore.App\" />");
        Assert.Empty(PackageRules.Violations("FedEdge.Transport.Hosting", ok));
    }

    private static XDocument Csproj(params string[] items) =>
        XDocument.Parse($"<Project Sdk=\"Microsoft.NET.Sdk\"><ItemGroup>{string.Concat(items)}</ItemGroup></Project>");
}

/// <summary>The dependency rule as a function of a project file, so a test can feed it broken copies.</summary>
internal static class PackageRules
{
    /// <summary>Packages that may reference FedEdge.Transport besides FedEdge.Core.</summary>
    private static readonly Dictionary<string, string[]> Extensions = new(StringComparer.Ordinal)
    {
        ["FedEdge.Transport.Hosting"] = ["FedEdge.Core", "FedEdge.Transport"],
        ["FedEdge.Testing"] = ["FedEdge.Core", "FedEdge.Transport"],
    };

    /// <summary>What a device must not deploy: a web server or a broker.</summary>
    private static readonly string[] ServerSide = ["Microsoft.AspNetCore", "Grpc.AspNetCore", "MQTTnet.Server"];

    /// <summary>Every breach of the rule by <paramref name="project"/>, one sentence each; empty when it follows it.</summary>
    public static IReadOnlyList<string> Violations(string project, XDocument csproj)
    {
        var found = new List<string>();
        string[] fedEdge = csproj.Descendants("ProjectReference")
            .Select(e => Path.GetFileNameWithoutExtension(((string?)e.Attribute("Include") ?? string.Empty).Replace('\\', '/')))
            .Concat(csproj.Descendants("PackageReference").Select(e => (string?)e.Attribute("Include") ?? string.Empty))
            .Where(name => name.StartsWith("FedEdge", StringComparison.OrdinalIgnoreCase))
            .Distinct(StringComparer.Ordinal)
            .ToArray();
        string[] allowed = project == "FedEdge.Core" ? [] : Extensions.GetValueOrDefault(project) ?? ["FedEdge.Core"];
        foreach (string reference in fedEdge.Where(r => !allowed.Contains(r, StringComparer.Ordinal)))
        {
            found.Add($"{project} references {reference}; it may reference only {(allowed.Length == 0 ? "no FedEdge package" : string.Join(" and ", allowed))}.");
        }

        if (project != "FedEdge.Core" && !fedEdge.Contains("FedEdge.Core", StringComparer.Ordinal))
        {
            found.Add($"{project} does not reference FedEdge.Core; every adapter builds on the Core ports.");
        }

        if (project == "FedEdge.Transport")
        {
            IEnumerable<string> external = csproj.Descendants("FrameworkReference").Concat(csproj.Descendants("PackageReference"))
                .Select(e => (string?)e.Attribute("Include") ?? string.Empty);
            foreach (string server in external.Where(n => ServerSide.Any(s => n.StartsWith(s, StringComparison.OrdinalIgnoreCase))))
            {
                found.Add($"FedEdge.Transport references {server}; the server side belongs in FedEdge.Transport.Hosting.");
            }
        }

        return found;
    }

    /// <summary>The names of the assemblies a compiled assembly references.</summary>
    public static string[] AssemblyReferences(string path)
    {
        using FileStream stream = File.OpenRead(path);
        using var pe = new PEReader(stream);
        MetadataReader reader = pe.GetMetadataReader();
        return reader.AssemblyReferences.Select(handle => reader.GetString(reader.GetAssemblyReference(handle).Name)).ToArray();
    }
}
