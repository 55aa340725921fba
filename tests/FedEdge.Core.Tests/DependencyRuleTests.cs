using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Xml.Linq;

namespace FedEdge.Core.Tests;

/// <summary>
/// The package dependency rule from DESIGN.md: adapters reference FedEdge.Core and no other FedEdge
/// package; Core references none. Read from the real project files and from the compiled assemblies.
/// </summary>
public sealed class DependencyRuleTests
{
    public static TheoryData<string> Adapters => new() { "FedEdge.Dashboard", "FedEdge.Transport", "FedEdge.Mud", "FedEdge.Privacy", "FedEdge.Hardware", "FedEdge.Torch", "FedEdge.Flower" };

    [Fact]
    public void Core_ProjectFile_ReferencesNoOtherFedEdgeProjectOrPackage()
    {
        Assert.Empty(FedEdgeReferences("FedEdge.Core"));
    }

    [Theory]
    [MemberData(nameof(Adapters))]
    public void Adapter_ProjectFile_ReferencesCoreOnly(string adapter)
    {
        Assert.Equal(new[] { "FedEdge.Core" }, FedEdgeReferences(adapter));
    }

    [Fact]
    public void SrcFolder_ContainsExactlyTheKnownPackages()
    {
        string[] projects = Directory.GetDirectories(Path.Combine(RepoPaths.Root, "src")).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;
        Assert.Equal(new[] { "FedEdge.Core", "FedEdge.Dashboard", "FedEdge.Flower", "FedEdge.Hardware", "FedEdge.Mud", "FedEdge.Privacy", "FedEdge.Torch", "FedEdge.Transport", "FedEdge.Transport.Hosting" }, projects);
    }

    [Fact]
    public void CoreAssembly_ReferencesNoFedEdgeAssembly()
    {
        string path = typeof(FedEdge.ParameterSet).Assembly.Location;
        using var stream = File.OpenRead(path);
        using var pe = new PEReader(stream);
        MetadataReader reader = pe.GetMetadataReader();
        string[] references = reader.AssemblyReferences
            .Select(handle => reader.GetString(reader.GetAssemblyReference(handle).Name))
            .Where(name => name.StartsWith("FedEdge", StringComparison.Ordinal))
            .ToArray();
        Assert.Empty(references);
    }

    private static string[] FedEdgeReferences(string project)
    {
        string file = Path.Combine(RepoPaths.Root, "src", project, project + ".csproj");
        XDocument doc = XDocument.Load(file);
        IEnumerable<string> projectRefs = doc.Descendants("ProjectReference")
            .Select(e => Path.GetFileNameWithoutExtension((string?)e.Attribute("Include") ?? string.Empty));
        IEnumerable<string> packageRefs = doc.Descendants("PackageReference")
            .Select(e => (string?)e.Attribute("Include") ?? string.Empty);
        return projectRefs.Concat(packageRefs)
            .Where(name => name.StartsWith("FedEdge", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal)
            .ToArray();
    }
}
